//! Unit tests of the translator: every packet it writes is checked with a
//! full checksum recomputation, independent of the incremental code.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::checksum;

const LOCAL_HIT: Ipv6Addr = Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0x1);
const PEER_HIT: Ipv6Addr = Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0x2);
const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const L1: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const L2: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 11);

fn translator(cfg: TranslatorConfig) -> Translator {
    let t = Translator::new(cfg);
    t.map_substitute(SUB.into(), LOCAL_HIT, PEER_HIT);
    t
}

/// An IP packet src -> dst with `l4` (its checksum computed here).
fn packet(src: IpAddr, dst: IpAddr, proto: u8, mut l4: Vec<u8>) -> Vec<u8> {
    let off = match proto {
        6 => Some(16),
        17 => Some(6),
        1 | 58 => Some(2),
        _ => None,
    };
    if let Some(off) = off {
        l4[off..off + 2].copy_from_slice(&[0, 0]);
        let acc = if proto == 1 { 0 } else { checksum::pseudo_header_sum(src, dst, proto, l4.len() as u32).unwrap() };
        let c = checksum::finish(checksum::sum(&l4, acc));
        l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }
    let h = ip::header_len(dst);
    let mut p = vec![0u8; h + l4.len()];
    ip::emit(&mut p, &ip::Header { src, dst, proto, ttl: 64, tos: 0, l4: h..h + l4.len() }, 7);
    p[h..].copy_from_slice(&l4);
    p
}

fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; 20];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..8].copy_from_slice(&1234u32.to_be_bytes());
    s[12] = 5 << 4;
    s[13] = flags;
    s[14..16].copy_from_slice(&64240u16.to_be_bytes());
    s.extend_from_slice(payload);
    s
}

fn tcp_syn_mss(sport: u16, dport: u16, mss: u16, pad_nop: bool) -> Vec<u8> {
    let mut opts = Vec::new();
    if pad_nop {
        opts.push(1);
    }
    opts.extend_from_slice(&[2, 4]);
    opts.extend_from_slice(&mss.to_be_bytes());
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let mut s = tcp(sport, dport, l4::flags::SYN, &[]);
    s[12] = ((20 + opts.len() as u8) / 4) << 4;
    s.extend_from_slice(&opts);
    s
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; 8];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..6].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    s.extend_from_slice(payload);
    s
}

fn echo(ty: u8, id: u16) -> Vec<u8> {
    let mut s = vec![ty, 0, 0, 0];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0, 1, b'p', b'i', b'n', b'g']);
    s
}

/// Parse `p` and check its IP and transport checksums from scratch.
fn check(p: &[u8]) -> ip::Header {
    let h = ip::parse(p).expect("translated packet parses");
    let l4 = &p[h.l4.clone()];
    let acc =
        if h.proto == 1 { 0 } else { checksum::pseudo_header_sum(h.src, h.dst, h.proto, l4.len() as u32).unwrap() };
    assert_eq!(checksum::finish(checksum::sum(l4, acc)), 0, "transport checksum of {h:?}");
    h
}

fn ports(p: &[u8]) -> (u16, u16) {
    let h = ip::parse(p).unwrap();
    let l4 = &p[h.l4];
    (ip::be16(l4, 0..2), ip::be16(l4, 2..4))
}

fn out_of(t: &Translator, pkt: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 70000];
    let n = t.outbound(pkt, 100, &mut out).expect("outbound");
    out.truncate(n);
    out
}

