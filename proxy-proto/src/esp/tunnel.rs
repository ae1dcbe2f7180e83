//! Tunnel mode (RFC 4303 §3.1.2): ESP carries the whole inner IP packet,
//! next header 4 (IPv4) or 41 (IPv6). The mobile VPN's node and gateway use
//! it: inner addresses are anything the node routes into the tunnel, outer
//! addresses the care-of address and the gateway.
//!
//! Both directions work in place like [`super::beet`]: the caller leaves
//! [`OutboundSa::payload_offset`] bytes of headroom in front of the inner
//! packet and room for padding and ICV behind it.

use core::ops::Range;

use super::beet::BeetError;
use super::sa::{InboundSa, OutboundSa};

/// IP-in-IP next headers (IANA protocol numbers).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// IPv6 encapsulated (RFC 2473).
pub const NEXT_HEADER_IPV6: u8 = 41;

/// Next header values a tunnel-mode SA carries.
pub fn is_tunnel_next_header(next_header: u8) -> bool {
    matches!(next_header, NEXT_HEADER_IPV4 | NEXT_HEADER_IPV6)
}

/// The next header for an inner packet, from its version nibble, checking
/// the packet holds at least a fixed header of that version.
pub fn inner_next_header(pkt: &[u8]) -> Option<u8> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(NEXT_HEADER_IPV4),
        6 if pkt.len() >= 40 => Some(NEXT_HEADER_IPV6),
        _ => None,
    }
}

/// Seal the inner packet at `buf[inner]` whole. The ESP header goes into
/// the headroom in front of it; `buf` must extend past `inner.end` by the
/// padding and ICV. Returns where the ESP packet is in `buf`.
pub fn seal_tunnel_packet(
    sa: &mut OutboundSa,
    buf: &mut [u8],
    inner: Range<usize>,
    rng: &mut impl FnMut(&mut [u8]),
) -> Result<Range<usize>, BeetError> {
    let pkt = buf.get(inner.clone()).ok_or(BeetError::InnerMalformed)?;
    let next_header = inner_next_header(pkt).ok_or(BeetError::InnerMalformed)?;
    let esp_start = inner.start.checked_sub(sa.payload_offset()).ok_or(BeetError::NoHeadroom)?;
    let len = sa.seal(&mut buf[esp_start..], inner.len(), next_header, rng)?;
    Ok(esp_start..esp_start + len)
}

/// Open the ESP packet at `buf[esp]` on a tunnel-mode SA; returns where
/// the inner packet is in `buf`. The inner packet's version must agree
/// with the next header, or it is refused (a forged-but-authentic packet
/// from a broken peer must not reach the stack half parsed).
pub fn open_tunnel_packet(sa: &mut InboundSa, buf: &mut [u8], esp: Range<usize>) -> Result<Range<usize>, BeetError> {
    let esp_pkt = buf.get_mut(esp.clone()).ok_or(BeetError::Drop(super::DropReason::Truncated))?;
    let opened = sa.open(esp_pkt)?;
    let inner = esp.start + opened.payload.start..esp.start + opened.payload.end;
    if inner_next_header(&buf[inner.clone()]) != Some(opened.next_header) {
        return Err(BeetError::InnerMalformed);
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{EspCipher, Mode, Transform};

    fn pair(t: Transform) -> (OutboundSa, InboundSa) {
        let key: Vec<u8> = (0..t.key_len() as u8).collect();
        (
            OutboundSa::new(0x1234, EspCipher::new(t, &key).unwrap()),
            InboundSa::new(0x1234, EspCipher::new(t, &key).unwrap()).with_mode(Mode::Tunnel),
        )
    }

    fn inner_v4(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[9] = 17;
        for (i, b) in p[20..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    #[test]
    fn round_trip_every_transform_both_families() {
        for t in Transform::ALL {
            for inner in [inner_v4(100), {
                let mut v6 = vec![0u8; 77];
                v6[0] = 0x60;
                v6
            }] {
                let (mut out, mut inb) = pair(t);
                let head = 64;
                let mut buf = vec![0u8; head + inner.len() + 64];
                buf[head..head + inner.len()].copy_from_slice(&inner);
                let esp =
                    seal_tunnel_packet(&mut out, &mut buf, head..head + inner.len(), &mut |iv| iv.fill(7)).unwrap();
                let got = open_tunnel_packet(&mut inb, &mut buf, esp).unwrap();
                assert_eq!(&buf[got], &inner[..], "{t:?}");
            }
        }
    }

    #[test]
    fn beet_sa_refuses_tunnel_payload_and_vice_versa() {
        let (mut out, _) = pair(Transform::Aes128Gcm16);
        let key: Vec<u8> = (0..Transform::Aes128Gcm16.key_len() as u8).collect();
        let mut beet_in = InboundSa::new(0x1234, EspCipher::new(Transform::Aes128Gcm16, &key).unwrap());
        let inner = inner_v4(60);
        let mut buf = vec![0u8; 64 + 60 + 64];
        buf[64..124].copy_from_slice(&inner);
        let esp = seal_tunnel_packet(&mut out, &mut buf, 64..124, &mut |_| {}).unwrap();
        let e = open_tunnel_packet(&mut beet_in, &mut buf, esp).unwrap_err();
        assert_eq!(e, BeetError::Drop(crate::esp::DropReason::UnknownNextHeader(NEXT_HEADER_IPV4)));
        assert_eq!(beet_in.counters().drops.unknown_next_header, 1);
    }

    #[test]
    fn refuses_garbage_inner_and_missing_headroom() {
        let (mut out, _) = pair(Transform::Aes128Gcm16);
        let mut buf = vec![0u8; 200];
        buf[64] = 0x99;
        assert_eq!(seal_tunnel_packet(&mut out, &mut buf, 64..100, &mut |_| {}), Err(BeetError::InnerMalformed));
        let inner = inner_v4(40);
        buf[..40].copy_from_slice(&inner);
        assert_eq!(seal_tunnel_packet(&mut out, &mut buf, 0..40, &mut |_| {}), Err(BeetError::NoHeadroom));
    }
}
