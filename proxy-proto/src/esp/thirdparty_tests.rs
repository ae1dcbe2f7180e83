//! Opening ESP packets captured from an implementation nobody here wrote
//! (cutehip, see tests/data/esp/cutehip-rsa-keys.txt): transform 9 with a
//! 32-byte ICV, ping6 between the two HITs.

use core::net::Ipv6Addr;

use super::beet::{InnerAddrs, open_to_inner_packet};
use super::{DropReason, EspCipher, InboundSa, Transform};
use crate::checksum;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/esp/");

/// Ethernet frames of a little-endian microsecond pcap.
fn pcap_frames(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(bytes[20..24], [1, 0, 0, 0], "Ethernet link type");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(&bytes[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len());
    frames
}

fn inbound(spi: u32, cipher_key: &str, hmac_key: &str) -> InboundSa {
    let mut keymat = hex::decode(cipher_key).unwrap();
    keymat.extend(hex::decode(hmac_key).unwrap());
    let cipher = EspCipher::new(Transform::Aes256CbcHmacSha256, &keymat).unwrap().with_icv_len(32).unwrap();
    InboundSa::new(spi, cipher)
}

#[test]
fn cutehip_rsa_ping6_over_beet() {
    open_capture("cutehip-rsa");
}

#[test]
fn cutehip_ecdsa_ping6_over_beet() {
    open_capture("cutehip-ecdsa");
}

/// Open every ESP packet of `{run}-bex.pcap` with the keys of
/// `{run}-keys.txt`, rebuild the inner IPv6 header from the HITs.
fn open_capture(run: &str) {
    let keys = std::fs::read_to_string(format!("{DATA}{run}-keys.txt")).unwrap();
    let mut sas = Vec::new();
    let (mut hit_a, mut hit_b) = (Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED);
    for line in keys.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0] == "hits" {
            (hit_a, hit_b) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            continue;
        }
        let spi = u32::from_str_radix(f[1], 16).unwrap();
        sas.push((spi, inbound(spi, f[2], f[3])));
    }
    assert_eq!(sas.len(), 2);
    assert!(!hit_a.is_unspecified() && !hit_b.is_unspecified());
    let pcap = std::fs::read(format!("{DATA}{run}-bex.pcap")).unwrap();
    let mut opened = 0;
    let mut echo_ids = Vec::new();
    for frame in pcap_frames(&pcap) {
        // Ethernet (14) + IPv4 without options (20), protocol 50.
        if frame.len() < 34 || frame[12..14] != [8, 0] || frame[23] != 50 {
            continue;
        }
        assert_eq!(frame[14], 0x45);
        let mut buf = frame.to_vec();
        let spi = u32::from_be_bytes(buf[34..38].try_into().unwrap());
        let from_a = frame[26..30] == [10, 77, 0, 1];
        let (_, sa) = sas.iter_mut().find(|(s, _)| *s == spi).expect("SPI of a logged SA");
        // Inner addresses as the receiver sees them.
        let addrs =
            if from_a { InnerAddrs::V6 { src: hit_a, dst: hit_b } } else { InnerAddrs::V6 { src: hit_b, dst: hit_a } };
        let len = buf.len();
        let inner = open_to_inner_packet(sa, &mut buf, 34..len, &addrs, 64).unwrap();
        let pkt = &buf[inner];
        // ping6's 64-byte ICMPv6 echo: request from A, reply from B.
        assert_eq!(pkt.len(), 40 + 64);
        assert_eq!(pkt[6], 58);
        assert_eq!(pkt[40], if from_a { 128 } else { 129 });
        // The checksum was computed by the sender's stack over the HIT
        // pseudo-header: it verifies only if the rebuilt header is right.
        let ph = checksum::pseudo_header_sum(addrs_src(&addrs), addrs_dst(&addrs), 58, 64).unwrap();
        assert_eq!(checksum::finish(checksum::sum(&pkt[40..], ph)), 0);
        echo_ids.push((from_a, pkt[44..48].to_vec()));
        opened += 1;
        // Replaying the captured frame is refused.
        let mut again = frame.to_vec();
        assert!(matches!(sa.open(&mut again[34..]), Err(DropReason::Replay(_))));
    }
    assert_eq!(opened, 8);
    // Each reply carries the identifier and sequence of its request.
    for pair in echo_ids.chunks(2) {
        assert!(pair[0].0 && !pair[1].0);
        assert_eq!(pair[0].1, pair[1].1);
    }
    for (_, sa) in &sas {
        assert_eq!(sa.window().top(), 4);
        assert_eq!(sa.counters().packets, 4);
        assert_eq!(sa.counters().drops.replay, 4);
    }
}

/// The standard 16-byte ICV cannot open these packets: the ICV check
/// fails (the last 16 bytes are not where our ICV would be).
#[test]
fn cutehip_packets_fail_with_rfc_icv_length() {
    let keys = std::fs::read_to_string(format!("{DATA}cutehip-rsa-keys.txt")).unwrap();
    let line = keys.lines().find(|l| l.starts_with("A->B")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    let mut keymat = hex::decode(f[2]).unwrap();
    keymat.extend(hex::decode(f[3]).unwrap());
    let mut sa = InboundSa::new(0xd3e2a081, EspCipher::new(Transform::Aes256CbcHmacSha256, &keymat).unwrap());
    let pcap = std::fs::read(format!("{DATA}cutehip-rsa-bex.pcap")).unwrap();
    let frame = pcap_frames(&pcap).into_iter().find(|f| f.len() > 38 && f[23] == 50).unwrap();
    let mut buf = frame[34..].to_vec();
    assert_eq!(sa.open(&mut buf), Err(DropReason::BadIcv));
}

fn addrs_src(a: &InnerAddrs) -> core::net::IpAddr {
    match a {
        InnerAddrs::V6 { src, .. } => (*src).into(),
        InnerAddrs::V4 { src, .. } => (*src).into(),
    }
}

fn addrs_dst(a: &InnerAddrs) -> core::net::IpAddr {
    match a {
        InnerAddrs::V6 { dst, .. } => (*dst).into(),
        InnerAddrs::V4 { dst, .. } => (*dst).into(),
    }
}
