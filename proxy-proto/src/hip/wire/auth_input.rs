//! The byte strings HIP MACs and signatures are computed over (RFC 7401
//! §5.2.12 - §5.2.15, §6.4.1; RFC 8004 §4.2.1 for RVS_HMAC).
//!
//! Each is the packet up to, not including, the parameter in question
//! (so every parameter after it is left out too), with the Header Length
//! rewritten to describe just those octets and the Checksum zeroed.
//! HIP_MAC_2 adds the sender's HOST_ID in its type-order place;
//! HIP_SIGNATURE_2 in an R1 zeroes the Receiver's HIT and the PUZZLE's
//! Opaque and Random #I so a Responder can sign R1s before it knows the
//! Initiator.
//!
//! Checked against the third-party capture: with these inputs the
//! RSA (PSS, SHA-256) and ECDSA P-384 signatures of every I2, R1, R2,
//! UPDATE, CLOSE and CLOSE_ACK in it verify (see `tests/hip_capture.rs`).

use super::Error;
use super::header::{HEADER_LEN, MAX_PACKET_LEN, Packet, PacketType};
use super::param::ParamRepr;
use super::param::auth::{HipMac, HipMac2, HipSignature, HipSignature2};
use super::param::host_id::HostId;
use super::param::puzzle::Puzzle;
use super::param::rvs::RvsHmac;
use super::param::tlv::{ParamIter, ParamTlv, TLV_HEADER_LEN};

/// Which authentication parameter the input is for.
#[derive(Debug, Clone, Copy)]
pub enum AuthParam<'a> {
    /// HIP_MAC (§5.2.12).
    HipMac,
    /// HIP_MAC_2 (§5.2.13): needs the sender's HOST_ID, which the packet
    /// (an R2) does not carry; the Initiator has it from the R1.
    HipMac2 {
        /// The HOST_ID of the packet's sender.
        sender_host_id: &'a HostId,
    },
    /// HIP_SIGNATURE (§5.2.14).
    HipSignature,
    /// HIP_SIGNATURE_2 (§5.2.15).
    HipSignature2,
    /// RVS_HMAC (RFC 8004 §4.2.1).
    RvsHmac,
}

impl AuthParam<'_> {
    /// The parameter type the input ends before.
    pub fn param_type(&self) -> u16 {
        match self {
            AuthParam::HipMac => HipMac::TYPE,
            AuthParam::HipMac2 { .. } => HipMac2::TYPE,
            AuthParam::HipSignature => HipSignature::TYPE,
            AuthParam::HipSignature2 => HipSignature2::TYPE,
            AuthParam::RvsHmac => RvsHmac::TYPE,
        }
    }
}

