use super::*;
use crate::esp::{EspCipher, Transform};

const HIT_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0x21, 0x5cec, 0xfdcd, 0x2e22, 0xbcf4, 0x02ab, 0x9588);
const HIT_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0x21, 0xc1e1, 0x64fc, 0xe0f2, 0xd985, 0x80bf, 0xc6bc);

fn sas(t: Transform) -> (OutboundSa, InboundSa) {
    let k: Vec<u8> = (0..t.key_len() as u8).collect();
    (OutboundSa::new(77, EspCipher::new(t, &k).unwrap()), InboundSa::new(77, EspCipher::new(t, &k).unwrap()))
}

fn rng(b: &mut [u8]) {
    b.fill(0x42);
}

/// An IPv6 UDP datagram between the HITs, with a valid checksum.
fn ipv6_udp(payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut p = vec![0u8; 40 + udp_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 63;
    p[8..24].copy_from_slice(&HIT_A.octets());
    p[24..40].copy_from_slice(&HIT_B.octets());
    p[40..42].copy_from_slice(&5000u16.to_be_bytes());
    p[42..44].copy_from_slice(&53u16.to_be_bytes());
    p[44..46].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p[48..].copy_from_slice(payload);
    let ph = checksum::pseudo_header_sum(HIT_A.into(), HIT_B.into(), 17, udp_len as u32).unwrap();
    let c = checksum::finish(checksum::sum(&p[40..], ph));
    p[46..48].copy_from_slice(&c.to_be_bytes());
    p
}

#[test]
fn ipv6_round_trip_rebuilds_identical_packet() {
    let out_addrs = InnerAddrs::V6 { src: HIT_A, dst: HIT_B };
    for t in Transform::ALL {
        let (mut out, mut inb) = sas(t);
        let inner = ipv6_udp(b"hello, BEET");
        // Frame: 34 bytes of outer headers, the inner packet, tail room.
        let start = 34;
        let mut buf = vec![0u8; start + out.sealed_len(inner.len()) + 40];
        buf[start..start + inner.len()].copy_from_slice(&inner);
        let esp = seal_inner_packet(&mut out, &mut buf, start..start + inner.len(), &out_addrs, &mut rng).unwrap();
        // The ESP header sits where the IPv6 header's tail was.
        assert_eq!(esp.start, start + 40 - t.payload_offset());
        assert_eq!(esp.len(), t.sealed_len(inner.len() - 40));
        // Next header in the trailer is UDP: check by opening.
        let got = open_to_inner_packet(&mut inb, &mut buf, esp.clone(), &out_addrs, 63).unwrap();
        assert_eq!(&buf[got.clone()], &inner[..], "{t:?}");
        assert_eq!(got.start, start, "{t:?}");
    }
}

#[test]
fn ipv4_lsi_round_trip() {
    let src = Ipv4Addr::new(1, 0, 0, 1);
    let dst = Ipv4Addr::new(1, 0, 0, 2);
    let addrs = InnerAddrs::V4 { src, dst };
    let (mut out, mut inb) = sas(Transform::Aes128Gcm16);
    let mut inner = vec![0u8; 20 + 8 + 4];
    inner[0] = 0x45;
    inner[2..4].copy_from_slice(&32u16.to_be_bytes());
    inner[6] = 0x40;
    inner[8] = 64;
    inner[9] = 1;
    inner[12..16].copy_from_slice(&src.octets());
    inner[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&inner[..20]);
    inner[10..12].copy_from_slice(&c.to_be_bytes());
    inner[20] = 8; // ICMP echo request
    let mut buf = vec![0u8; 100];
    buf[20..52].copy_from_slice(&inner);
    let esp = seal_inner_packet(&mut out, &mut buf, 20..52, &addrs, &mut rng).unwrap();
    let got = open_to_inner_packet(&mut inb, &mut buf, esp, &addrs, 64).unwrap();
    assert_eq!(&buf[got.clone()], &inner[..]);
    assert_eq!(checksum::checksum(&buf[got.start..got.start + 20]), 0);
}

#[test]
fn inner_header_checks() {
    let addrs = InnerAddrs::V6 { src: HIT_A, dst: HIT_B };
    let (mut out, _) = sas(Transform::Aes128Gcm16);
    let good = ipv6_udp(b"x");
    let mut try_seal = |p: &[u8]| {
        let mut buf = vec![0u8; 200];
        buf[40..40 + p.len()].copy_from_slice(p);
        seal_inner_packet(&mut out, &mut buf, 40..40 + p.len(), &addrs, &mut rng)
    };
    let mut wrong_dst = good.clone();
    wrong_dst[39] ^= 1;
    assert_eq!(try_seal(&wrong_dst), Err(BeetError::AddressMismatch));
    let mut v4 = good.clone();
    v4[0] = 0x45;
    assert_eq!(try_seal(&v4), Err(BeetError::InnerMalformed));
    assert_eq!(try_seal(&good[..good.len() - 1]), Err(BeetError::InnerMalformed));
    assert_eq!(try_seal(&good[..39]), Err(BeetError::InnerMalformed));
    let mut hop_by_hop = good.clone();
    hop_by_hop[6] = 0;
    assert_eq!(try_seal(&hop_by_hop), Err(BeetError::UnsupportedNextHeader(0)));
    // Nothing was sealed: the next packet is still number 1.
    let r = try_seal(&good).unwrap();
    assert!(!r.is_empty());
    assert_eq!(out.counters().packets, 1);
}

#[test]
fn ipv4_inner_refusals() {
    let addrs = InnerAddrs::V4 { src: Ipv4Addr::new(1, 0, 0, 1), dst: Ipv4Addr::new(1, 0, 0, 2) };
    let (mut out, _) = sas(Transform::Aes128Gcm16);
    let mut p = [0u8; 28];
    p[0] = 0x46;
    p[2..4].copy_from_slice(&28u16.to_be_bytes());
    let mut buf = [0u8; 100];
    buf[20..48].copy_from_slice(&p);
    assert_eq!(seal_inner_packet(&mut out, &mut buf, 20..48, &addrs, &mut rng), Err(BeetError::Ipv4Options));
    buf[20] = 0x45;
    buf[26] = 0x20; // more fragments
    assert_eq!(seal_inner_packet(&mut out, &mut buf, 20..48, &addrs, &mut rng), Err(BeetError::Ipv4Fragment));
}

#[test]
fn no_headroom_checked_before_opening() {
    let addrs = InnerAddrs::V6 { src: HIT_A, dst: HIT_B };
    let (mut out, mut inb) = sas(Transform::Aes128Gcm16);
    let mut buf = vec![0u8; 100];
    buf[16..20].copy_from_slice(b"abcd");
    let len = out.seal(&mut buf, 4, 17, &mut rng).unwrap();
    assert_eq!(open_to_inner_packet(&mut inb, &mut buf, 0..len, &addrs, 64), Err(BeetError::NoHeadroom));
    assert_eq!(inb.window().top(), 0);
}

#[test]
fn rebase_udp_and_tcp_from_ipv4_to_hits() {
    let v4s: IpAddr = Ipv4Addr::new(192, 0, 2, 10).into();
    let v4d: IpAddr = Ipv4Addr::new(198, 51, 100, 7).into();
    for (proto, hdr) in [(17u8, 8usize), (6, 20)] {
        let mut seg: Vec<u8> = (0..hdr + 13).map(|i| (i * 31) as u8).collect();
        let ck = if proto == 17 { 6..8 } else { 16..18 };
        if proto == 17 {
            seg[4..6].copy_from_slice(&((hdr + 13) as u16).to_be_bytes());
        }
        seg[ck.clone()].copy_from_slice(&[0, 0]);
        let len = seg.len() as u32;
        let ph4 = checksum::pseudo_header_sum(v4s, v4d, proto, len).unwrap();
        let c = checksum::finish(checksum::sum(&seg, ph4));
        seg[ck.clone()].copy_from_slice(&c.to_be_bytes());
        rebase_transport_checksum(&mut seg, proto, (v4s, v4d), (HIT_A.into(), HIT_B.into())).unwrap();
        let ph6 = checksum::pseudo_header_sum(HIT_A.into(), HIT_B.into(), proto, len).unwrap();
        assert_eq!(checksum::finish(checksum::sum(&seg, ph6)), 0, "proto {proto}");
        // And back again gives the original checksum.
        rebase_transport_checksum(&mut seg, proto, (HIT_A.into(), HIT_B.into()), (v4s, v4d)).unwrap();
        assert_eq!(u16::from_be_bytes([seg[ck.start], seg[ck.start + 1]]), c);
    }
}

#[test]
fn rebase_udp_without_checksum_gets_one_on_ipv6() {
    let v4s: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
    let v4d: IpAddr = Ipv4Addr::new(10, 0, 0, 2).into();
    let mut seg = vec![0x12, 0x34, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 1, 2, 3, 4];
    let mut v4_copy = seg.clone();
    rebase_transport_checksum(&mut v4_copy, 17, (v4s, v4d), (v4d, v4s)).unwrap();
    assert_eq!(v4_copy[6..8], [0, 0], "IPv4 to IPv4 keeps 'no checksum'");
    rebase_transport_checksum(&mut seg, 17, (v4s, v4d), (HIT_A.into(), HIT_B.into())).unwrap();
    assert_ne!(seg[6..8], [0, 0]);
    let ph6 = checksum::pseudo_header_sum(HIT_A.into(), HIT_B.into(), 17, 12).unwrap();
    assert_eq!(checksum::finish(checksum::sum(&seg, ph6)), 0);
}

#[test]
fn rebase_errors() {
    let a: IpAddr = Ipv4Addr::LOCALHOST.into();
    let b: IpAddr = HIT_A.into();
    assert_eq!(rebase_transport_checksum(&mut [0; 8], 1, (a, a), (b, b)), Err(ChecksumError::UnsupportedProtocol(1)));
    assert_eq!(rebase_transport_checksum(&mut [0; 19], 6, (a, a), (b, b)), Err(ChecksumError::Truncated));
    assert_eq!(rebase_transport_checksum(&mut [1; 8], 17, (a, b), (b, b)), Err(ChecksumError::BadPseudoHeader));
}