fn in_of(t: &Translator, pkt: &[u8]) -> Result<Vec<u8>, Drop> {
    let mut out = vec![0u8; 70000];
    let n = t.inbound(pkt, 101, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[test]
fn tcp_v4_round_trip() {
    let t = translator(TranslatorConfig::default());
    let syn = packet(L1.into(), SUB.into(), 6, tcp(40000, 80, l4::flags::SYN, &[]));
    let o = out_of(&t, &syn);
    let h = check(&o);
    assert_eq!((h.src, h.dst, h.proto, h.ttl), (LOCAL_HIT.into(), PEER_HIT.into(), 6, 64));
    assert_eq!(ports(&o), (40000, 80), "port preserved");
    let synack = packet(PEER_HIT.into(), LOCAL_HIT.into(), 6, tcp(80, 40000, l4::flags::SYN | l4::flags::ACK, b"hi"));
    let i = in_of(&t, &synack).unwrap();
    let h = check(&i);
    assert_eq!((h.src, h.dst, h.proto), (SUB.into(), L1.into(), 6));
    assert_eq!(ports(&i), (80, 40000));
    assert_eq!(&i[i.len() - 2..], b"hi");
    assert_eq!(checksum::checksum(&i[..20]), 0, "IPv4 header checksum");
    let ack = packet(L1.into(), SUB.into(), 6, tcp(40000, 80, l4::flags::ACK, b"GET /"));
    check(&out_of(&t, &ack));
    let f = t.flows();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].state, f[0].packets_out, f[0].packets_in), ("established", 2, 1));
    let c = t.counters();
    assert_eq!((c.outbound, c.inbound, c.flows_created, c.flows_active), (2, 1, 1, 1));
}

#[test]
fn two_legacy_hosts_same_port_share_the_peer() {
    let t = translator(TranslatorConfig::default());
    let a = out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(5000, 53, b"a")));
    let b = out_of(&t, &packet(L2.into(), SUB.into(), 17, udp(5000, 53, b"b")));
    let (pa, pb) = (ports(&a).0, ports(&b).0);
    assert_eq!(pa, 5000);
    assert_ne!(pa, pb, "second host gets another NAT port");
    for (nat, legacy, body) in [(pb, L2, b"B"), (pa, L1, b"A")] {
        let reply = packet(PEER_HIT.into(), LOCAL_HIT.into(), 17, udp(53, nat, body));
        let i = in_of(&t, &reply).unwrap();
        let h = check(&i);
        assert_eq!((h.src, h.dst), (SUB.into(), legacy.into()));
        assert_eq!(ports(&i), (53, 5000));
        assert_eq!(i.last(), body.last());
    }
}

#[test]
fn udp_zero_checksum_gets_one_in_ipv6() {
    let t = translator(TranslatorConfig::default());
    let mut p = packet(L1.into(), SUB.into(), 17, udp(1, 2, b"xyz"));
    p[26..28].copy_from_slice(&[0, 0]);
    check(&out_of(&t, &p));
}

#[test]
fn icmp_echo_v4_to_v6_and_back() {
    let t = translator(TranslatorConfig::default());
    let o = out_of(&t, &packet(L1.into(), SUB.into(), 1, echo(8, 77)));
    let h = check(&o);
    assert_eq!(h.proto, 58);
    assert_eq!(o[40], 128);
    let id = ip::be16(&o, 44..46);
    let reply = packet(PEER_HIT.into(), LOCAL_HIT.into(), 58, {
        let mut e = echo(129, id);
        e[0] = 129;
        e
    });
    let i = in_of(&t, &reply).unwrap();
    let h = check(&i);
    assert_eq!((h.proto, i[20], ip::be16(&i, 24..26)), (1, 0, 77));
    // ICMP other than echo, and echo requests from the peer, stay out.
    let unreachable = packet(L1.into(), SUB.into(), 1, echo(3, 1));
    assert_eq!(t.outbound(&unreachable, 1, &mut [0; 200]), Err(Drop::NotTranslatable));
    let req = packet(PEER_HIT.into(), LOCAL_HIT.into(), 58, echo(128, id));
    assert_eq!(t.inbound(&req, 1, &mut [0; 200]), Err(Drop::NotTranslatable));
}

#[test]
fn corrupt_icmp_is_not_laundered() {
    let t = translator(TranslatorConfig::default());
    let mut p = packet(L1.into(), SUB.into(), 1, echo(8, 77));
    let last = p.len() - 1;
    p[last] ^= 1;
    assert_eq!(t.outbound(&p, 1, &mut [0; 200]), Err(Drop::Malformed));
}

