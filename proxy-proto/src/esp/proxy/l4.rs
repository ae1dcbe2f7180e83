//! The transport layer of the translation: the port (or ICMP echo
//! identifier) rewrite of the NAT, and the checksum fix for the new
//! pseudo-header when the IP header changes family or addresses.
//!
//! TCP and UDP checksums are rebased incrementally (RFC 1624): the
//! pseudo-header's length and protocol are the same number in IPv4
//! (RFC 793/768) and IPv6 (RFC 8200 §8.1), so only the address and port
//! words change, and a 64 KiB super-packet costs what a small one does. A
//! corrupt segment stays corrupt, as RFC 7915 §4.5 wants. ICMP echo
//! (RFC 792) and ICMPv6 echo (RFC 4443 §4.1/4.2) differ in type numbers
//! and in the pseudo-header only ICMPv6 covers, so their checksum is
//! verified and recomputed (RFC 7915 §4.2/§5.2).

use core::net::IpAddr;

use super::drop::Drop;
use super::ip::be16;
use crate::checksum;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

mod tcp {
    pub use crate::ip_fields::tcp::*;
    /// RFC 9293 §3.2: the Maximum Segment Size option.
    pub const OPT_END: u8 = 0;
    pub const OPT_NOP: u8 = 1;
    pub const OPT_MSS: u8 = 2;
}

use crate::ip_fields::udp;

mod echo {
    pub type Field = core::ops::Range<usize>;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const LEN: usize = 8;
    pub const V4_REQUEST: u8 = 8;
    pub const V4_REPLY: u8 = 0;
    pub const V6_REQUEST: u8 = 128;
    pub const V6_REPLY: u8 = 129;
}

/// TCP flag bits (RFC 9293 §3.1).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

/// What the NAT keys a flow on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Tcp,
    Udp,
    /// ICMP / ICMPv6 echo: the identifier plays the port (RFC 5508 REQ-1).
    Echo,
}

impl Kind {
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Echo => "icmp",
        }
    }

    /// The protocol number of this kind in `family`'s IP header.
    pub fn proto(self, v6: bool) -> u8 {
        match (self, v6) {
            (Kind::Tcp, _) => PROTO_TCP,
            (Kind::Udp, _) => PROTO_UDP,
            (Kind::Echo, false) => PROTO_ICMP,
            (Kind::Echo, true) => PROTO_ICMPV6,
        }
    }
}

/// The transport fields the NAT reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub kind: Kind,
    /// Source/destination port; for echo, the identifier and 0.
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP flags (0 for others).
    pub tcp_flags: u8,
}

/// Read the transport header. `request`: an echo must be a request
/// (outbound) or a reply (inbound); other ICMP is not translated.
pub fn parse(proto: u8, l4: &[u8], request: bool) -> Result<Segment, Drop> {
    match proto {
        PROTO_TCP => {
            if l4.len() < tcp::HEADER_END {
                return Err(Drop::Malformed);
            }
            let off = usize::from(l4[tcp::DATA_OFF] >> 4) * 4;
            if off < tcp::HEADER_END || off > l4.len() {
                return Err(Drop::Malformed);
            }
            Ok(Segment {
                kind: Kind::Tcp,
                src_port: be16(l4, tcp::SRC_PORT),
                dst_port: be16(l4, tcp::DST_PORT),
                tcp_flags: l4[tcp::FLAGS],
            })
        }
        PROTO_UDP => {
            if l4.len() < udp::HEADER_END || usize::from(be16(l4, udp::LENGTH)) != l4.len() {
                return Err(Drop::Malformed);
            }
            Ok(Segment { kind: Kind::Udp, src_port: be16(l4, 0..2), dst_port: be16(l4, 2..4), tcp_flags: 0 })
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            if l4.len() < echo::LEN {
                return Err(Drop::Malformed);
            }
            let want = match (proto, request) {
                (PROTO_ICMP, true) => echo::V4_REQUEST,
                (PROTO_ICMP, false) => echo::V4_REPLY,
                (_, true) => echo::V6_REQUEST,
                (_, false) => echo::V6_REPLY,
            };
            if l4[echo::TYPE] != want || l4[echo::CODE] != 0 {
                return Err(Drop::NotTranslatable);
            }
            Ok(Segment { kind: Kind::Echo, src_port: be16(l4, echo::IDENT), dst_port: 0, tcp_flags: 0 })
        }
        _ => Err(Drop::NotTranslatable),
    }
}

