//! Arbitrary frames never panic the AF_XDP workers' header parsing
//! (Ethernet, outer IPv4/IPv6 of ESP), and what `write_outer` builds
//! parses back to the same addresses and ESP range.
#![no_main]

use core::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use proxy_proto::esp::outer::{ip_addrs, outer_len, parse_outer_esp, split_eth, write_outer};

fuzz_target!(|data: &[u8]| {
    if let Some((_, ip)) = split_eth(data) {
        let _ = ip_addrs(ip);
        if let Some(o) = parse_outer_esp(ip) {
            assert!(o.esp.start <= o.esp.end && o.esp.end <= ip.len());
        }
    }
    let _ = parse_outer_esp(data);
    // Round trip with addresses and a length taken from the input.
    if data.len() >= 34 {
        let v6 = data[0] & 1 == 1;
        let (local, peer): (IpAddr, IpAddr) = if v6 {
            let a: [u8; 16] = data[2..18].try_into().unwrap();
            let b: [u8; 16] = data[18..34].try_into().unwrap();
            (a.into(), b.into())
        } else {
            let a: [u8; 4] = data[2..6].try_into().unwrap();
            let b: [u8; 4] = data[6..10].try_into().unwrap();
            (a.into(), b.into())
        };
        let esp_len = 8 + usize::from(data[1]);
        let mut buf = vec![0u8; outer_len(peer) + esp_len];
        write_outer(&mut buf, local, peer, esp_len).unwrap();
        let o = parse_outer_esp(&buf).unwrap();
        assert_eq!((o.src, o.dst, o.esp.len()), (local, peer, esp_len));
    }
});