#[test]
fn ipv6_legacy_host() {
    let t = Translator::new(TranslatorConfig::default());
    let sub: Ipv6Addr = "fd00:64::1".parse().unwrap();
    let legacy: Ipv6Addr = "fd00:1::10".parse().unwrap();
    t.map_substitute(sub.into(), LOCAL_HIT, PEER_HIT);
    let o = out_of(&t, &packet(legacy.into(), sub.into(), 6, tcp(3333, 443, l4::flags::SYN, &[])));
    assert_eq!(check(&o).dst, IpAddr::V6(PEER_HIT));
    let r = packet(PEER_HIT.into(), LOCAL_HIT.into(), 6, tcp(443, 3333, l4::flags::SYN | l4::flags::ACK, &[]));
    let i = in_of(&t, &r).unwrap();
    let h = check(&i);
    assert_eq!((h.src, h.dst), (sub.into(), legacy.into()));
    let o = out_of(&t, &packet(legacy.into(), sub.into(), 58, echo(128, 9)));
    assert_eq!((check(&o).proto, o[40]), (58, 128));
}

#[test]
fn super_packet_translates() {
    let t = translator(TranslatorConfig::default());
    out_of(&t, &packet(L1.into(), SUB.into(), 6, tcp(40000, 80, l4::flags::SYN, &[])));
    let body: Vec<u8> = (0..65000u32).map(|i| (i * 7) as u8).collect();
    let p = packet(L1.into(), SUB.into(), 6, tcp(40000, 80, l4::flags::ACK, &body));
    assert_eq!(p.len(), 20 + 20 + 65000);
    let o = out_of(&t, &p);
    assert_eq!(o.len(), 40 + 20 + 65000);
    check(&o);
    let mut small = [0u8; 1500];
    assert_eq!(t.outbound(&p, 1, &mut small), Err(Drop::NoRoom));
}

#[test]
fn mss_is_clamped_at_any_alignment() {
    let cfg = TranslatorConfig { mss_clamp: Some(1300), ..Default::default() };
    for nop in [false, true] {
        let t = translator(cfg.clone());
        let o = out_of(&t, &packet(L1.into(), SUB.into(), 6, tcp_syn_mss(1, 80, 1460, nop)));
        check(&o);
        let at = 60 + usize::from(nop) + 2;
        assert_eq!(ip::be16(&o, at..at + 2), 1300);
        assert_eq!(t.counters().mss_clamped, 1);
        // A smaller MSS stays.
        let o = out_of(&t, &packet(L1.into(), SUB.into(), 6, tcp_syn_mss(2, 80, 1200, nop)));
        assert_eq!(ip::be16(&o, at..at + 2), 1200);
    }
}

#[test]
fn refusals_are_counted() {
    let t = translator(TranslatorConfig { max_flows: 1, ..Default::default() });
    let other: Ipv4Addr = "100.64.0.99".parse().unwrap();
    let mut out = [0u8; 2000];
    let p = packet(L1.into(), other.into(), 17, udp(1, 2, b""));
    assert_eq!(t.outbound(&p, 1, &mut out), Err(Drop::NoMapping));
    // A TCP segment that is not a SYN opens no flow.
    let p = packet(L1.into(), SUB.into(), 6, tcp(1, 80, l4::flags::ACK, &[]));
    assert_eq!(t.outbound(&p, 1, &mut out), Err(Drop::NoFlow));
    out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(1, 2, b"")));
    let p = packet(L2.into(), SUB.into(), 17, udp(1, 2, b""));
    assert_eq!(t.outbound(&p, 1, &mut out), Err(Drop::FlowTableFull));
    // A reply to a port nobody opened, or from another HIT.
    let p = packet(PEER_HIT.into(), LOCAL_HIT.into(), 17, udp(2, 9, b""));
    assert_eq!(t.inbound(&p, 1, &mut out), Err(Drop::NoFlow));
    let p = packet(LOCAL_HIT.into(), LOCAL_HIT.into(), 17, udp(2, 1, b""));
    assert_eq!(t.inbound(&p, 1, &mut out), Err(Drop::NoFlow));
    // Fragments.
    let mut p = packet(L1.into(), SUB.into(), 17, udp(1, 2, b""));
    p[6] = 0x20;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(t.outbound(&p, 1, &mut out), Err(Drop::NotTranslatable));
    let c = t.counters();
    assert_eq!(c.drop_count(Drop::NoMapping), 1);
    assert_eq!(c.drop_count(Drop::NoFlow), 3);
    assert_eq!(c.drop_count(Drop::FlowTableFull), 1);
    assert_eq!(c.drop_count(Drop::NotTranslatable), 1);
    assert!(c.named().iter().any(|(n, v)| n == "drop_flow_table_full" && *v == 1));
}

