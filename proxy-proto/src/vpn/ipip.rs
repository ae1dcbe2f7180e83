//! IP in IP encapsulation (RFC 2003) of an IPv4 datagram: the reference
//! and slow-path version of what the eBPF datapath does per packet.
//!
//! RFC 2003 §3.1 outer header: Version 4, IHL 5 (options of the inner
//! header are not copied), TOS copied from the inner header, a fresh
//! Identification, DF copied from the inner header, TTL chosen for delivery
//! to the tunnel exit point, Protocol 4, header checksum, tunnel entry and
//! exit as source and destination.

use core::net::Ipv4Addr;

use super::ipv4::{self, HEADER_LEN, Ipv4Error, Ipv4Repr, Packet};
use crate::checksum;

/// Errors of IP-in-IP encapsulation and decapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IpipError {
    #[error("outer header: {0}")]
    Outer(Ipv4Error),
    #[error("inner datagram: {0}")]
    Inner(Ipv4Error),
    #[error("outer protocol {0} is not IP-in-IP (4)")]
    NotIpip(u8),
    #[error("output buffer too small")]
    BufferTooSmall,
    #[error("encapsulated datagram longer than 65535 bytes")]
    TooLong,
    /// RFC 2003 §3.1: the inner TTL reached zero when decremented for
    /// forwarding; the caller sends ICMP Time Exceeded (RFC 792).
    #[error("inner TTL expired")]
    TtlExpired,
}

/// The outer header parameters of one encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapParams {
    /// Tunnel entry point.
    pub src: Ipv4Addr,
    /// Tunnel exit point.
    pub dst: Ipv4Addr,
    /// TTL "appropriate for delivery to the tunnel exit point" (§3.1).
    pub ttl: u8,
    /// Identification of the outer header.
    pub ident: u16,
    /// §3.1: the inner TTL is decremented by one when the encapsulation
    /// is part of forwarding the datagram, and left alone otherwise.
    pub forwarding: bool,
}

/// Length of the encapsulation of an `inner_len`-byte datagram.
pub const fn encapsulated_len(inner_len: usize) -> usize {
    HEADER_LEN + inner_len
}

/// Encapsulates the IPv4 datagram `inner` into `out`; returns the number of
/// bytes written.
pub fn encapsulate(inner: &[u8], params: &EncapParams, out: &mut [u8]) -> Result<usize, IpipError> {
    let inner_pkt = Packet::new_checked(inner).map_err(IpipError::Inner)?;
    let inner_len = usize::from(inner_pkt.total_len());
    let total = encapsulated_len(inner_len);
    if total > usize::from(u16::MAX) {
        return Err(IpipError::TooLong);
    }
    let out = out.get_mut(..total).ok_or(IpipError::BufferTooSmall)?;
    let repr = Ipv4Repr {
        src_addr: params.src,
        dst_addr: params.dst,
        protocol: ipv4::PROTOCOL_IPIP,
        tos: inner_pkt.tos(),
        ident: params.ident,
        dont_fragment: inner_pkt.dont_fragment(),
        ttl: params.ttl,
        payload_len: inner_len,
    };
    out[HEADER_LEN..].copy_from_slice(&inner[..inner_len]);
    if params.forwarding {
        decrement_ttl(&mut out[HEADER_LEN..])?;
    }
    repr.emit(&mut Packet::new_unchecked(&mut out[..])).map_err(IpipError::Outer)?;
    Ok(total)
}

/// TTL decrement with the RFC 1624 incremental checksum update (the TTL
/// shares a 16-bit word with the protocol).
fn decrement_ttl(inner: &mut [u8]) -> Result<(), IpipError> {
    const TTL: usize = 8;
    const CHECK: core::ops::Range<usize> = 10..12;
    let ttl = inner[TTL];
    if ttl <= 1 {
        return Err(IpipError::TtlExpired);
    }
    let old = u16::from_be_bytes([ttl, inner[TTL + 1]]);
    let new = u16::from_be_bytes([ttl - 1, inner[TTL + 1]]);
    let check = u16::from_be_bytes([inner[CHECK.start], inner[CHECK.start + 1]]);
    inner[TTL] = ttl - 1;
    inner[CHECK].copy_from_slice(&checksum::update16(check, old, new).to_be_bytes());
    Ok(())
}

/// The result of decapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    /// The inner datagram, bounded by its own total length.
    pub inner: &'a [u8],
}

