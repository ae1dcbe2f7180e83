//! BPF_PROG_TEST_RUN fixtures: frames fed straight to `xdp_proxy`, no
//! interface involved; each checks the verdict, the bytes the program left
//! and the counter that must move. Malformed and unsupported input must be
//! a counted drop or an untouched pass, never anything else.

use std::net::Ipv4Addr;

use integration_tests::XdpFixture;
use proxy_common::counters::Counter;
use proxy_proto::checksum;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

const LEGACY: [u8; 4] = [10, 1, 0, 11];
const SUB: [u8; 4] = [100, 64, 0, 10];
const WAN: [u8; 4] = [192, 0, 2, 1];
const PEER: [u8; 4] = [198, 51, 100, 7];

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, ttl, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    f
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8], with_checksum: bool) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    if with_checksum {
        let ph =
            checksum::pseudo_header_sum(Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into(), 17, u.len() as u32);
        let c = checksum::finish(checksum::sum(&u, ph.unwrap()));
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    u
}

/// The IPv4 header checksum and the UDP checksum (if not zero) verify.
fn assert_checksums_ok(frame: &[u8]) {
    let ip = &frame[14..34];
    assert_eq!(checksum::checksum(ip), 0, "IPv4 header checksum");
    let (src, dst): ([u8; 4], [u8; 4]) = (ip[12..16].try_into().unwrap(), ip[16..20].try_into().unwrap());
    let l4 = &frame[34..];
    if ip[9] == 17 && l4[6..8] == [0, 0] {
        return;
    }
    let ph =
        checksum::pseudo_header_sum(Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into(), ip[9], l4.len() as u32);
    assert_eq!(checksum::finish(checksum::sum(l4, ph.unwrap())), 0, "transport checksum");
}

/// `xdp_proxy` with one IPv4 mapping SUB -> PEER (and one the daemon would
/// refuse), as the table below expects.
struct Fixture {
    x: XdpFixture,
}

impl Fixture {
    fn new() -> Fixture {
        let x = XdpFixture::load(
            "hp-fix-",
            "[nat]\nwan_v4 = \"192.0.2.1\"\nwan_v6 = \"2001:db8::1\"\n[pool]\nv4 = \"100.64.0.0/24\"\nv6 = \"fd00:64::/96\"\n",
        );
        let mut f = Fixture { x };
        f.x.dp.mapping_add(Ipv4Addr::from(SUB).into(), Ipv4Addr::from(PEER).into()).unwrap();
        // A mapping the daemon would refuse (family mismatch), written
        // straight to the map to prove the datapath still refuses it.
        f.x.dp.mapping_add(Ipv4Addr::new(100, 64, 0, 11).into(), "2001:db8::7".parse().unwrap()).unwrap();
        f
    }

    fn counter(&self, c: Counter) -> u64 {
        self.x.counter(c)
    }

    /// Run one frame; assert the verdict and that `counter` moved by one.
    fn run(&mut self, name: &str, frame: &[u8], verdict: u32, counter: Counter) -> Vec<u8> {
        let before = self.counter(counter);
        let (v, out) = self.x.dp.test_run(frame).unwrap_or_else(|e| panic!("{name}: test_run: {e}"));
        assert_eq!(v, verdict, "{name}: verdict");
        assert_eq!(self.counter(counter), before + 1, "{name}: counter {} did not move", counter.name());
        out
    }
}

