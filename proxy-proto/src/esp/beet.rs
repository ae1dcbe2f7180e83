//! BEET mode (RFC 7402 §3, draft-nikander-esp-beet-mode-09): ESP carries
//! the transport segment only; the inner IP header, whose addresses are the
//! HITs (or LSIs) fixed by the SA, is dropped on output and rebuilt on
//! input.
//!
//! Both directions work in place: on output the ESP header and IV are
//! written over the tail of the inner header being dropped; on input the
//! rebuilt inner header is written over the outer header, ESP header and
//! IV just before the payload, so the caller must leave that much headroom
//! (it does: the outer IP header is always there).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::Range;

use super::error::{DropReason, SealError};
use super::sa::{InboundSa, OutboundSa};
use crate::checksum;

use crate::ip_fields::{ipv4 as ipv4_field, ipv6 as ipv6_field};

/// Next header values a BEET SA carries: transport protocols, and the IPv6
/// extension headers that may follow the (dropped) fixed header. IP-in-IP
/// (4, 41) would be tunnel mode, 94 (BEETPH, IPv4 options) is not
/// implemented.
pub fn is_beet_next_header(next_header: u8) -> bool {
    matches!(
        next_header,
        1 // ICMP
        | 6 // TCP
        | 17 // UDP
        | 33 // DCCP
        | 44 // IPv6 Fragment
        | 58 // ICMPv6
        | 60 // IPv6 Destination Options
        | 132 // SCTP
        | 136 // UDP-Lite
    )
}

/// The inner addresses an SA binds (RFC 7402 §3.1: the HITs; LSIs for
/// IPv4 applications), as seen from this host for the given direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerAddrs {
    /// HITs.
    V6 {
        /// Source HIT.
        src: Ipv6Addr,
        /// Destination HIT.
        dst: Ipv6Addr,
    },
    /// LSIs.
    V4 {
        /// Source LSI.
        src: Ipv4Addr,
        /// Destination LSI.
        dst: Ipv4Addr,
    },
}

impl InnerAddrs {
    /// Length of the inner header BEET drops and rebuilds.
    pub const fn header_len(&self) -> usize {
        match self {
            InnerAddrs::V6 { .. } => ipv6_field::HEADER_END,
            InnerAddrs::V4 { .. } => ipv4_field::HEADER_END,
        }
    }
}

/// Why a BEET encapsulation or decapsulation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BeetError {
    /// The ESP packet was dropped.
    #[error(transparent)]
    Drop(#[from] DropReason),
    /// The SA could not seal.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The inner packet is not a whole IP header of the SA's family.
    #[error("inner packet malformed")]
    InnerMalformed,
    /// The inner packet's addresses are not the SA's: BEET would rebuild it
    /// with other addresses, so it must not be sent on this SA.
    #[error("inner addresses do not match the SA")]
    AddressMismatch,
    /// The inner packet's next header is one the peer's BEET SA would drop
    /// (hop-by-hop options, tunnelled IP, ...): refuse it here rather than
    /// send it.
    #[error("inner next header {0} not carried in BEET mode")]
    UnsupportedNextHeader(u8),
    /// IPv4 options need the BEET pseudo header (draft §5.1): unsupported.
    #[error("inner IPv4 header has options")]
    Ipv4Options,
    /// Inner IPv4 fragments are not carried.
    #[error("inner IPv4 packet is a fragment")]
    Ipv4Fragment,
    /// The caller left too little room in front of the payload for the
    /// rebuilt inner header (or for the ESP header on output).
    #[error("no headroom for the header")]
    NoHeadroom,
    /// The payload does not fit the inner header's length field.
    #[error("payload too long for the inner header")]
    TooLong,
}