/// Decapsulates an IP-in-IP datagram: the outer header must be a valid,
/// unfragmented IPv4 header with protocol 4, and the payload a valid IPv4
/// datagram (checksum verified) that fits in it.
pub fn decapsulate(outer: &[u8]) -> Result<Decapsulated<'_>, IpipError> {
    let p = Packet::new_checked(outer).map_err(IpipError::Outer)?;
    let repr = Ipv4Repr::parse(&p).map_err(IpipError::Outer)?;
    if repr.protocol != ipv4::PROTOCOL_IPIP {
        return Err(IpipError::NotIpip(repr.protocol));
    }
    let payload = &outer[p.header_len()..usize::from(p.total_len())];
    let inner = Packet::new_checked(payload).map_err(IpipError::Inner)?;
    if !inner.verify_checksum() {
        return Err(IpipError::Inner(Ipv4Error::Checksum));
    }
    Ok(Decapsulated {
        outer_src: repr.src_addr,
        outer_dst: repr.dst_addr,
        inner: &payload[..usize::from(inner.total_len())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::udp;
    use core::net::SocketAddrV4;

    fn inner(df: bool) -> Vec<u8> {
        let mut d = udp::build(
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 434),
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 5), 434),
            64,
            b"hello",
        )
        .unwrap();
        d[1] = 0xb8; // DSCP EF, to see TOS copied
        if df {
            d[6] |= 0x40;
        }
        let mut p = Packet::new_unchecked(&mut d[..]);
        p.fill_checksum();
        d
    }

    fn params(forwarding: bool) -> EncapParams {
        EncapParams {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 9),
            ttl: 255,
            ident: 0x4242,
            forwarding,
        }
    }

    #[test]
    fn outer_header_fields_per_rfc2003() {
        let i = inner(true);
        let mut out = vec![0u8; encapsulated_len(i.len()) + 7];
        let n = encapsulate(&i, &params(false), &mut out).unwrap();
        assert_eq!(n, 20 + i.len());
        let o = &out[..n];
        assert_eq!(o[0], 0x45);
        assert_eq!(o[1], 0xb8, "TOS copied");
        assert_eq!(u16::from_be_bytes([o[2], o[3]]) as usize, n);
        assert_eq!(&o[4..6], &[0x42, 0x42]);
        assert_eq!(o[6] & 0x40, 0x40, "DF copied");
        assert_eq!(o[8], 255);
        assert_eq!(o[9], 4);
        assert_eq!(checksum::checksum(&o[..20]), 0);
        assert_eq!(&o[12..20], &[192, 0, 2, 1, 198, 51, 100, 9]);
        assert_eq!(&o[20..], &i[..], "inner untouched when not forwarding");
        let d = decapsulate(o).unwrap();
        assert_eq!((d.outer_src, d.outer_dst, d.inner), (params(false).src, params(false).dst, &i[..]));
        // DF clear inner gives DF clear outer.
        let i2 = inner(false);
        let n2 = encapsulate(&i2, &params(false), &mut out).unwrap();
        assert_eq!(out[6] & 0x40, 0);
        assert_eq!(decapsulate(&out[..n2]).unwrap().inner, &i2[..]);
    }

    #[test]
    fn forwarding_decrements_inner_ttl_with_valid_checksum() {
        let i = inner(false);
        let mut out = vec![0u8; encapsulated_len(i.len())];
        encapsulate(&i, &params(true), &mut out).unwrap();
        assert_eq!(out[20 + 8], 63);
        assert_eq!(checksum::checksum(&out[20..40]), 0);
        let mut low = i.clone();
        low[8] = 1;
        Packet::new_unchecked(&mut low[..]).fill_checksum();
        assert_eq!(encapsulate(&low, &params(true), &mut out).unwrap_err(), IpipError::TtlExpired);
    }

    #[test]
    fn malformed_rejected() {
        let i = inner(false);
        let mut small = [0u8; 30];
        assert_eq!(encapsulate(&i, &params(false), &mut small).unwrap_err(), IpipError::BufferTooSmall);
        assert!(matches!(encapsulate(&i[..10], &params(false), &mut small), Err(IpipError::Inner(_))));
        let mut out = vec![0u8; encapsulated_len(i.len())];
        let n = encapsulate(&i, &params(false), &mut out).unwrap();
        // Not protocol 4: the UDP datagram itself.
        assert_eq!(decapsulate(&i).unwrap_err(), IpipError::NotIpip(17));
        let mut bad = out[..n].to_vec();
        bad[25] ^= 0xff; // inner header corrupted
        assert_eq!(decapsulate(&bad).unwrap_err(), IpipError::Inner(Ipv4Error::Checksum));
        let mut bad = out[..n].to_vec();
        bad[8] ^= 1; // outer checksum broken
        assert_eq!(decapsulate(&bad).unwrap_err(), IpipError::Outer(Ipv4Error::Checksum));
        assert_eq!(decapsulate(&out[..n - 1]).unwrap_err(), IpipError::Outer(Ipv4Error::BadLength));
    }
}
