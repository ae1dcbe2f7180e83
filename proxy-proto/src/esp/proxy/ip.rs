//! The IP layer of the translation: parse the IPv4 (RFC 791) or IPv6
//! (RFC 8200) header a packet starts with, and emit a fresh header of
//! either family in front of a transport segment (RFC 7915 §4.1/§5.1 say
//! which fields carry over between families).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::Range;

use super::drop::Drop;
use crate::checksum;

/// IPv4 header fields (RFC 791 §3.1), plus the flag bits the translator tests.
mod v4 {
    pub use crate::ip_fields::ipv4::*;
    /// Don't Fragment, in the flags/fragment-offset word.
    pub const DF: u16 = 0x4000;
    /// More Fragments and the fragment offset.
    pub const MF_OFFSET: u16 = 0x3fff;
}

/// IPv6 fixed header fields (RFC 8200 §3).
mod v6 {
    pub use crate::ip_fields::ipv6::*;
}

pub const IPV4_HEADER_LEN: usize = v4::HEADER_END;
pub const IPV6_HEADER_LEN: usize = v6::HEADER_END;

/// The header fields the translation keeps, and where the transport
/// segment lies in the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Protocol (IPv4) / next header (IPv6).
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Type of service / traffic class (DSCP + ECN, RFC 7915 §4.1).
    pub tos: u8,
    pub l4: Range<usize>,
}

/// Parse the IP header at the start of `pkt`. Fragments and IPv6 extension
/// headers are [`Drop::NotTranslatable`]: the port NAT needs the transport
/// header, and BEET carries no fragments of ours.
pub fn parse(pkt: &[u8]) -> Result<Header, Drop> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => parse_v4(pkt),
        Some(6) => parse_v6(pkt),
        _ => Err(Drop::Malformed),
    }
}

fn parse_v4(pkt: &[u8]) -> Result<Header, Drop> {
    let ihl = usize::from(pkt[v4::VER_IHL] & 0x0f) * 4;
    if ihl < v4::HEADER_END || pkt.len() < ihl {
        return Err(Drop::Malformed);
    }
    let total = usize::from(be16(pkt, v4::TOTAL_LEN));
    if total < ihl || total > pkt.len() {
        return Err(Drop::Malformed);
    }
    if checksum::checksum(&pkt[..ihl]) != 0 {
        return Err(Drop::Malformed);
    }
    if be16(pkt, v4::FLAGS_FRAG) & v4::MF_OFFSET != 0 {
        return Err(Drop::NotTranslatable);
    }
    Ok(Header {
        src: IpAddr::V4(Ipv4Addr::from(arr::<4>(&pkt[v4::SRC]))),
        dst: IpAddr::V4(Ipv4Addr::from(arr::<4>(&pkt[v4::DST]))),
        proto: pkt[v4::PROTOCOL],
        ttl: pkt[v4::TTL],
        tos: pkt[v4::TOS],
        l4: ihl..total,
    })
}

fn parse_v6(pkt: &[u8]) -> Result<Header, Drop> {
    if pkt.len() < v6::HEADER_END {
        return Err(Drop::Malformed);
    }
    let payload = usize::from(be16(pkt, v6::PAYLOAD_LEN));
    // A zero payload length means a jumbogram (RFC 2675) or nothing at all.
    if payload == 0 || v6::HEADER_END + payload > pkt.len() {
        return Err(Drop::Malformed);
    }
    let word = u32::from_be_bytes(arr::<4>(&pkt[v6::VER_TC_FLOW]));
    Ok(Header {
        src: IpAddr::V6(Ipv6Addr::from(arr::<16>(&pkt[v6::SRC]))),
        dst: IpAddr::V6(Ipv6Addr::from(arr::<16>(&pkt[v6::DST]))),
        proto: pkt[v6::NEXT_HEADER],
        ttl: pkt[v6::HOP_LIMIT],
        tos: (word >> 20) as u8,
        l4: v6::HEADER_END..v6::HEADER_END + payload,
    })
}

/// The header length of `dst`'s family.
pub fn header_len(dst: IpAddr) -> usize {
    if dst.is_ipv4() { v4::HEADER_END } else { v6::HEADER_END }
}

/// Write the IP header `h` (for a transport segment of `h.l4.len()`
/// bytes) at the start of `out`, which holds at least [`header_len`]
/// bytes; `src` and `dst` must be of one family. IPv4 gets `ident` and, as
/// RFC 7915 §5.1 says for packets from IPv6, DF set above 1260 bytes.
pub fn emit(out: &mut [u8], h: &Header, ident: u16) {
    let Header { src, dst, proto, ttl, tos, .. } = *h;
    let l4_len = h.l4.len();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = v4::HEADER_END + l4_len;
            let h = &mut out[..v4::HEADER_END];
            h[v4::VER_IHL] = 0x45;
            h[v4::TOS] = tos;
            h[v4::TOTAL_LEN].copy_from_slice(&(total as u16).to_be_bytes());
            h[v4::IDENT].copy_from_slice(&ident.to_be_bytes());
            let flags = if total > 1260 { v4::DF } else { 0 };
            h[v4::FLAGS_FRAG].copy_from_slice(&flags.to_be_bytes());
            h[v4::TTL] = ttl;
            h[v4::PROTOCOL] = proto;
            h[v4::CHECKSUM].copy_from_slice(&[0, 0]);
            h[v4::SRC].copy_from_slice(&s.octets());
            h[v4::DST].copy_from_slice(&d.octets());
            let c = checksum::checksum(h);
            h[v4::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        }
        (s, d) => {
            let h = &mut out[..v6::HEADER_END];
            let word = (6u32 << 28) | (u32::from(tos) << 20);
            h[v6::VER_TC_FLOW].copy_from_slice(&word.to_be_bytes());
            h[v6::PAYLOAD_LEN].copy_from_slice(&(l4_len as u16).to_be_bytes());
            h[v6::NEXT_HEADER] = proto;
            h[v6::HOP_LIMIT] = ttl;
            h[v6::SRC].copy_from_slice(&v6_octets(s));
            h[v6::DST].copy_from_slice(&v6_octets(d));
        }
    }
}

/// Largest transport segment an IP packet of `dst`'s family can hold.
pub fn max_l4_len(dst: IpAddr) -> usize {
    match dst {
        IpAddr::V4(_) => usize::from(u16::MAX) - v4::HEADER_END,
        IpAddr::V6(_) => usize::from(u16::MAX),
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

pub fn be16(b: &[u8], r: Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}