/// Encapsulate the inner packet at `buf[inner]` (RFC 7402 §3.1): check its
/// header carries the SA's inner addresses, drop the header, seal the
/// transport segment with the header's next header. `buf` must extend past
/// `inner.end` by the padding and ICV ([`OutboundSa::sealed_len`]).
/// Returns where the ESP packet now is in `buf`.
pub fn seal_inner_packet(
    sa: &mut OutboundSa,
    buf: &mut [u8],
    inner: Range<usize>,
    addrs: &InnerAddrs,
    rng: &mut impl FnMut(&mut [u8]),
) -> Result<Range<usize>, BeetError> {
    let pkt = buf.get(inner.clone()).ok_or(BeetError::InnerMalformed)?;
    let (next_header, header_len) = check_inner_header(pkt, addrs)?;
    if !is_beet_next_header(next_header) {
        return Err(BeetError::UnsupportedNextHeader(next_header));
    }
    let segment_start = inner.start + header_len;
    let esp_start = segment_start.checked_sub(sa.payload_offset()).ok_or(BeetError::NoHeadroom)?;
    let len = sa.seal(&mut buf[esp_start..], inner.end - segment_start, next_header, rng)?;
    Ok(esp_start..esp_start + len)
}

/// Validate an inner header against the SA; returns (next header, header
/// length).
fn check_inner_header(pkt: &[u8], addrs: &InnerAddrs) -> Result<(u8, usize), BeetError> {
    let header_len = addrs.header_len();
    if pkt.len() < header_len {
        return Err(BeetError::InnerMalformed);
    }
    match addrs {
        InnerAddrs::V6 { src, dst } => {
            use ipv6_field as f;
            let payload_len =
                usize::from(u16::from_be_bytes([pkt[f::PAYLOAD_LEN.start], pkt[f::PAYLOAD_LEN.start + 1]]));
            if pkt[f::VER_TC_FLOW.start] >> 4 != 6 || payload_len != pkt.len() - header_len {
                return Err(BeetError::InnerMalformed);
            }
            if pkt[f::SRC] != src.octets() || pkt[f::DST] != dst.octets() {
                return Err(BeetError::AddressMismatch);
            }
            Ok((pkt[f::NEXT_HEADER], header_len))
        }
        InnerAddrs::V4 { src, dst } => {
            use ipv4_field as f;
            let ver_ihl = pkt[f::VER_IHL];
            if ver_ihl >> 4 != 4 {
                return Err(BeetError::InnerMalformed);
            }
            if ver_ihl & 0x0f != 5 {
                return Err(BeetError::Ipv4Options);
            }
            let total = usize::from(u16::from_be_bytes([pkt[f::TOTAL_LEN.start], pkt[f::TOTAL_LEN.start + 1]]));
            if total != pkt.len() {
                return Err(BeetError::InnerMalformed);
            }
            // More-fragments flag or a fragment offset.
            if u16::from_be_bytes([pkt[f::FLAGS_FRAG.start], pkt[f::FLAGS_FRAG.start + 1]]) & 0x3fff != 0 {
                return Err(BeetError::Ipv4Fragment);
            }
            if pkt[f::SRC] != src.octets() || pkt[f::DST] != dst.octets() {
                return Err(BeetError::AddressMismatch);
            }
            Ok((pkt[f::PROTOCOL], header_len))
        }
    }
}

