//! The Mobile IPv4 Registration Request/Reply, SIU, return-routability,
//! IPv4/UDP and IP-in-IP parsers never panic; whatever parses re-emits to
//! bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::vpn::{auth, ipip, reply, request, rr, siu, udp};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = request::Packet::new_checked(data) {
        let _ = p.extensions().count();
        if let Ok(r) = request::RegistrationRequestRepr::parse(&p) {
            let mut buf = vec![0u8; r.buffer_len()];
            if r.emit(&mut request::Packet::new_unchecked(&mut buf[..]))
                .is_ok()
            {
                let again = request::RegistrationRequestRepr::parse(
                    &request::Packet::new_checked(&buf[..]).unwrap(),
                )
                .unwrap();
                assert_eq!(again, r);
            }
        }
        let _ = auth::mn_ha_spi(data, request::FIXED_LEN);
    }
    if let Ok(p) = reply::Packet::new_checked(data) {
        if let Ok(r) = reply::RegistrationReplyRepr::parse(&p) {
            let mut buf = vec![0u8; r.buffer_len()];
            if r.emit(&mut reply::Packet::new_unchecked(&mut buf[..]))
                .is_ok()
            {
                let again = reply::RegistrationReplyRepr::parse(
                    &reply::Packet::new_checked(&buf[..]).unwrap(),
                )
                .unwrap();
                assert_eq!(again, r);
            }
        }
    }
    let key = auth::MnHaKey::new(0x1001, auth::AuthAlgorithm::HmacMd5, b"k").unwrap();
    let _ = auth::verify(data, request::FIXED_LEN, &key);
    let _ = auth::verify(data, reply::FIXED_LEN, &key);
    if let Ok(p) = siu::Packet::new_checked(data) {
        let _ = (
            p.flags(),
            p.sequence(),
            p.home_address(),
            p.old_care_of_address(),
            p.new_care_of_address(),
        );
        let _ = (p.lifetime(), p.reply_datagram().len(), p.icv().len());
        let _ = siu::SiuRepr::parse(&p, |id| Some(siu::SiuKey::new(id, b"k")));
    }
    if let Ok(r) = rr::RrRepr::parse(data) {
        assert_eq!(rr::RrRepr::parse(&r.to_bytes()).unwrap(), r);
    }
    let _ = udp::parse(data);
    let _ = ipip::decapsulate(data);
    let mut out = vec![0u8; data.len() + 20];
    let params = ipip::EncapParams {
        src: [192, 0, 2, 1].into(),
        dst: [192, 0, 2, 2].into(),
        ttl: 64,
        ident: 0,
        forwarding: true,
    };
    let _ = ipip::encapsulate(data, &params, &mut out);
});
