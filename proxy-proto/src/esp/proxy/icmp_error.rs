//! ICMPv6 errors the HIP side sends about a translated flow (port
//! unreachable, packet too big, time exceeded, ...) go back to the legacy
//! host as ICMP errors about the packet it sent (RFC 7915 §5.2 for the
//! type and code mapping, §5.3 for the packet inside): the inner packet's
//! HITs and NAT port become the legacy host, the substitute and their
//! ports, so the legacy host's stack finds its socket (a UDP send to a
//! closed port fails with "connection refused" at once, as it would
//! without the proxy).
//!
//! Inner TCP and UDP only (an error about an echo request carries no
//! socket to tell); the inner transport checksum is rebased like the
//! outer one, so it is right for the original segment even though the
//! error carries only its start.

use core::net::{IpAddr, Ipv6Addr};

use super::drop::Drop;
use super::flows::{HipKey, LegacyKey};
use super::ip::{self, IPV6_HEADER_LEN, be16};
use super::l4::{self, Kind};
use crate::checksum;

/// ICMPv6 error types (RFC 4443 §3).
const V6_DEST_UNREACHABLE: u8 = 1;
const V6_PACKET_TOO_BIG: u8 = 2;
const V6_TIME_EXCEEDED: u8 = 3;
const V6_PARAMETER_PROBLEM: u8 = 4;
/// ICMPv4 (RFC 792).
const V4_DEST_UNREACHABLE: u8 = 3;
const V4_TIME_EXCEEDED: u8 = 11;
/// Type, code, checksum, then 4 octets (unused, MTU or pointer).
const ICMP_HEADER_LEN: usize = 8;
/// Transport bytes an error must carry: the ports.
const INNER_L4_MIN: usize = 8;

/// Whether an ICMPv6 type is an error message (RFC 4443 §2.1).
pub fn is_error(icmp_type: u8) -> bool {
    icmp_type < 128
}

/// (type, code) of the ICMPv4 error RFC 7915 §5.2 translates an ICMPv6
/// error to; `None`: not translated (dropped).
fn v4_type_code(ty: u8, code: u8) -> Option<(u8, u8)> {
    match (ty, code) {
        // No route, beyond scope, address unreachable -> host unreachable.
        (V6_DEST_UNREACHABLE, 0 | 2 | 3) => Some((V4_DEST_UNREACHABLE, 1)),
        // Administratively prohibited.
        (V6_DEST_UNREACHABLE, 1) => Some((V4_DEST_UNREACHABLE, 10)),
        (V6_DEST_UNREACHABLE, 4) => Some((V4_DEST_UNREACHABLE, 3)),
        // Fragmentation needed and DF set.
        (V6_PACKET_TOO_BIG, 0) => Some((V4_DEST_UNREACHABLE, 4)),
        (V6_TIME_EXCEEDED, c @ (0 | 1)) => Some((V4_TIME_EXCEEDED, c)),
        // Unrecognized next header -> protocol unreachable.
        (V6_PARAMETER_PROBLEM, 1) => Some((V4_DEST_UNREACHABLE, 2)),
        _ => None,
    }
}

/// The flow key of the error `l4` (an ICMPv6 error message from
/// `peer_hit` to `local_hit`, checksum not yet checked) names.
pub fn inner_key(h: &ip::Header, l4: &[u8]) -> Result<HipKey, Drop> {
    let (IpAddr::V6(peer_hit), IpAddr::V6(local_hit)) = (h.src, h.dst) else {
        return Err(Drop::NotTranslatable);
    };
    if l4.len() < ICMP_HEADER_LEN + IPV6_HEADER_LEN + INNER_L4_MIN {
        return Err(Drop::Malformed);
    }
    let acc = checksum::pseudo_header_sum(h.src, h.dst, l4::PROTO_ICMPV6, l4.len() as u32).unwrap_or(0);
    if checksum::finish(crate::esp::gso::fast_sum(l4, acc)) != 0 {
        return Err(Drop::Malformed);
    }
    let inner = &l4[ICMP_HEADER_LEN..];
    if inner[0] >> 4 != 6 {
        return Err(Drop::Malformed);
    }
    // The inner packet is one we sent: our HIT to the peer's.
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&inner[8..24]).map_err(|_| Drop::Malformed)?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&inner[24..40]).map_err(|_| Drop::Malformed)?);
    if src != local_hit || dst != peer_hit {
        return Err(Drop::NoFlow);
    }
    let kind = match inner[6] {
        l4::PROTO_TCP => Kind::Tcp,
        l4::PROTO_UDP => Kind::Udp,
        _ => return Err(Drop::NotTranslatable),
    };
    let t = &inner[IPV6_HEADER_LEN..];
    Ok(HipKey { kind, peer_hit, remote_port: be16(t, 2..4), nat_port: be16(t, 0..2) })
}