/// Decapsulate the ESP packet at `buf[esp]` (RFC 7402 §3.2): open it on the
/// SA, then rebuild the inner IP header from the SA's inner addresses
/// right in front of the payload. `hop_limit` is the value for the rebuilt
/// header (the caller copies the outer TTL/hop limit, decremented as a
/// router would). Returns where the inner packet is in `buf`.
pub fn open_to_inner_packet(
    sa: &mut InboundSa,
    buf: &mut [u8],
    esp: Range<usize>,
    addrs: &InnerAddrs,
    hop_limit: u8,
) -> Result<Range<usize>, BeetError> {
    // Check the headroom before opening: a packet opened and then not
    // delivered would still have moved the replay window.
    let header_len = addrs.header_len();
    if esp.start + sa.transform().payload_offset() < header_len {
        return Err(BeetError::NoHeadroom);
    }
    let esp_pkt = buf.get_mut(esp.clone()).ok_or(BeetError::Drop(DropReason::Truncated))?;
    let opened = sa.open(esp_pkt)?;
    let payload_start = esp.start + opened.payload.start;
    let payload_len = opened.payload.len();
    let start = payload_start.checked_sub(header_len).ok_or(BeetError::NoHeadroom)?;
    let header = &mut buf[start..payload_start];
    match addrs {
        InnerAddrs::V6 { src, dst } => {
            use ipv6_field as f;
            let len = u16::try_from(payload_len).map_err(|_| BeetError::TooLong)?;
            header[f::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
            header[f::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
            header[f::NEXT_HEADER] = opened.next_header;
            header[f::HOP_LIMIT] = hop_limit;
            header[f::SRC].copy_from_slice(&src.octets());
            header[f::DST].copy_from_slice(&dst.octets());
        }
        InnerAddrs::V4 { src, dst } => {
            use ipv4_field as f;
            let len = u16::try_from(payload_len + header_len).map_err(|_| BeetError::TooLong)?;
            header[f::VER_IHL] = 0x45;
            header[f::TOS] = 0;
            header[f::TOTAL_LEN].copy_from_slice(&len.to_be_bytes());
            header[f::IDENT].copy_from_slice(&[0, 0]);
            // DF: the packet was whole inside ESP (fragments are refused).
            header[f::FLAGS_FRAG].copy_from_slice(&[0x40, 0]);
            header[f::TTL] = hop_limit;
            header[f::PROTOCOL] = opened.next_header;
            header[f::CHECKSUM].copy_from_slice(&[0, 0]);
            header[f::SRC].copy_from_slice(&src.octets());
            header[f::DST].copy_from_slice(&dst.octets());
            let c = checksum::checksum(header);
            header[f::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        }
    }
    Ok(start..payload_start + payload_len)
}

/// Why a transport checksum could not be rebased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// Only TCP and UDP carry a pseudo-header checksum we rebase.
    #[error("protocol {0} has no pseudo-header checksum to rebase")]
    UnsupportedProtocol(u8),
    /// Shorter than the transport header.
    #[error("transport segment truncated")]
    Truncated,
    /// The two addresses of a pair differ in family, or the segment is too
    /// long for an IPv4 pseudo-header.
    #[error("invalid pseudo-header")]
    BadPseudoHeader,
}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_CHECKSUM: Range<usize> = 16..18;
const TCP_HEADER_MIN: usize = 20;
const UDP_CHECKSUM: Range<usize> = 6..8;
const UDP_HEADER_LEN: usize = 8;

/// Re-base the TCP or UDP checksum of `segment` from the pseudo-header of
/// `from` (source, destination) to that of `to`, e.g. from legacy IPv4
/// addresses to HITs when the proxy moves a flow into HIP. Incremental
/// (RFC 1624): only the pseudo-header changes, the segment is not summed.
///
/// A UDP/IPv4 segment without checksum (zero, RFC 768) gets a full one when
/// moving to IPv6, where UDP checksums are mandatory (RFC 8200 §8.1).
pub fn rebase_transport_checksum(
    segment: &mut [u8],
    protocol: u8,
    from: (IpAddr, IpAddr),
    to: (IpAddr, IpAddr),
) -> Result<(), ChecksumError> {
    let (field, min_len) = match protocol {
        PROTO_TCP => (TCP_CHECKSUM, TCP_HEADER_MIN),
        PROTO_UDP => (UDP_CHECKSUM, UDP_HEADER_LEN),
        p => return Err(ChecksumError::UnsupportedProtocol(p)),
    };
    if segment.len() < min_len {
        return Err(ChecksumError::Truncated);
    }
    let len = u32::try_from(segment.len()).map_err(|_| ChecksumError::BadPseudoHeader)?;
    let old_ph = checksum::pseudo_header_sum(from.0, from.1, protocol, len).ok_or(ChecksumError::BadPseudoHeader)?;
    let new_ph = checksum::pseudo_header_sum(to.0, to.1, protocol, len).ok_or(ChecksumError::BadPseudoHeader)?;
    let old = u16::from_be_bytes([segment[field.start], segment[field.start + 1]]);
    let new = if protocol == PROTO_UDP && old == 0 {
        if to.0.is_ipv4() {
            return Ok(());
        }
        // The field is zero already, so the sum covers the segment as is.
        checksum::finish(checksum::sum(segment, new_ph))
    } else {
        // ~C' = ~C - old + new (RFC 1624 eqn. 3 over the pseudo-header):
        // finish(old) is ~old folded, !finish(new) is new folded.
        let acc = u32::from(!old) + u32::from(checksum::finish(old_ph)) + u32::from(!checksum::finish(new_ph));
        checksum::finish(acc)
    };
    // UDP sends a computed zero as all ones (RFC 768).
    let new = if protocol == PROTO_UDP && new == 0 { 0xffff } else { new };
    segment[field].copy_from_slice(&new.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests;
