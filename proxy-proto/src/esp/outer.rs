//! The link and outer network headers the proxy's AF_XDP workers write
//! and read around ESP and the legacy hosts' packets: Ethernet II (no
//! VLAN), the outer IPv4 (RFC 791) / IPv6 (RFC 8200) header of an ESP
//! packet (protocol 50, RFC 4303 §2). Kernel-bypass frames carry these
//! headers; the kernel builds them on the raw-socket path.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;

pub const ETH_HLEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_ESP: u8 = 50;
/// TTL / hop limit of the outer header the proxy originates.
const OUTER_TTL: u8 = 64;

pub type Mac = [u8; 6];

/// Ethernet header fields.
mod eth {
    pub const DST: core::ops::Range<usize> = 0..6;
    pub const SRC: core::ops::Range<usize> = 6..12;
    pub const TYPE: core::ops::Range<usize> = 12..14;
}

pub fn write_eth(buf: &mut [u8], dst: Mac, src: Mac, ethertype: u16) {
    buf[eth::DST].copy_from_slice(&dst);
    buf[eth::SRC].copy_from_slice(&src);
    buf[eth::TYPE].copy_from_slice(&ethertype.to_be_bytes());
}

/// An Ethernet frame's source MAC and its IP packet (IPv4/IPv6 only).
pub fn split_eth(frame: &[u8]) -> Option<(Mac, &[u8])> {
    if frame.len() < ETH_HLEN {
        return None;
    }
    let t = u16::from_be_bytes([frame[12], frame[13]]);
    if t != ETH_P_IP && t != ETH_P_IPV6 {
        return None;
    }
    Some((frame[eth::SRC].try_into().ok()?, &frame[ETH_HLEN..]))
}

/// Source and destination of an IP packet.
pub fn ip_addrs(pkt: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some((
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&pkt[12..16]).ok()?)),
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&pkt[16..20]).ok()?)),
        )),
        6 if pkt.len() >= 40 => Some((
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).ok()?)),
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[24..40]).ok()?)),
        )),
        _ => None,
    }
}

/// Length of the outer header for an ESP packet between these addresses.
pub fn outer_len(peer: IpAddr) -> usize {
    if peer.is_ipv4() { 20 } else { 40 }
}

/// Write the outer header of an `esp_len`-byte ESP packet into `buf`
/// (exactly [`outer_len`] bytes). Mixed families are refused.
pub fn write_outer(buf: &mut [u8], local: IpAddr, peer: IpAddr, esp_len: usize) -> Option<()> {
    match (local, peer) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + esp_len).ok()?;
            let h = &mut buf[..20];
            h[0] = 0x45;
            h[1] = 0;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].fill(0);
            // DF: the path MTU is the SA's business (RFC 4303 §3.3.5 left to PMTUD).
            h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
            h[8] = OUTER_TTL;
            h[9] = IPPROTO_ESP;
            h[10..12].fill(0);
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            Some(())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let plen = u16::try_from(esp_len).ok()?;
            let h = &mut buf[..40];
            h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = IPPROTO_ESP;
            h[7] = OUTER_TTL;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            Some(())
        }
        _ => None,
    }
}

/// An outer ESP packet as received (IP header onward, Ethernet stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterEsp {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit, copied into the rebuilt inner header.
    pub hops: u8,
    /// The ESP header and what follows, relative to the IP header; the
    /// IP length decides the end, not the frame (Ethernet padding).
    pub esp: core::ops::Range<usize>,
}

/// Parse the outer header of an ESP packet; `None` when it is not one we
/// take (fragments, IPv6 extension headers, bad lengths).
pub fn parse_outer_esp(pkt: &[u8]) -> Option<OuterEsp> {
    let (src, dst) = ip_addrs(pkt)?;
    let (hdr, end, hops, proto) = if src.is_ipv4() {
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        let frag = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff;
        if ihl < 20 || frag != 0 {
            return None;
        }
        (ihl, total, pkt[8], pkt[9])
    } else {
        (40, 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]])), pkt[7], pkt[6])
    };
    if proto != IPPROTO_ESP || end > pkt.len() || end < hdr + 8 {
        return None;
    }
    Some(OuterEsp { src, dst, hops, esp: hdr..end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_v4_round_trip() {
        let mut b = [0u8; 20 + 16];
        let (l, p) = ("192.0.2.1".parse().unwrap(), "198.51.100.7".parse().unwrap());
        write_outer(&mut b, l, p, 16).unwrap();
        assert_eq!(checksum::checksum(&b[..20]), 0);
        let o = parse_outer_esp(&b).unwrap();
        assert_eq!((o.src, o.dst, o.hops, o.esp), (l, p, OUTER_TTL, 20..36));
    }

    #[test]
    fn outer_v6_round_trip_and_padding() {
        let mut b = [0u8; 40 + 16 + 6];
        let (l, p) = ("2001:db8::1".parse().unwrap(), "2001:db8::7".parse().unwrap());
        write_outer(&mut b, l, p, 16).unwrap();
        // Trailing bytes (Ethernet padding) are not ESP.
        assert_eq!(parse_outer_esp(&b).unwrap().esp, 40..56);
    }

    #[test]
    fn refused() {
        let mut b = [0u8; 64];
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(write_outer(&mut b, v4, v6, 8).is_none());
        write_outer(&mut b, v4, v4, 8).unwrap();
        // Fragment, wrong protocol, length past the buffer, too short for ESP.
        let mut f = b;
        f[6] = 0x20;
        assert!(parse_outer_esp(&f).is_none());
        let mut f = b;
        f[9] = 17;
        assert!(parse_outer_esp(&f).is_none());
        assert!(parse_outer_esp(&b[..27]).is_none());
        write_outer(&mut b, v4, v4, 4).unwrap();
        assert!(parse_outer_esp(&b).is_none());
        assert!(parse_outer_esp(&[]).is_none());
        assert!(split_eth(&[0u8; 13]).is_none());
        let mut e = [0u8; 20];
        e[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(split_eth(&e).is_none());
    }
}
