//! Issue 2: substitute-address NAT with port translation in XDP.

use std::{
    io::{Read, Write},
    mem::size_of,
    net::{IpAddr, SocketAddr, TcpListener, UdpSocket},
    sync::{Arc, Barrier, Mutex},
    time::Duration,
};

use integration_tests::{in_netns, sockets};

use crate::topo::*;

const LEGACY_PORT: u16 = 40000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Two legacy hosts, same source port, at the same time, one substitute:
/// the server sees the proxy's address with two distinct proxy ports, and
/// payloads arrive intact both ways.
fn two_hosts_tcp(t: &Topo, sub: &str, server: &str, wan: &str) {
    let seen = sockets::Seen::default();
    let (srv_addr, seen2) = (SocketAddr::new(ip(server), 8080), seen.clone());
    let ready = Arc::new(Barrier::new(2));
    let r2 = ready.clone();
    let srv = in_netns(&t.server.name, move || {
        let l = TcpListener::bind(srv_addr).unwrap();
        r2.wait();
        sockets::tcp_echo(l, 2, seen2);
    });
    ready.wait();
    let both = Arc::new(Barrier::new(2));
    let clients: Vec<_> = (0..2u8)
        .map(|i| {
            let both = both.clone();
            let dst = SocketAddr::new(ip(sub), 8080);
            in_netns(&t.legacy[i as usize].name, move || {
                let mut s = sockets::tcp_connect_from(LEGACY_PORT, dst).expect("connect through the proxy");
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                // Both connections are open at once before any data moves.
                both.wait();
                let data = sockets::payload(i, 256 * 1024);
                let mut w = s.try_clone().unwrap();
                let d2 = data.clone();
                let writer = std::thread::spawn(move || {
                    w.write_all(&d2).unwrap();
                    w.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert_eq!(back.len(), data.len(), "host {i}: echo length");
                assert!(back == data, "host {i}: echoed bytes differ");
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    srv.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for p in &seen {
        assert_eq!(p.ip(), ip(wan), "server must see the proxy's address, saw {p}");
        assert!((61000..=65535).contains(&p.port()), "proxy port {} outside the NAT range", p.port());
    }
    assert_ne!(seen[0].port(), seen[1].port(), "two legacy hosts share a proxy port: {seen:?}");
}

fn two_hosts_udp(t: &Topo, sub: &str, server: &str, wan: &str) {
    let seen = sockets::Seen::default();
    let srv_addr = SocketAddr::new(ip(server), 9000);
    let sock = {
        let h = in_netns(&t.server.name, move || UdpSocket::bind(srv_addr).unwrap());
        h.join().unwrap()
    };
    let seen2 = seen.clone();
    let srv = std::thread::spawn(move || sockets::udp_echo(sock, 6, seen2));
    let both = Arc::new(Barrier::new(2));
    let clients: Vec<_> = (0..2u8)
        .map(|i| {
            let both = both.clone();
            let dst = SocketAddr::new(ip(sub), 9000);
            in_netns(&t.legacy[i as usize].name, move || {
                let bind = if dst.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], LEGACY_PORT))
                } else {
                    SocketAddr::from(([0u16; 8], LEGACY_PORT))
                };
                let s = UdpSocket::bind(bind).unwrap();
                s.connect(dst).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                both.wait();
                for k in 0..3u8 {
                    let data = sockets::payload(i * 10 + k, 1200);
                    s.send(&data).unwrap();
                    let mut buf = [0u8; 2048];
                    let n = s.recv(&mut buf).expect("UDP echo through the proxy");
                    assert_eq!(&buf[..n], &data[..], "host {i}: UDP echo differs");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("udp client");
    }
    srv.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    let mut ports: Vec<u16> = seen.iter().map(|p| p.port()).collect();
    assert!(seen.iter().all(|p| p.ip() == ip(wan)), "{seen:?}");
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 2, "two legacy hosts must get two proxy ports: {seen:?}");
}

fn two_hosts_icmp(t: &Topo, sub: &str) {
    let dst = ip(sub);
    let clients: Vec<_> =
        (0..2).map(|i| in_netns(&t.legacy[i].name, move || sockets::icmp_echo(dst, 0x4242, 3))).collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 3, "ICMP echo through the proxy");
    }
    let flows = t.proxy.ctl_json("nat list");
    let proto = if dst.is_ipv4() { "icmp" } else { "icmpv6" };
    let mut nat_ids: Vec<u64> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["proto"] == proto && f["legacy_port"] == 0x4242 && f["substitute"] == sub)
        .map(|f| f["nat_port"].as_u64().unwrap())
        .collect();
    nat_ids.sort();
    nat_ids.dedup();
    assert_eq!(nat_ids.len(), 2, "same echo id from two hosts needs two proxy ids: {flows}");
}

#[test]
fn nat_two_legacy_hosts_same_port_v4() {
    let t = Topo::new(true);
    two_hosts_tcp(&t, SUB_V4, SERVER_V4, WAN_V4);
    two_hosts_udp(&t, SUB_V4, SERVER_V4, WAN_V4);
    two_hosts_icmp(&t, SUB_V4);
    assert!(t.proxy.counter("redirected") > 0, "fast path unused");
    assert!(t.proxy.counter("nat_flow_created") >= 6);
    let maps = t.proxy.ctl_json("mapping list");
    let m = maps["mappings"].as_array().unwrap().iter().find(|m| m["substitute"] == SUB_V4).unwrap().clone();
    assert!(m["flows"].as_u64().unwrap() >= 4, "flow count per mapping: {m}");
}

#[test]
fn nat_two_legacy_hosts_same_port_v6() {
    let t = Topo::new(true);
    two_hosts_tcp(&t, SUB_V6, SERVER_V6, WAN_V6);
    two_hosts_udp(&t, SUB_V6, SERVER_V6, WAN_V6);
    two_hosts_icmp(&t, SUB_V6);
    assert!(t.proxy.counter("redirected") > 0, "fast path unused");
}

/// With `redirect = false` the rewritten packets take the kernel's
/// forwarding path; the translation is the same.
#[test]
fn nat_through_kernel_forwarding() {
    let t = Topo::new(false);
    two_hosts_tcp(&t, SUB_V4, SERVER_V4, WAN_V4);
    assert_eq!(t.proxy.counter("redirected"), 0);
    assert!(t.proxy.counter("passed_to_kernel") > 0);
}

/// An ICMP port unreachable about a translated UDP flow reaches the legacy
/// host translated: its connected socket sees ECONNREFUSED.
#[test]
fn nat_icmp_errors_are_translated() {
    let t = Topo::new(true);
    for sub in [SUB_V4, SUB_V6] {
        let dst = SocketAddr::new(ip(sub), 9999); // nobody listens there
        let refused = in_netns(&t.legacy[0].name, move || {
            let bind =
                if dst.is_ipv4() { SocketAddr::from(([0, 0, 0, 0], 0)) } else { SocketAddr::from(([0u16; 8], 0)) };
            let s = UdpSocket::bind(bind).unwrap();
            s.connect(dst).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.send(b"anyone?").unwrap();
            let mut buf = [0u8; 64];
            match s.recv(&mut buf) {
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
                Ok(_) => false,
            }
        })
        .join()
        .unwrap();
        assert!(refused, "{sub}: the legacy host did not get the translated port unreachable");
    }
    assert!(t.proxy.counter("icmp_error_translated") >= 2);
}

/// Pinned maps: a TCP connection through the proxy survives the daemon
/// being stopped and started again, and so do the mappings.
#[test]
fn nat_state_survives_daemon_restart() {
    let mut t = Topo::new(true);
    let srv_addr = SocketAddr::new(ip(SERVER_V4), 8081);
    let ready = Arc::new(Barrier::new(2));
    let r2 = ready.clone();
    let srv = in_netns(&t.server.name, move || {
        let l = TcpListener::bind(srv_addr).unwrap();
        r2.wait();
        sockets::tcp_echo(l, 1, Arc::new(Mutex::new(Vec::new())));
    });
    ready.wait();
    let dst = SocketAddr::new(ip(SUB_V4), 8081);
    let conn = in_netns(&t.legacy[0].name, move || {
        let mut s = std::net::TcpStream::connect_timeout(&dst, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"before restart").unwrap();
        let mut buf = [0u8; 14];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"before restart");
        s
    })
    .join()
    .unwrap();
    let flows_before = t.proxy.ctl_json("nat list")["flows"].as_array().unwrap().len();
    t.proxy.stop();
    let (ok, _, err) = t.proxy.ctl("stats");
    assert!(!ok && err.contains("cannot reach the daemon"), "stopped daemon answered: {err}");
    t.proxy.spawn(false);
    assert!(t.proxy.log().contains("restored_mappings=2"), "{}", t.proxy.log());
    let flows_after = t.proxy.ctl_json("nat list")["flows"].as_array().unwrap().len();
    assert_eq!(flows_before, flows_after, "NAT flows lost in the restart");
    let h = in_netns(&t.legacy[0].name, move || {
        let mut s = conn;
        s.write_all(b"after restart!").unwrap();
        let mut buf = [0u8; 14];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after restart!");
    });
    h.join().expect("the connection must survive the restart");
    srv.join().unwrap();
}

#[test]
fn cli_errors_are_clear() {
    let t = Topo::new(true);
    let cases = [
        ("mapping add 100.64.0.300 192.0.2.10", "invalid"),
        ("mapping add 10.9.9.9 192.0.2.10", "not in a substitute pool"),
        (&format!("mapping add {SUB_V4} 192.0.2.11") as &str, "already has a mapping"),
        ("mapping add 100.64.0.20 2001:db8::10", "different IP families"),
        ("mapping add 100.64.0.20 224.0.0.1", "not a usable unicast"),
        ("mapping del 100.64.0.99", "no mapping for"),
        ("frobnicate", "unrecognized subcommand"),
    ];
    for (args, want) in cases {
        let (ok, _, err) = t.proxy.ctl(args);
        assert!(!ok, "`{args}` should fail");
        assert!(err.contains(want), "`{args}`: expected {want:?} in: {err}");
    }
    // State unchanged by the failed calls.
    let maps = t.proxy.ctl_json("mapping list");
    assert_eq!(maps["mappings"].as_array().unwrap().len(), 2, "{maps}");
    let (ok, _, err) = integration_tests::sh_try(&format!(
        "{} --socket /tmp/hp-no-such-daemon.sock stats",
        integration_tests::proxy_ctl_bin()
    ));
    assert!(!ok && err.contains("cannot reach the daemon"), "{err}");
    // Delete works, and a deleted mapping stops translating.
    let (ok, _, err) = t.proxy.ctl(&format!("mapping del {SUB_V6}"));
    assert!(ok, "{err}");
    let before = t.proxy.counter("drop_no_mapping");
    let dst = SocketAddr::new(ip(SUB_V6), 8080);
    let _ = in_netns(&t.legacy[0].name, move || {
        std::net::TcpStream::connect_timeout(&dst, Duration::from_millis(500)).is_err()
    })
    .join()
    .unwrap();
    assert!(t.proxy.counter("drop_no_mapping") > before, "packets to an unmapped substitute must be counted drops");
}

/// Idle flows are garbage-collected (both map entries), and a new packet
/// of the same flow afterwards gets a fresh translation.
#[test]
fn nat_idle_flows_expire() {
    let t = Topo::with_udp_timeout(true, 2);
    let srv_addr = SocketAddr::new(ip(SERVER_V4), 9100);
    let sock = in_netns(&t.server.name, move || UdpSocket::bind(srv_addr).unwrap()).join().unwrap();
    let seen = sockets::Seen::default();
    let seen2 = seen.clone();
    let srv = std::thread::spawn(move || sockets::udp_echo(sock, 2, seen2));
    let dst = SocketAddr::new(ip(SUB_V4), 9100);
    let client = in_netns(&t.legacy[0].name, move || {
        let s = UdpSocket::bind("0.0.0.0:40001").unwrap();
        s.connect(dst).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send(b"one").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(s.recv(&mut buf).unwrap(), 3);
        s
    })
    .join()
    .unwrap();
    let udp_flows = |t: &Topo| {
        t.proxy.ctl_json("nat list")["flows"].as_array().unwrap().iter().filter(|f| f["proto"] == "udp").count()
    };
    assert_eq!(udp_flows(&t), 1);
    // 2 s idle timeout, GC every second.
    assert!(integration_tests::wait_until(6, || udp_flows(&t) == 0), "idle UDP flow not collected");
    in_netns(&t.legacy[0].name, move || {
        client.send(b"two").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(client.recv(&mut buf).unwrap(), 3, "the flow works again after expiry");
    })
    .join()
    .unwrap();
    srv.join().unwrap();
    assert_eq!(udp_flows(&t), 1);
    assert_eq!(t.proxy.counter("nat_flow_created"), 2);
}

/// Path-MTU discovery through the NAT: a router behind the proxy has a
/// 1280-byte link; its "fragmentation needed" (IPv4) / "packet too big"
/// (IPv6) about the translated flow reaches the legacy host translated, so
/// the legacy host's next oversized send fails with EMSGSIZE: its kernel
/// learnt the path MTU toward the substitute address.
#[test]
fn nat_path_mtu_discovery_works() {
    use integration_tests::Netns;
    let legacy = Netns::new("m");
    let pns = Netns::new("q");
    let router = Netns::new("r");
    let server = Netns::new("w");
    legacy.veth("eth0", &pns, "lan0");
    pns.veth("wan0", &router, "up0");
    router.veth("down0", &server, "eth0");
    legacy.addr("eth0", "10.1.0.11/24");
    legacy.addr("eth0", "fd01::11/64");
    legacy.route("default via 10.1.0.1");
    legacy.route("default via fd01::1");
    pns.addr("lan0", "10.1.0.1/24");
    pns.addr("lan0", "fd01::1/64");
    pns.addr("wan0", "192.0.2.1/24");
    pns.addr("wan0", "2001:db8::1/64");
    pns.route("198.51.100.0/24 via 192.0.2.254");
    pns.route("2001:db8:1::/64 via 2001:db8::fe");
    router.addr("up0", "192.0.2.254/24");
    router.addr("up0", "2001:db8::fe/64");
    router.addr("down0", "198.51.100.1/24");
    router.addr("down0", "2001:db8:1::1/64");
    router.forwarding();
    router.sh("ip link set down0 mtu 1280");
    server.sh("ip link set eth0 mtu 1280");
    server.addr("eth0", "198.51.100.10/24");
    server.addr("eth0", "2001:db8:1::10/64");
    server.route("default via 198.51.100.1");
    server.route("default via 2001:db8:1::1");
    let proxy = integration_tests::Proxy::start(
        &pns,
        &integration_tests::ProxyConfig {
            lan: "lan0".into(),
            wan: "wan0".into(),
            wan_v4: "192.0.2.1".into(),
            wan_v6: "2001:db8::1".into(),
            pool_v4: "100.64.0.0/24".into(),
            pool_v6: "fd00:64::/96".into(),
            redirect: true,
            udp_secs: 300,
            extra: String::new(),
        },
    );
    proxy.xdp_pass(&router, "up0");
    proxy.xdp_pass(&legacy, "eth0");
    for (sub, peer) in [("100.64.0.20", "198.51.100.10"), ("fd00:64::20", "2001:db8:1::10")] {
        let (ok, _, err) = proxy.ctl(&format!("mapping add {sub} {peer}"));
        assert!(ok, "{err}");
    }
    for sub in ["100.64.0.20", "fd00:64::20"] {
        let dst = SocketAddr::new(ip(sub), 9200);
        let learnt = in_netns(&legacy.name, move || {
            let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = UdpSocket::bind(bind).unwrap();
            s.connect(dst).unwrap();
            // Never fragment locally: DF on IPv4, no fragmentation on IPv6.
            let (level, opt, val) = if dst.is_ipv4() {
                (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)
            } else {
                (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_DO)
            };
            use std::os::fd::AsRawFd;
            // SAFETY: setsockopt with a valid int option on our socket.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    level,
                    opt,
                    &val as *const _ as *const _,
                    size_of::<libc::c_int>() as u32,
                )
            };
            assert_eq!(rc, 0);
            let big = vec![7u8; 1400];
            s.send(&big).expect("first 1400-byte datagram leaves (the router will refuse it)");
            // Wait for the translated ICMP to teach the kernel the path MTU.
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                match s.send(&big) {
                    Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => return true,
                    _ => {}
                }
            }
            false
        })
        .join()
        .unwrap();
        assert!(learnt, "{sub}: the legacy host never learnt the path MTU (ICMP not translated)");
    }
    assert!(proxy.counter("icmp_error_translated") >= 2);
    drop(proxy);
}