/// Addresses and ports of one side of the translation.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Copy the segment `l4` into `out` (of the same length) rewritten from
/// `old` to `new` endpoints, with its checksum fixed. `mss_clamp`: lower a
/// SYN's MSS option to this. Returns whether the MSS was lowered.
pub fn rewrite(
    seg: &Segment,
    l4: &[u8],
    out: &mut [u8],
    old: &Endpoints,
    new: &Endpoints,
    mss_clamp: Option<u16>,
) -> Result<bool, Drop> {
    out.copy_from_slice(l4);
    match seg.kind {
        Kind::Tcp => {
            out[tcp::SRC_PORT].copy_from_slice(&new.src_port.to_be_bytes());
            out[tcp::DST_PORT].copy_from_slice(&new.dst_port.to_be_bytes());
            let c = rebase(be16(out, tcp::CHECKSUM), endpoint_sum(old), endpoint_sum(new));
            out[tcp::CHECKSUM].copy_from_slice(&c.to_be_bytes());
            match mss_clamp {
                Some(mss) if seg.tcp_flags & flags::SYN != 0 => Ok(clamp_mss(out, mss)),
                _ => Ok(false),
            }
        }
        Kind::Udp => {
            out[0..2].copy_from_slice(&new.src_port.to_be_bytes());
            out[2..4].copy_from_slice(&new.dst_port.to_be_bytes());
            let old_c = be16(out, udp::CHECKSUM);
            let mut c = if old_c == 0 {
                // IPv4 without a checksum; IPv6 requires one (RFC 8200 §8.1,
                // RFC 7915 §4.5): compute it.
                out[udp::CHECKSUM].copy_from_slice(&[0, 0]);
                full_l4_checksum(new, PROTO_UDP, out)
            } else {
                rebase(old_c, endpoint_sum(old), endpoint_sum(new))
            };
            if c == 0 {
                c = 0xffff;
            }
            out[udp::CHECKSUM].copy_from_slice(&c.to_be_bytes());
            Ok(false)
        }
        Kind::Echo => {
            let in_v6 = old.dst.is_ipv6();
            let in_ok = if in_v6 { full_l4_checksum(old, PROTO_ICMPV6, l4) == 0 } else { checksum::checksum(l4) == 0 };
            if !in_ok {
                return Err(Drop::Malformed);
            }
            let ty = out[echo::TYPE];
            let request = ty == echo::V4_REQUEST || ty == echo::V6_REQUEST;
            out[echo::TYPE] = match (new.dst.is_ipv6(), request) {
                (true, true) => echo::V6_REQUEST,
                (true, false) => echo::V6_REPLY,
                (false, true) => echo::V4_REQUEST,
                (false, false) => echo::V4_REPLY,
            };
            // The identifier travels as the source "port" outbound and the
            // destination "port" inbound.
            let id = if request { new.src_port } else { new.dst_port };
            out[echo::IDENT].copy_from_slice(&id.to_be_bytes());
            out[echo::CHECKSUM].copy_from_slice(&[0, 0]);
            let c = if new.dst.is_ipv6() { full_l4_checksum(new, PROTO_ICMPV6, out) } else { checksum::checksum(out) };
            out[echo::CHECKSUM].copy_from_slice(&c.to_be_bytes());
            Ok(false)
        }
    }
}

