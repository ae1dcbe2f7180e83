//! Issue 3 (first step): the proxy as the LAN's resolver, with a real
//! dnsmasq upstream serving a HIP RR (RFC 8005).

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    str::FromStr,
    sync::{Arc, Barrier},
    time::Duration,
};

use integration_tests::{in_netns, sockets};
use proxy_proto::dns::HipRdata;

use crate::topo::*;

/// RFC 8005 §6's example record (HIT and RSA key), without rendezvous servers.
const HIP_RR_TEXT: &str = "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kdig(ns: &str, name: &str, rtype: &str) -> Vec<String> {
    kdig_opts(ns, name, rtype, "")
}

fn kdig_opts(ns: &str, name: &str, rtype: &str, opts: &str) -> Vec<String> {
    let cmd = format!("ip netns exec {ns} kdig @10.1.0.1 {name} {rtype} +short +timeout=3 +retry=1 {opts}");
    integration_tests::sh(&cmd).lines().map(str::to_owned).collect()
}

#[test]
fn dns_hip_name_gets_a_working_substitute() {
    let mut t = Topo::with(true, 300, "[dns]\nlisten = \"10.1.0.1:53\"\nupstream = \"192.0.2.10:53\"\n");
    // Start from an empty mapping table: every mapping below comes from DNS.
    for sub in [SUB_V4, SUB_V6] {
        assert!(t.proxy.ctl(&format!("mapping del {sub}")).0);
    }
    let rr = HipRdata::from_str(HIP_RR_TEXT).expect("RFC 8005 example parses");
    let hex: String = rr.to_bytes().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    let dnsmasq = Dnsmasq(
        Command::new("ip")
            .args(["netns", "exec", &t.server.name, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts"])
            .args(["--conf-file=/dev/null", "--listen-address=192.0.2.10", "--bind-interfaces", "--local-ttl=60"])
            .arg("--local=/example/")
            .arg("--host-record=hip.example,192.0.2.10")
            .arg(format!("--dns-rr=hip.example,55,{hex}"))
            .arg("--host-record=plain.example,192.0.2.10")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq"),
    );
    assert!(integration_tests::wait_until(10, || integration_tests::sh_try(&format!(
        "ip netns exec {} kdig @192.0.2.10 plain.example A +short +timeout=1",
        t.server.name
    ))
    .1
    .contains("192.0.2.10")));

    // A name with a HIP RR: a substitute from the pool, mapped to the host.
    let a = kdig(&t.legacy[0].name, "hip.example", "A");
    assert_eq!(a.len(), 1, "one A record: {a:?}");
    let sub: IpAddr = a[0].parse().unwrap();
    assert!(matches!(sub, IpAddr::V4(v) if v.octets()[..3] == [100, 64, 0]), "substitute {sub} not from the pool");
    assert_eq!(kdig(&t.legacy[1].name, "hip.example", "A"), a, "the same HIT gets the same substitute");
    assert_eq!(kdig_opts(&t.legacy[1].name, "hip.example", "A", "+tcp"), a, "over TCP too");
    let maps = t.proxy.ctl_json("mapping list");
    let m = maps["mappings"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{maps}");
    assert_eq!(m[0]["substitute"], sub.to_string());
    assert_eq!(m[0]["peer"], SERVER_V4);

    // A name without HIP RR passes through unchanged.
    assert_eq!(kdig(&t.legacy[0].name, "plain.example", "A"), vec!["192.0.2.10".to_owned()]);
    assert_eq!(kdig_opts(&t.legacy[0].name, "plain.example", "A", "+tcp"), vec!["192.0.2.10".to_owned()]);

    // And the substitute carries a real connection.
    let srv_addr = SocketAddr::new(SERVER_V4.parse().unwrap(), 8080);
    let ready = Arc::new(Barrier::new(2));
    let r2 = ready.clone();
    let srv = in_netns(&t.server.name, move || {
        let l = TcpListener::bind(srv_addr).unwrap();
        r2.wait();
        sockets::tcp_echo(l, 1, Default::default());
    });
    ready.wait();
    let dst = SocketAddr::new(sub, 8080);
    in_netns(&t.legacy[0].name, move || {
        let mut s =
            std::net::TcpStream::connect_timeout(&dst, Duration::from_secs(5)).expect("connect via the DNS substitute");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello hip host").unwrap();
        let mut buf = [0u8; 14];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello hip host");
    })
    .join()
    .unwrap();
    srv.join().unwrap();

    // After a daemon restart the pool starts empty but the pinned mapping
    // stays: its substitute is reserved, never handed to another mapping.
    t.proxy.stop();
    t.proxy.spawn(false);
    let again: IpAddr = kdig(&t.legacy[0].name, "hip.example", "A")[0].parse().unwrap();
    assert_ne!(again, sub, "a substitute still mapped must not be allocated afresh");
    let maps = t.proxy.ctl_json("mapping list");
    let peers: Vec<(String, String)> = maps["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["substitute"].as_str().unwrap().to_owned(), m["peer"].as_str().unwrap().to_owned()))
        .collect();
    assert!(peers.contains(&(sub.to_string(), SERVER_V4.to_owned())), "old mapping kept: {peers:?}");
    assert!(peers.contains(&(again.to_string(), SERVER_V4.to_owned())), "new mapping installed: {peers:?}");
    drop(dnsmasq);
}