/// The exact octets the MAC or signature in `which` covers, for the HIP
/// packet `packet` (the IP payload). Fails if the packet is malformed up
/// to that parameter or does not contain it.
pub fn auth_input(packet: &[u8], which: AuthParam<'_>) -> Result<Vec<u8>, Error> {
    let view = Packet::new_checked(packet)?;
    let target = which.param_type();
    // Offsets below are from the start of the packet.
    let mut cut = None;
    let mut host_id_at = None;
    let mut puzzles = Vec::new();
    for raw in ParamIter::new(view.parameters()) {
        let raw = raw?;
        let ty = raw.tlv.param_type();
        let at = HEADER_LEN + raw.offset;
        if ty == target {
            cut = Some(at);
            break;
        }
        if host_id_at.is_none() && ty > HostId::TYPE {
            host_id_at = Some(at);
        }
        if ty == Puzzle::TYPE {
            puzzles.push((at, raw.tlv.contents().len()));
        }
    }
    let cut = cut.ok_or(Error::ParamNotFound { ty: target })?;
    let bytes = view.as_bytes();

    let mut out = match which {
        AuthParam::HipMac2 { sender_host_id } => {
            // §6.4.1: the HOST_ID goes where ascending type order puts it.
            let at = host_id_at.unwrap_or(cut);
            let mut tlv = vec![0u8; sender_host_id.buffer_len()];
            sender_host_id.emit(&mut ParamTlv::new_unchecked(&mut tlv[..]));
            let mut out = Vec::with_capacity(cut + tlv.len());
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(&tlv);
            out.extend_from_slice(&bytes[at..cut]);
            out
        }
        _ => bytes[..cut].to_vec(),
    };
    if out.len() > MAX_PACKET_LEN {
        return Err(Error::PacketTooLong { len: out.len() });
    }

    // out.len() is a multiple of 8 in 40..=2048, so this fits.
    let hdr_len = u8::try_from(out.len() / 8 - 1).map_err(|_| Error::PacketTooLong { len: out.len() })?;
    let mut p = Packet::new_unchecked(&mut out[..]);
    p.set_header_length(hdr_len);
    p.set_checksum(0);
    if matches!(which, AuthParam::HipSignature2) && p.packet_type() == PacketType::R1 {
        // §5.2.15. Only in R1: HIP_SIGNATURE_2 belongs to R1, and the
        // capture's R2 (which misuses HIP_SIGNATURE_2) verifies unzeroed.
        p.set_receiver_hit(core::net::Ipv6Addr::UNSPECIFIED);
        for (at, len) in puzzles {
            let start = at + TLV_HEADER_LEN + Puzzle::OPAQUE_OFFSET;
            let end = at + TLV_HEADER_LEN + len;
            if let Some(z) = out.get_mut(start..end) {
                z.fill(0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hip::wire::HipPacket;
    use crate::hip::wire::param::Param;
    use crate::hip::wire::param::esp::EspInfo;
    use crate::hip::wire::param::host_id::DiType;
    use crate::hip::wire::param::puzzle::R1Counter;
    use crate::hip::wire::param::rvs::RvsFrom;

    fn packet(ty: PacketType, params: Vec<Param>) -> Vec<u8> {
        let p = HipPacket {
            next_header: 59,
            packet_type: ty,
            controls: 0,
            sender_hit: "2001:21::1".parse().unwrap(),
            receiver_hit: "2001:21::2".parse().unwrap(),
            params,
        };
        let mut b = p.to_bytes().unwrap();
        b[4..6].copy_from_slice(&[0xab, 0xcd]);
        b
    }

    fn mac(n: u8) -> Param {
        Param::HipMac(HipMac { hmac: vec![n; 32] })
    }

    fn sig(ty: u16) -> Param {
        let s = HipSignature { algorithm: 7, signature: vec![0x5a; 96] };
        if ty == HipSignature::TYPE {
            Param::HipSignature(s)
        } else {
            Param::HipSignature2(HipSignature2 { algorithm: 7, signature: s.signature })
        }
    }

    fn esp_info() -> Param {
        Param::EspInfo(EspInfo { keymat_index: 0x80, old_spi: 0, new_spi: 0x1234 })
    }

    /// HIP_MAC and HIP_SIGNATURE: everything before the parameter, with
    /// Header Length shrunk and the checksum zeroed.
    #[test]
    fn mac_and_signature_cut() {
        let b = packet(PacketType::Update, vec![esp_info(), mac(1), sig(HipSignature::TYPE)]);
        let m = auth_input(&b, AuthParam::HipMac).unwrap();
        assert_eq!(m.len(), 56);
        assert_eq!(m[1], 6);
        assert_eq!(&m[4..6], &[0, 0]);
        assert_eq!(&m[6..], &b[6..56]);
        assert_eq!(m[0], b[0]);
        // The signature covers the HIP_MAC as well.
        let s = auth_input(&b, AuthParam::HipSignature).unwrap();
        assert_eq!(s.len(), 56 + 40);
        assert_eq!(s[1], 11);
        assert_eq!(&s[6..], &b[6..96]);
    }

    /// HIP_MAC_2: the sender's HOST_ID goes after ESP_INFO and R1_COUNTER
    /// (types 65, 129 < 705) and before HIP_MAC_2 (61569).
    #[test]
    fn mac2_inserts_host_id_in_order() {
        let host_id =
            HostId { algorithm: 7, host_identity: vec![0x11; 10], di_type: DiType::None, domain_identifier: vec![] };
        let b = packet(
            PacketType::R2,
            vec![
                esp_info(),
                Param::R1Counter(R1Counter { counter: 3 }),
                Param::HipMac2(HipMac2 { hmac: vec![2; 32] }),
                sig(HipSignature::TYPE),
            ],
        );
        let m = auth_input(&b, AuthParam::HipMac2 { sender_host_id: &host_id }).unwrap();
        let mut tlv = vec![0u8; host_id.buffer_len()];
        host_id.emit(&mut ParamTlv::new_unchecked(&mut tlv[..]));
        assert_eq!(tlv.len(), 24);
        let mut want = b[..72].to_vec();
        want.extend_from_slice(&tlv);
        want[1] = (96 / 8 - 1) as u8;
        want[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(m, want);
        // Without a parameter above 705 before HIP_MAC_2, it goes last.
        let b = packet(PacketType::R2, vec![Param::HipMac2(HipMac2 { hmac: vec![2; 32] })]);
        let m = auth_input(&b, AuthParam::HipMac2 { sender_host_id: &host_id }).unwrap();
        assert_eq!(&m[40..], &tlv[..]);
    }

    /// HIP_SIGNATURE_2 in R1 zeroes the Receiver's HIT and the PUZZLE's
    /// Opaque and Random #I, not #K or Lifetime.
    #[test]
    fn signature2_zeroing_in_r1_only() {
        let puzzle = Param::Puzzle(Puzzle { k: 16, lifetime: 37, opaque: [0x85, 0xd3], random_i: vec![0xee; 8] });
        let b = packet(PacketType::R1, vec![puzzle.clone(), sig(HipSignature2::TYPE)]);
        let s = auth_input(&b, AuthParam::HipSignature2).unwrap();
        let mut want = b[..56].to_vec();
        want[1] = 6;
        want[4..6].fill(0);
        want[24..40].fill(0);
        // PUZZLE at 40: type, length, K, lifetime, then zeros.
        want[46..56].fill(0);
        assert_eq!(&want[40..46], &[0x01, 0x01, 0, 12, 16, 37]);
        assert_eq!(s, want);
        // Any other packet type: no zeroing beyond the checksum.
        let b = packet(PacketType::R2, vec![puzzle, sig(HipSignature2::TYPE)]);
        let s = auth_input(&b, AuthParam::HipSignature2).unwrap();
        assert_eq!(&s[6..], &b[6..56]);
    }

    #[test]
    fn rvs_hmac_covers_from() {
        let from = Param::RvsFrom(RvsFrom { address: "::ffff:10.0.0.1".parse().unwrap() });
        let b =
            packet(PacketType::I1, vec![sig(HipSignature::TYPE), from, Param::RvsHmac(RvsHmac { hmac: vec![3; 32] })]);
        let m = auth_input(&b, AuthParam::RvsHmac).unwrap();
        assert_eq!(m.len(), 40 + 104 + 24);
        assert_eq!(&m[6..], &b[6..168]);
    }

    #[test]
    fn errors() {
        let b = packet(PacketType::Update, vec![esp_info()]);
        assert_eq!(auth_input(&b, AuthParam::HipMac), Err(Error::ParamNotFound { ty: 61505 }));
        assert_eq!(auth_input(&b[..30], AuthParam::HipMac), Err(Error::Truncated { len: 30 }));
        let mut bad = packet(PacketType::Update, vec![esp_info(), mac(1)]);
        bad[43] = 0xff;
        assert_eq!(auth_input(&bad, AuthParam::HipMac), Err(Error::ParamTruncated { ty: 65 }));
    }
}