/// The start of a segment quoted in an ICMP error: ports rewritten from
/// `old` to `new`, the checksum (when quoted) rebased to match, so it is
/// right for the whole original segment.
pub fn rewrite_truncated(proto: u8, seg: &mut [u8], old: &Endpoints, new: &Endpoints) {
    if seg.len() < 4 {
        return;
    }
    seg[0..2].copy_from_slice(&new.src_port.to_be_bytes());
    seg[2..4].copy_from_slice(&new.dst_port.to_be_bytes());
    let field = match proto {
        PROTO_TCP => tcp::CHECKSUM,
        PROTO_UDP => udp::CHECKSUM,
        _ => return,
    };
    if seg.len() < field.end {
        return;
    }
    let c = be16(seg, field.clone());
    if proto == PROTO_UDP && c == 0 {
        return;
    }
    let mut n = rebase(c, endpoint_sum(old), endpoint_sum(new));
    if proto == PROTO_UDP && n == 0 {
        n = 0xffff;
    }
    seg[field].copy_from_slice(&n.to_be_bytes());
}

/// The checksum of `seg` under `ep`'s pseudo-header.
fn full_l4_checksum(ep: &Endpoints, proto: u8, seg: &[u8]) -> u16 {
    let acc = checksum::pseudo_header_sum(ep.src, ep.dst, proto, seg.len() as u32).unwrap_or(0);
    checksum::finish(crate::esp::gso::fast_sum(seg, acc))
}

/// One's-complement sum of the words a NAT rewrite touches: both
/// addresses of the pseudo-header and both ports.
fn endpoint_sum(ep: &Endpoints) -> u32 {
    let mut acc = addr_sum(ep.src, 0);
    acc = addr_sum(ep.dst, acc);
    acc + u32::from(ep.src_port) + u32::from(ep.dst_port)
}

fn addr_sum(a: IpAddr, acc: u32) -> u32 {
    match a {
        IpAddr::V4(a) => checksum::sum(&a.octets(), acc),
        IpAddr::V6(a) => checksum::sum(&a.octets(), acc),
    }
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// RFC 1624 eqn. 3 for a whole set of words: HC' = ~(~HC + ~m + m').
fn rebase(check: u16, old_sum: u32, new_sum: u32) -> u16 {
    checksum::finish(u32::from(!check) + u32::from(!fold(old_sum)) + u32::from(fold(new_sum)))
}

/// Lower the MSS option of a SYN in `seg` to `mss` (RFC 9293 §3.7.1: the
/// path MTU the legacy host cannot see shrinks by the IPv6 header and
/// ESP overhead). Returns whether it changed.
fn clamp_mss(seg: &mut [u8], mss: u16) -> bool {
    let end = usize::from(seg[tcp::DATA_OFF] >> 4) * 4;
    let mut o = tcp::HEADER_END;
    while o < end {
        match seg[o] {
            tcp::OPT_END => return false,
            tcp::OPT_NOP => o += 1,
            kind => {
                let Some(&len) = seg.get(o + 1) else { return false };
                let len = usize::from(len);
                if len < 2 || o + len > end {
                    return false;
                }
                if kind == tcp::OPT_MSS && len == 4 {
                    let old = be16(seg, o + 2..o + 4);
                    if old <= mss {
                        return false;
                    }
                    // Update the checksum over the aligned words that hold
                    // the value (the option may sit at an odd offset).
                    let w = (o + 2) & !1;
                    let hi = (o + 4).next_multiple_of(2);
                    let mut before = [0u8; 4];
                    before[..hi - w].copy_from_slice(&seg[w..hi]);
                    seg[o + 2..o + 4].copy_from_slice(&mss.to_be_bytes());
                    let mut after = [0u8; 4];
                    after[..hi - w].copy_from_slice(&seg[w..hi]);
                    let c = checksum::update(be16(seg, tcp::CHECKSUM), &before[..hi - w], &after[..hi - w]);
                    seg[tcp::CHECKSUM].copy_from_slice(&c.to_be_bytes());
                    return true;
                }
                o += len;
            }
        }
    }
    false
}
