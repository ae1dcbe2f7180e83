//! BPF_PROG_TEST_RUN fixtures for the AF_XDP steering in `xdp_proxy`
//! (issue 5, proxy-ebpf/src/xsk_steer.rs): which frames go to the ESP
//! workers' sockets, and the counted fallback when no socket is bound.

use std::net::IpAddr;

use integration_tests::{Netns, XdpFixture, in_netns};
use proxy_common::counters::Counter;
use proxy_ctl::esp::afxdp::{BindMode, WAN_SLOT, socket::Xsk};
use std::os::fd::BorrowedFd;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
const SPI: u32 = 0x1234_5678;

fn eth(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn ipv4(dst: [u8; 4], proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 1, 0, 11];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&dst);
    let c = proxy_proto::checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    eth(0x0800, &h)
}

fn ipv6(dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&"2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(payload);
    eth(0x86dd, &h)
}

fn esp(spi: u32) -> Vec<u8> {
    let mut e = spi.to_be_bytes().to_vec();
    e.extend_from_slice(&[0, 0, 0, 1]);
    e.extend_from_slice(&[0xab; 32]);
    e
}

struct Fixture {
    x: XdpFixture,
}

impl Fixture {
    fn new() -> Fixture {
        let x = XdpFixture::load("hp-xskfix-", "[nat]\nwan_v4 = \"192.0.2.1\"\n[pool]\nv4 = \"100.64.0.0/24\"\n");
        Fixture { x }
    }

    fn counter(&self, c: Counter) -> u64 {
        self.x.counter(c)
    }

    /// Run one frame: its verdict, and whether `counter` moved by one.
    fn run(&mut self, frame: &[u8], counter: Counter) -> (u32, bool) {
        let before = self.counter(counter);
        let (v, _) = self.x.dp.test_run(frame).unwrap();
        (v, self.counter(counter) == before + 1)
    }
}

#[test]
fn xsk_steering_verdicts() {
    let mut f = Fixture::new();
    let sub: IpAddr = "100.64.0.10".parse().unwrap();
    let esp4 = ipv4([192, 0, 2, 1], 50, 0, &esp(SPI));
    let esp6 = ipv6("2001:db8::1", 50, &esp(SPI));
    let udp_to_sub = ipv4([100, 64, 0, 10], 17, 0, &[0x9c, 0x40, 0, 53, 0, 9, 0, 0, 0x78]);

    // Nothing steered yet: the NAT path decides, no steering counter moves.
    let (v, moved) = f.run(&esp4, Counter::XskSteeredEsp);
    assert!(v != XDP_REDIRECT && !moved, "unknown SPI: not steered");
    let (v, moved) = f.run(&udp_to_sub, Counter::XskMissing);
    assert_eq!((v, moved), (XDP_DROP, false), "substitute without steering: the NAT's no-mapping drop");

    // Steered, but no socket bound: counted, and the slow path gets it.
    f.x.dp.xsk_steer_spi(SPI, true).unwrap();
    f.x.dp.xsk_steer_substitute(sub, true).unwrap();
    assert_eq!(f.run(&esp4, Counter::XskMissing), (XDP_PASS, true), "ESP, no WAN socket");
    let (v, moved) = f.run(&udp_to_sub, Counter::XskMissing);
    assert!(moved && v != XDP_REDIRECT, "substitute, no LAN socket");

    // Sockets bound (on lo of a scratch namespace; test runs never send).
    let ns = Netns::new("xf");
    let (lan, wan) = in_netns(&ns.name, || {
        (Xsk::open("lo", 0, BindMode::Copy).expect("AF_XDP socket"), Xsk::open("lo", 0, BindMode::Copy).err())
    })
    .join()
    .unwrap();
    // One (interface, queue) takes one UMEM owner: the second open fails
    // with a clear error, not a crash.
    assert!(wan.is_some(), "a second socket on the same queue is refused");
    let fd = unsafe { BorrowedFd::borrow_raw(lan.raw_fd()) };
    f.x.dp.xsk_bind(WAN_SLOT, fd).unwrap();
    assert_eq!(f.run(&esp4, Counter::XskSteeredEsp), (XDP_REDIRECT, true), "ESP (IPv4) to the WAN socket");
    assert_eq!(f.run(&esp6, Counter::XskSteeredEsp), (XDP_REDIRECT, true), "ESP (IPv6) to the WAN socket");
    let (v, moved) = f.run(&udp_to_sub, Counter::XskMissing);
    assert!(moved && v != XDP_REDIRECT, "the LAN slot is still empty");
    f.x.dp.xsk_bind(0, fd).unwrap();
    assert_eq!(f.run(&udp_to_sub, Counter::XskSteeredLan), (XDP_REDIRECT, true), "substitute to the LAN socket");

    // Never steered: fragments, cut ESP headers, other SPIs, other frames.
    let frag = ipv4([100, 64, 0, 10], 17, 0x2000, &[0u8; 16]);
    assert_ne!(f.run(&frag, Counter::XskSteeredLan).0, XDP_REDIRECT, "fragment");
    let cut = ipv4([192, 0, 2, 1], 50, 0, &esp(SPI)[..6]);
    assert_ne!(f.run(&cut, Counter::XskSteeredEsp).0, XDP_REDIRECT, "ESP header cut short");
    assert_ne!(f.run(&ipv4([192, 0, 2, 1], 50, 0, &esp(SPI + 1)), Counter::XskSteeredEsp).0, XDP_REDIRECT);
    let mut arp = eth(0x0806, &[0u8; 28]);
    arp[0..6].fill(0xff);
    assert_eq!(f.run(&arp, Counter::RxPackets), (XDP_PASS, true), "ARP");
    assert_ne!(f.run(&eth(0x0800, &[0x45]), Counter::RxPackets).0, XDP_REDIRECT, "truncated IPv4");

    // Unsteered again: back to the NAT path.
    f.x.dp.xsk_steer_substitute(sub, false).unwrap();
    f.x.dp.xsk_steer_spi(SPI, false).unwrap();
    assert_eq!(f.run(&udp_to_sub, Counter::DropNoMapping), (XDP_DROP, true));
    assert_ne!(f.run(&esp4, Counter::RxPackets).0, XDP_REDIRECT);
    f.x.dp.xsk_unbind(0).unwrap();
    f.x.dp.xsk_unbind(WAN_SLOT).unwrap();
    drop(lan);
}
