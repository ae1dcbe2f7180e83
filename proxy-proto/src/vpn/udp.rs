//! Whole IPv4/UDP datagrams (RFC 768) for the messages the gateway sends
//! or forwards inside the ESP tunnel: the Registration Reply the home agent
//! hands over in an SIU, and the return-routability challenge.

use core::net::{IpAddr, SocketAddrV4};

use super::ipv4::{self, Ipv4Error, Ipv4Repr, Packet as Ipv4Packet};
use crate::checksum;

/// Errors of the UDP datagram layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    #[error("IPv4: {0}")]
    Ipv4(#[from] Ipv4Error),
    #[error("not UDP (protocol {0})")]
    NotUdp(u8),
    #[error("UDP header truncated or length inconsistent")]
    BadLength,
    #[error("bad UDP checksum")]
    Checksum,
}

use crate::ip_fields::udp as field;

/// UDP header length.
pub const HEADER_LEN: usize = field::HEADER_END;

/// A parsed IPv4/UDP datagram borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ttl: u8,
    pub payload: &'a [u8],
}

/// Parses an IPv4/UDP datagram, verifying both checksums (a zero UDP
/// checksum means "not computed" per RFC 768 and is accepted).
pub fn parse(buf: &[u8]) -> Result<Datagram<'_>, UdpError> {
    let ip = Ipv4Packet::new_checked(buf)?;
    let repr = Ipv4Repr::parse(&ip)?;
    if repr.protocol != ipv4::PROTOCOL_UDP {
        return Err(UdpError::NotUdp(repr.protocol));
    }
    // Re-slice the caller's buffer so the payload outlives the view.
    let seg = &buf[ip.header_len()..usize::from(ip.total_len())];
    let udp_len = seg.get(field::LENGTH).map(ipv4::be16).ok_or(UdpError::BadLength)?;
    let udp_len = usize::from(udp_len);
    if udp_len < HEADER_LEN || udp_len > seg.len() {
        return Err(UdpError::BadLength);
    }
    let seg = &seg[..udp_len];
    if ipv4::be16(&seg[field::CHECKSUM]) != 0 {
        let acc = pseudo(repr.src_addr, repr.dst_addr, udp_len);
        if checksum::finish(checksum::sum(seg, acc)) != 0 {
            return Err(UdpError::Checksum);
        }
    }
    Ok(Datagram {
        src: SocketAddrV4::new(repr.src_addr, ipv4::be16(&seg[field::SRC_PORT])),
        dst: SocketAddrV4::new(repr.dst_addr, ipv4::be16(&seg[field::DST_PORT])),
        ttl: repr.ttl,
        payload: &seg[field::HEADER_END..],
    })
}

/// Builds an IPv4/UDP datagram (DF clear, TOS 0, IP ident 0: the datagrams
/// here are small and never fragmented) with both checksums filled.
pub fn build(src: SocketAddrV4, dst: SocketAddrV4, ttl: u8, payload: &[u8]) -> Result<Vec<u8>, UdpError> {
    let udp_len = HEADER_LEN + payload.len();
    let udp_len16 = u16::try_from(udp_len).map_err(|_| UdpError::BadLength)?;
    let repr = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        protocol: ipv4::PROTOCOL_UDP,
        tos: 0,
        ident: 0,
        dont_fragment: false,
        ttl,
        payload_len: udp_len,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut ip)?;
    let seg = ip.payload_mut();
    seg[field::SRC_PORT].copy_from_slice(&src.port().to_be_bytes());
    seg[field::DST_PORT].copy_from_slice(&dst.port().to_be_bytes());
    seg[field::LENGTH].copy_from_slice(&udp_len16.to_be_bytes());
    seg[field::HEADER_END..].copy_from_slice(payload);
    let mut c = checksum::finish(checksum::sum(seg, pseudo(*src.ip(), *dst.ip(), udp_len)));
    // RFC 768: a computed zero is sent as all ones.
    if c == 0 {
        c = 0xffff;
    }
    seg[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    Ok(buf)
}

fn pseudo(src: core::net::Ipv4Addr, dst: core::net::Ipv4Addr, len: usize) -> u32 {
    // Lengths here come from 16-bit fields, so the pseudo-header always exists.
    checksum::pseudo_header_sum(IpAddr::V4(src), IpAddr::V4(dst), ipv4::PROTOCOL_UDP, len as u32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn build_parse_round_trip_and_checksum() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 434);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5000);
        let d = build(src, dst, 64, b"abc").unwrap();
        assert_eq!(d.len(), 20 + 8 + 3);
        let p = parse(&d).unwrap();
        assert_eq!((p.src, p.dst, p.ttl, p.payload), (src, dst, 64, &b"abc"[..]));
        let mut bad = d.clone();
        bad[30] ^= 1;
        assert_eq!(parse(&bad).unwrap_err(), UdpError::Checksum);
        let mut short = d.clone();
        short[25] = 200; // UDP length beyond the IP payload
        assert_eq!(parse(&short).unwrap_err(), UdpError::BadLength);
    }
}
