//! Arbitrary bytes never panic the ESP opener, for any transform, nor the
//! BEET decapsulation that follows it.
#![no_main]

use core::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use proxy_proto::esp::beet::{InnerAddrs, open_to_inner_packet};
use proxy_proto::esp::{EspCipher, InboundSa, Packet, Trailer, Transform};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let t = Transform::ALL[usize::from(selector) % Transform::ALL.len()];
    let keymat = vec![0x11u8; t.key_len()];
    let spi = rest
        .get(..4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
    let mut sa = InboundSa::new(spi, EspCipher::new(t, &keymat).unwrap());

    let _ = Packet::new_checked(rest).map(|p| (p.spi(), p.sequence_number(), p.payload().len()));
    let _ = Trailer::parse(rest);

    let mut buf = rest.to_vec();
    let _ = sa.open(&mut buf);

    // Same bytes behind 34 bytes of outer headers, through BEET.
    let mut frame = vec![0u8; 34];
    frame.extend_from_slice(rest);
    let len = frame.len();
    let addrs = InnerAddrs::V6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
    };
    let start = usize::from(selector >> 4).min(len);
    let _ = open_to_inner_packet(&mut sa, &mut frame, start..len, &addrs, 64);
});