#[test]
fn truncations_never_panic() {
    let t = translator(TranslatorConfig::default());
    let pkts = [
        packet(L1.into(), SUB.into(), 6, tcp_syn_mss(1, 80, 1460, true)),
        packet(L1.into(), SUB.into(), 17, udp(1, 2, b"abc")),
        packet(L1.into(), SUB.into(), 1, echo(8, 1)),
        packet(PEER_HIT.into(), LOCAL_HIT.into(), 6, tcp(80, 1, l4::flags::ACK, b"x")),
        icmp6_error(1, 4, 0, &out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(9, 53, b"q")))),
    ];
    let mut out = [0u8; 200];
    for p in &pkts {
        for n in 0..p.len() {
            let _ = t.outbound(&p[..n], 1, &mut out);
            let _ = t.inbound(&p[..n], 1, &mut out);
            let mut q = p.clone();
            q[n] ^= 0xff;
            let _ = t.outbound(&q, 1, &mut out);
            let _ = t.inbound(&q, 1, &mut out);
        }
    }
}

#[test]
fn flows_expire_per_state() {
    let t = translator(TranslatorConfig::default());
    let mut out = [0u8; 200];
    t.outbound(&packet(L1.into(), SUB.into(), 17, udp(1, 2, b"")), 0, &mut out).unwrap();
    t.outbound(&packet(L1.into(), SUB.into(), 6, tcp(5, 80, l4::flags::SYN, &[])), 0, &mut out).unwrap();
    t.inbound(&packet(PEER_HIT.into(), LOCAL_HIT.into(), 6, tcp(80, 5, 0x12, &[])), 0, &mut out).unwrap();
    t.outbound(&packet(L1.into(), SUB.into(), 6, tcp(5, 80, l4::flags::ACK, &[])), 0, &mut out).unwrap();
    assert_eq!(t.expire(299), 0);
    assert_eq!(t.expire(300), 1, "UDP after 5 min");
    assert_eq!(t.flows()[0].state, "established");
    assert_eq!(t.expire(7439), 0);
    assert_eq!(t.expire(7440), 1, "TCP established after 2 h 4 min");
    let c = t.counters();
    assert_eq!((c.flows_expired, c.flows_active), (2, 0));
}

#[test]
fn unmap_forgets_flows_and_remap_to_other_peer_resets() {
    let t = translator(TranslatorConfig::default());
    out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(1, 2, b"")));
    t.map_substitute(SUB.into(), LOCAL_HIT, PEER_HIT);
    assert_eq!(t.flows().len(), 1, "same mapping again keeps flows");
    let other: Ipv6Addr = "2001:20::3".parse().unwrap();
    t.map_substitute(SUB.into(), LOCAL_HIT, other);
    assert!(t.flows().is_empty());
    let o = out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(1, 2, b"")));
    assert_eq!(check(&o).dst, IpAddr::V6(other));
    t.unmap_substitute(SUB.into());
    assert!(t.flows().is_empty() && t.mappings().is_empty());
    assert_eq!(t.counters().flows_active, 0);
}

#[test]
fn translator_is_send_and_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<Translator>();
}

#[test]
fn port_allocation_wraps_and_exhausts() {
    let t = translator(TranslatorConfig { nat_ports: (2000, 2002), ..Default::default() });
    let mut out = [0u8; 200];
    // Four legacy hosts with port 2000 toward the same peer port: 2000,
    // then 2001, 2002, and the fourth finds nothing free.
    for (i, want) in [Ok(2000), Ok(2001), Ok(2002), Err(Drop::FlowTableFull)].into_iter().enumerate() {
        let src = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
        let r = t.outbound(&packet(src.into(), SUB.into(), 17, udp(2000, 9, b"")), 0, &mut out);
        assert_eq!(r.map(|_| ip::be16(&out, 40..42)), want);
    }
}