/// Write the legacy host's ICMP error for the ICMPv6 error `l4` (checked
/// by [`inner_key`]) about the flow `k` into `out`; returns its length.
pub fn translate(h: &ip::Header, l4: &[u8], k: &LegacyKey, ident: u16, out: &mut [u8]) -> Result<usize, Drop> {
    let v4 = k.legacy.is_ipv4();
    let (ty, code) = if v4 { v4_type_code(l4[0], l4[1]).ok_or(Drop::NotTranslatable)? } else { (l4[0], l4[1]) };
    let inner = &l4[ICMP_HEADER_LEN..];
    let inner_l4 = &inner[IPV6_HEADER_LEN..];
    // The original segment's length, of which `inner_l4` is the start.
    let orig_l4_len = usize::from(be16(inner, 4..6));
    let inner_hdr = ip::header_len(k.legacy);
    let icmp_len = ICMP_HEADER_LEN + inner_hdr + inner_l4.len();
    let outer_hdr = ip::header_len(k.legacy);
    let len = outer_hdr + icmp_len;
    if out.len() < len || icmp_len > ip::max_l4_len(k.legacy) {
        return Err(Drop::NoRoom);
    }
    let proto = if v4 { l4::PROTO_ICMP } else { l4::PROTO_ICMPV6 };
    let outer = ip::Header { src: k.substitute, dst: k.legacy, proto, ttl: h.ttl, tos: h.tos, l4: outer_hdr..len };
    ip::emit(out, &outer, ident);
    let icmp = &mut out[outer_hdr..len];
    icmp[0] = ty;
    icmp[1] = code;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&l4[4..8]);
    if v4 && l4[0] == V6_PACKET_TOO_BIG {
        // RFC 7915 §5.2: the IPv4 MTU is 20 octets less, in the low half.
        let mtu = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]).saturating_sub(20).min(0xffff) as u16;
        icmp[4..8].copy_from_slice(&[0, 0, (mtu >> 8) as u8, mtu as u8]);
    } else if v4 {
        icmp[4..8].copy_from_slice(&[0; 4]);
    }
    // The inner packet as the legacy host sent it.
    let inner_proto = inner[6];
    let inner_out = ip::Header {
        src: k.legacy,
        dst: k.substitute,
        proto: inner_proto,
        ttl: inner[7],
        tos: 0,
        l4: inner_hdr..inner_hdr + orig_l4_len,
    };
    ip::emit(&mut icmp[ICMP_HEADER_LEN..], &inner_out, 0);
    let seg = &mut icmp[ICMP_HEADER_LEN + inner_hdr..];
    seg.copy_from_slice(inner_l4);
    let old = l4::Endpoints { src: h.dst, dst: h.src, src_port: be16(inner_l4, 0..2), dst_port: be16(inner_l4, 2..4) };
    let new = l4::Endpoints { src: k.legacy, dst: k.substitute, src_port: k.legacy_port, dst_port: k.remote_port };
    l4::rewrite_truncated(inner_proto, seg, &old, &new);
    let c = if v4 {
        checksum::checksum(icmp)
    } else {
        let acc = checksum::pseudo_header_sum(k.substitute, k.legacy, l4::PROTO_ICMPV6, icmp.len() as u32).unwrap_or(0);
        checksum::finish(checksum::sum(icmp, acc))
    };
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(len)
}
