//! Arbitrary bytes never panic the proxy's translator, in either direction,
//! and whatever it writes parses again as an IP packet of the right length.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use proxy_proto::esp::proxy::{Translator, TranslatorConfig, ip};

fuzz_target!(|data: &[u8]| {
    let t = Translator::new(TranslatorConfig { max_flows: 4, mss_clamp: Some(1200), ..Default::default() });
    let local: Ipv6Addr = "2001:20::1".parse().unwrap();
    let peer: Ipv6Addr = "2001:20::2".parse().unwrap();
    t.map_substitute(IpAddr::V4(Ipv4Addr::new(100, 64, 0, 1)), local, peer);
    t.map_substitute("fd00:64::1".parse().unwrap(), local, peer);
    let mut out = vec![0u8; 70000];
    // Each input is a sequence of packets: a length byte pair, a direction
    // bit, the bytes; so flows opened by one packet meet the next.
    let mut rest = data;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]) & 0x7fff);
        let inbound = rest[0] & 0x80 != 0;
        let take = len.min(rest.len() - 2);
        let pkt = &rest[2..2 + take];
        rest = &rest[2 + take..];
        let r = if inbound { t.inbound(pkt, 1, &mut out) } else { t.outbound(pkt, 1, &mut out) };
        if let Ok(n) = r {
            let h = ip::parse(&out[..n]).expect("translated packet parses");
            assert_eq!(h.l4.end, n);
        }
    }
    let _ = t.flows();
    t.expire(u64::MAX);
});