/// An ICMPv6 error from the peer about `inner` (a packet we sent it).
fn icmp6_error(ty: u8, code: u8, word: u32, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(inner);
    packet(PEER_HIT.into(), LOCAL_HIT.into(), 58, m)
}

#[test]
fn icmp_errors_go_back_to_the_legacy_host() {
    let t = translator(TranslatorConfig::default());
    // Two hosts, same port: the error must name the right one.
    out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(5000, 53, b"first")));
    let sent = out_of(&t, &packet(L2.into(), SUB.into(), 17, udp(5000, 53, b"second")));
    let e = in_of(&t, &icmp6_error(1, 4, 0, &sent)).unwrap();
    let h = check(&e);
    assert_eq!((h.src, h.dst, h.proto), (SUB.into(), L2.into(), 1));
    assert_eq!((e[20], e[21]), (3, 3), "port unreachable");
    // The quoted packet is L2's own, with a valid header and UDP checksum.
    let inner = &e[28..];
    let ih = check(inner);
    assert_eq!((ih.src, ih.dst, ih.proto), (L2.into(), SUB.into(), 17));
    assert_eq!(ports(inner), (5000, 53));
    assert_eq!(&inner[inner.len() - 6..], b"second");
    // Packet too big: 20 octets less in the IPv4 form.
    let e = in_of(&t, &icmp6_error(2, 0, 1280, &sent)).unwrap();
    check(&e);
    assert_eq!((e[20], e[21], ip::be16(&e, 26..28)), (3, 4, 1260));
    // A quote of the first 48 octets only (ports, no UDP checksum past them).
    let e = in_of(&t, &icmp6_error(3, 0, 0, &sent[..48])).unwrap();
    check(&e);
    assert_eq!((e[20], e[21]), (11, 0));
    assert_eq!(t.counters().icmp_errors, 3);
}

#[test]
fn icmp_errors_refused() {
    let t = translator(TranslatorConfig::default());
    let sent = out_of(&t, &packet(L1.into(), SUB.into(), 17, udp(5000, 53, b"x")));
    let mut buf = [0u8; 2000];
    // About a flow that does not exist.
    let mut other = sent.clone();
    other[40..42].copy_from_slice(&7777u16.to_be_bytes());
    assert_eq!(t.inbound(&icmp6_error(1, 4, 0, &other), 1, &mut buf), Err(Drop::NoFlow));
    // Bad ICMPv6 checksum.
    let mut bad = icmp6_error(1, 4, 0, &sent);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(t.inbound(&bad, 1, &mut buf), Err(Drop::Malformed));
    // A type RFC 7915 does not translate (parameter problem, pointer).
    assert_eq!(t.inbound(&icmp6_error(4, 0, 8, &sent), 1, &mut buf), Err(Drop::NotTranslatable));
    // Too short to name a flow.
    assert_eq!(t.inbound(&icmp6_error(1, 4, 0, &sent[..44]), 1, &mut buf), Err(Drop::Malformed));
}

#[test]
fn icmp_errors_for_ipv6_legacy_hosts_stay_icmpv6() {
    let t = Translator::new(TranslatorConfig::default());
    let sub: Ipv6Addr = "fd00:64::1".parse().unwrap();
    let legacy: Ipv6Addr = "fd00:1::10".parse().unwrap();
    t.map_substitute(sub.into(), LOCAL_HIT, PEER_HIT);
    let sent = out_of(&t, &packet(legacy.into(), sub.into(), 6, tcp(3333, 443, l4::flags::SYN, &[])));
    let e = in_of(&t, &icmp6_error(1, 4, 0, &sent)).unwrap();
    let h = check(&e);
    assert_eq!((h.src, h.dst, h.proto, e[40], e[41]), (sub.into(), legacy.into(), 58, 1, 4));
    let inner = &e[48..];
    let ih = check(inner);
    assert_eq!((ih.src, ih.dst), (legacy.into(), sub.into()));
    assert_eq!(ports(inner), (3333, 443));
}