#[test]
fn xdp_fixture_table() {
    let mut f = Fixture::new();

    // A legacy host's datagram to the substitute: translated toward the peer.
    let fwd = ipv4(LEGACY, SUB, 17, 64, 0x4000, &udp(LEGACY, SUB, 40000, 53, b"query", true));
    let out = f.run("udp forward", &fwd, XDP_PASS, Counter::NatForward);
    assert_eq!(&out[26..30], &WAN, "source = the proxy's WAN address");
    assert_eq!(&out[30..34], &PEER, "destination = the peer");
    let nat_port = u16::from_be_bytes([out[34], out[35]]);
    assert!((61000..=65535).contains(&nat_port), "proxy port {nat_port}");
    assert_eq!(&out[36..38], &53u16.to_be_bytes());
    assert_eq!(&out[42..], b"query");
    assert_checksums_ok(&out);

    // The peer's reply to that port: translated back to the legacy host.
    let reply = ipv4(PEER, WAN, 17, 64, 0, &udp(PEER, WAN, 53, nat_port, b"answer", true));
    let out = f.run("udp reply", &reply, XDP_PASS, Counter::NatReverse);
    assert_eq!(&out[26..30], &SUB, "source = the substitute");
    assert_eq!(&out[30..34], &LEGACY);
    assert_eq!(&out[36..38], &40000u16.to_be_bytes());
    assert_checksums_ok(&out);

    // A zero UDP checksum (none, RFC 768) stays zero.
    let nock = ipv4(LEGACY, SUB, 17, 64, 0, &udp(LEGACY, SUB, 40001, 53, b"x", false));
    let out = f.run("udp without checksum", &nock, XDP_PASS, Counter::NatForward);
    assert_eq!(&out[40..42], &[0, 0]);
    assert_checksums_ok(&out);

    // ICMP echo request: the identifier is translated, checksum kept right.
    let mut echo = vec![8, 0, 0, 0, 0x42, 0x42, 0, 1];
    echo.extend_from_slice(b"ping");
    let c = checksum::checksum(&echo);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let out = f.run("icmp echo", &ipv4(LEGACY, SUB, 1, 64, 0, &echo), XDP_PASS, Counter::NatForward);
    assert_ne!(&out[38..40], &[0x42, 0x42], "echo identifier translated");
    assert_eq!(checksum::checksum(&out[34..]), 0, "ICMP checksum");

    // Bad and unsupported input: counted drops, or passes untouched.
    let frag = ipv4(LEGACY, SUB, 17, 64, 0x2000, &udp(LEGACY, SUB, 40000, 53, b"frag", true));
    f.run("fragment to a substitute", &frag, XDP_DROP, Counter::DropFragment);
    let unmapped = ipv4(LEGACY, [100, 64, 0, 99], 17, 64, 0, &udp(LEGACY, [100, 64, 0, 99], 1, 2, b"", true));
    f.run("unmapped pool address", &unmapped, XDP_DROP, Counter::DropNoMapping);
    let gre = ipv4(LEGACY, SUB, 47, 64, 0, &[0u8; 8]);
    f.run("GRE to a substitute", &gre, XDP_DROP, Counter::DropUnsupportedProto);
    let icmp_err = ipv4(LEGACY, SUB, 1, 64, 0, &[3, 3, 0, 0, 0, 0, 0, 0]);
    f.run("ICMP error from the LAN", &icmp_err, XDP_DROP, Counter::DropUnsupportedProto);
    let cut = ipv4(LEGACY, SUB, 17, 64, 0, &[0x9c, 0x40, 0, 53]);
    f.run("UDP header cut short", &cut, XDP_DROP, Counter::DropMalformed);
    let other_family = ipv4(LEGACY, [100, 64, 0, 11], 17, 64, 0, &udp(LEGACY, [100, 64, 0, 11], 1, 2, b"", true));
    f.run("IPv4 substitute mapped to IPv6", &other_family, XDP_DROP, Counter::DropFamilyMismatch);

    let ttl1 = ipv4(LEGACY, SUB, 17, 1, 0, &udp(LEGACY, SUB, 40002, 53, b"ttl", true));
    let out = f.run("TTL 1", &ttl1, XDP_PASS, Counter::TtlExpired);
    assert_eq!(out, ttl1, "TTL-expiring packets pass untranslated (the kernel answers them)");

    let short = ipv4(LEGACY, SUB, 17, 64, 0, &[])[..24].to_vec();
    let out = f.run("truncated IPv4 header", &short, XDP_PASS, Counter::RxPackets);
    assert_eq!(out, short);
    let stranger = ipv4(LEGACY, [203, 0, 113, 5], 17, 64, 0, &udp(LEGACY, [203, 0, 113, 5], 1, 2, b"", true));
    let out = f.run("not ours", &stranger, XDP_PASS, Counter::NotOurs);
    assert_eq!(out, stranger);
    let mut arp = vec![0xffu8; 14];
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    arp.extend_from_slice(&[0u8; 28]);
    let out = f.run("ARP", &arp, XDP_PASS, Counter::RxPackets);
    assert_eq!(out, arp);
    let to_wan = ipv4(PEER, WAN, 17, 64, 0, &udp(PEER, WAN, 53, 12345, b"", true));
    let out = f.run("to the proxy itself, no flow", &to_wan, XDP_PASS, Counter::NotOurs);
    assert_eq!(out, to_wan);
}
