//! Issue 3 (first step): the proxy as the LAN's resolver, with a real
//! dnsmasq upstream serving a HIP RR (RFC 8005).

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener},
    str::FromStr,
    sync::{Arc, Barrier},
    time::Duration,
};

use integration_tests::{Dnsmasq, Netns, in_netns, sockets};
use proxy_proto::dns::HipRdata;

use crate::topo::*;

/// RFC 8005 §6's example record (HIT and RSA key), without rendezvous servers.
const HIP_RR_TEXT: &str = "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

/// dnsmasq as the upstream on the server (192.0.2.10 and 2001:db8::10),
/// authoritative for `example` from `records` (dnsmasq options, TTL 60).
fn upstream_dns(server: &Netns, records: &[String]) -> Dnsmasq {
    upstream_dns_at(server, &format!("{SERVER_V4},{SERVER_V6}"), SERVER_V4, records)
}

/// Like [`upstream_dns`], on the `listen` addresses, checked at `check`.
fn upstream_dns_at(ns: &Netns, listen: &str, check: &str, records: &[String]) -> Dnsmasq {
    let mut r = vec!["--local-ttl=60".to_owned()];
    r.extend_from_slice(records);
    Dnsmasq::start(ns, listen, check, &r)
}

/// The hex RDATA dnsmasq's --dns-rr takes for a presentation-form HIP RR.
fn rr_hex(text: &str) -> String {
    let rr = HipRdata::from_str(text).expect("HIP RR text parses");
    rr.to_bytes().unwrap().iter().map(|b| format!("{b:02x}")).collect()
}

/// The RFC 8005 example record with the HIT's last byte replaced (a
/// distinct host identity tag per test host).
fn rr_text(last_hit_byte: u8) -> String {
    let key = HIP_RR_TEXT.split(' ').nth(2).unwrap();
    format!("2 200100107B1A74DF365639CC39F1D5{last_hit_byte:02X} {key}")
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
    let dnsmasq = upstream_dns(
        &t.server,
        &[
            "--host-record=hip.example,192.0.2.10".into(),
            format!("--dns-rr=hip.example,55,{hex}"),
            "--host-record=plain.example,192.0.2.10".into(),
        ],
    );

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

/// `[dns]` with steering: the legacy hosts' queries to any resolver
/// address reach the proxy's resolver at 10.1.0.1 / fd01::1.
const STEER_DNS: &str = "[dns]
listen = \"10.1.0.1:53\"
listen_v6 = \"[fd01::1]:53\"
upstream = \"192.0.2.10:53\"
intercept = true
upstream_timeout_ms = 1500
";

fn kdig_at(ns: &str, server: &str, name: &str, rtype: &str, opts: &str) -> Vec<String> {
    let cmd = format!("ip netns exec {ns} kdig @{server} {name} {rtype} +short +timeout=3 +retry=1 {opts}");
    integration_tests::sh(&cmd).lines().map(str::to_owned).collect()
}

/// The RCODE kdig reports ("NOERROR", "SERVFAIL", ...).
fn kdig_status(ns: &str, server: &str, name: &str, rtype: &str) -> String {
    let out =
        integration_tests::sh_try(&format!("ip netns exec {ns} kdig @{server} {name} {rtype} +timeout=4 +retry=0")).1;
    out.split("status: ").nth(1).and_then(|s| s.split([',', ';']).next()).unwrap_or("no answer").trim().to_owned()
}

/// A DNS counter of the daemon (`proxy-ctl stats`, "dns" list).
fn dns_counter(t: &Topo, name: &str) -> u64 {
    let v = t.proxy.ctl_json("stats");
    v["dns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no counter {name}"))
        ["value"]
        .as_u64()
        .unwrap()
}

/// Ask `name` (type `qtype`, numeric) of `server` over UDP from `ns` with
/// a plain socket; returns the source address of the answer and its bytes.
fn raw_udp_query(ns: &str, server: &str, name: &str, qtype: u16) -> (String, Vec<u8>) {
    let family = if server.contains(':') { "AF_INET6" } else { "AF_INET" };
    let py = format!(
        r#"
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
for label in "{name}".split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", {qtype}, 1)
s = socket.socket(socket.{family}, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, ("{server}", 53))
data, frm = s.recvfrom(4096)
print(frm[0], frm[1], data.hex())
"#
    );
    let out = integration_tests::sh(&format!("ip netns exec {ns} python3 -c '{py}'"));
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[1], "53", "answer from port 53: {out}");
    let bytes = (0..f[2].len()).step_by(2).map(|i| u8::from_str_radix(&f[2][i..i + 2], 16).unwrap()).collect();
    (f[0].to_owned(), bytes)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn drop_topo_mappings(t: &Topo) {
    for sub in [SUB_V4, SUB_V6] {
        assert!(t.proxy.ctl(&format!("mapping del {sub}")).0);
    }
}

fn hip_host_records(name: &str, last_hit_byte: u8) -> Vec<String> {
    vec![
        format!("--host-record={name},{SERVER_V4},{SERVER_V6}"),
        format!("--dns-rr={name},55,{}", rr_hex(&rr_text(last_hit_byte))),
    ]
}

#[test]
fn dns_queries_to_any_resolver_are_steered_udp_and_tcp() {
    let t = Topo::with(true, 300, STEER_DNS);
    drop_topo_mappings(&t);
    let mut records = hip_host_records("hip.example", 0x01);
    records.push("--host-record=plain.example,192.0.2.10".into());
    let _dnsmasq = upstream_dns(&t.server, &records);
    let ns = &t.legacy[0].name;

    // The legacy host's resolver is the upstream's own address: the proxy
    // is only its router, yet the answer carries a substitute.
    let a = kdig_at(ns, SERVER_V4, "hip.example", "A", "");
    assert_eq!(a.len(), 1, "one A record: {a:?}");
    let sub: IpAddr = a[0].parse().unwrap();
    assert!(matches!(sub, IpAddr::V4(v) if v.octets()[..3] == [100, 64, 0]), "substitute {sub} not from the pool");
    assert_eq!(kdig_at(ns, SERVER_V4, "hip.example", "A", "+tcp"), a, "TCP is steered too");
    // A resolver address nobody serves answers all the same.
    assert_eq!(kdig_at(ns, "198.51.100.53", "hip.example", "A", ""), a);
    assert_eq!(kdig_at(&t.legacy[1].name, "198.51.100.53", "hip.example", "A", "+tcp"), a);
    // IPv6 resolver address; AAAA from the IPv6 pool.
    let aaaa = kdig_at(ns, SERVER_V6, "hip.example", "AAAA", "");
    assert_eq!(aaaa.len(), 1, "{aaaa:?}");
    let sub6: IpAddr = aaaa[0].parse().unwrap();
    assert!(sub6.to_string().starts_with("fd00:64::"), "substitute {sub6} not from the IPv6 pool");
    assert_eq!(kdig_at(ns, SERVER_V6, "hip.example", "AAAA", "+tcp"), aaaa);
    // A names without HIP RR passes through the steering unchanged.
    assert_eq!(kdig_at(ns, SERVER_V4, "plain.example", "A", ""), vec!["192.0.2.10".to_owned()]);

    // The answer's source is the address asked, not the proxy's.
    for asked in [SERVER_V4, "198.51.100.53"] {
        let (from, bytes) = raw_udp_query(ns, asked, "hip.example", 1);
        assert_eq!(from, asked);
        let IpAddr::V4(v4) = sub else { unreachable!() };
        assert!(contains(&bytes, &v4.octets()), "the substitute is in the answer");
    }
    let (from, bytes) = raw_udp_query(ns, SERVER_V6, "hip.example", 28);
    assert_eq!(from, SERVER_V6);
    let IpAddr::V6(v6) = sub6 else { unreachable!() };
    assert!(contains(&bytes, &v6.octets()));

    // Asking the proxy's resolver directly still works, and is not steered.
    let before = t.proxy.counter("dns_steered");
    assert_eq!(kdig_at(ns, "10.1.0.1", "hip.example", "A", ""), a);
    assert_eq!(kdig_at(ns, "fd01::1", "hip.example", "AAAA", "+tcp"), aaaa);
    assert_eq!(t.proxy.counter("dns_steered"), before);

    // 5 UDP queries + 3 TCP connections of several packets each.
    assert!(t.proxy.counter("dns_steered") >= 5 + 3 * 3, "steered: {}", t.proxy.counter("dns_steered"));
    assert!(t.proxy.counter("dns_answer_restored") >= 5 + 3 * 2);
    assert!(dns_counter(&t, "dns_queries_udp") >= 7);
    assert!(dns_counter(&t, "dns_queries_tcp") >= 4);
    assert_eq!(dns_counter(&t, "dns_servfail"), 0);
    assert!(dns_counter(&t, "dns_passed") >= 1);
}

/// `/etc/netns/NS/resolv.conf`, which `ip netns exec NS` bind-mounts over
/// /etc/resolv.conf; removed on drop.
struct ResolvConf(std::path::PathBuf);

impl ResolvConf {
    fn new(ns: &str, text: &str) -> ResolvConf {
        let dir = std::path::PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("resolv.conf"), text).unwrap();
        ResolvConf(dir)
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn dns_stub_resolvers_getent_and_python_through_steering() {
    let t = Topo::with(true, 300, STEER_DNS);
    drop_topo_mappings(&t);
    let mut records = hip_host_records("hip.example", 0x02);
    records.push("--cname=alias.example,hip.example".into());
    records.push("--host-record=plain.example,192.0.2.10".into());
    let _dnsmasq = upstream_dns(&t.server, &records);
    let (udp_ns, tcp_ns) = (&t.legacy[0].name, &t.legacy[1].name);
    // The legacy hosts' configured resolver is the upstream itself; the
    // second host's glibc uses TCP only (use-vc).
    let _r0 = ResolvConf::new(udp_ns, &format!("nameserver {SERVER_V4}\noptions timeout:3 attempts:2\n"));
    let _r1 = ResolvConf::new(tcp_ns, &format!("nameserver {SERVER_V4}\noptions use-vc timeout:3 attempts:2\n"));
    let expected = kdig_at(udp_ns, "10.1.0.1", "hip.example", "A", "")[0].clone();
    let expected6 = kdig_at(udp_ns, "10.1.0.1", "hip.example", "AAAA", "")[0].clone();
    let tcp_before = dns_counter(&t, "dns_queries_tcp");
    for ns in [udp_ns, tcp_ns] {
        let getent = integration_tests::sh(&format!("ip netns exec {ns} getent ahostsv4 hip.example"));
        assert!(getent.starts_with(&format!("{expected} ")), "getent ahostsv4 in {ns}: {getent}");
        let alias = integration_tests::sh(&format!("ip netns exec {ns} getent ahostsv4 alias.example"));
        assert!(alias.starts_with(&format!("{expected} ")), "CNAME to a HIP name: {alias}");
        let plain = integration_tests::sh(&format!("ip netns exec {ns} getent hosts plain.example"));
        assert!(plain.starts_with("192.0.2.10 "), "plain name passes: {plain}");
        let py =
            "import socket; print(sorted({a[4][0] for a in socket.getaddrinfo(\"hip.example\", 80, socket.AF_INET6)}))";
        let v6 = integration_tests::sh(&format!("ip netns exec {ns} python3 -c '{py}'"));
        assert_eq!(v6.trim(), format!("['{expected6}']"), "getaddrinfo AAAA in {ns}");
        let py = "import socket; print(sorted({a[4][0] for a in socket.getaddrinfo(\"alias.example\", 80, socket.AF_INET)}))";
        let v4 = integration_tests::sh(&format!("ip netns exec {ns} python3 -c '{py}'"));
        assert_eq!(v4.trim(), format!("['{expected}']"), "getaddrinfo A in {ns}");
    }
    assert!(dns_counter(&t, "dns_queries_tcp") >= tcp_before + 5, "use-vc stub queried over TCP");
    assert!(t.proxy.counter("dns_steered") > 0);
    // One substitute per family for the HIT, whatever name led to it.
    let maps = t.proxy.ctl_json("mapping list");
    let names: Vec<&str> =
        maps["mappings"].as_array().unwrap().iter().filter_map(|m| m["dns"]["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "{maps}");
}

#[test]
fn dns_static_table_cname_chain_refuse_policy_and_malformed_upstream() {
    let extra = format!(
        "[dns]
listen = \"10.1.0.1:53\"
upstream = \"192.0.2.10:53\"
non_hip = \"refuse\"
max_ttl = 120

[[dns.host]]
name = \"static.example\"
hip_rr = \"{} rvs.example.\"
addresses = [\"{SERVER_V4}\"]
rendezvous = [{{ name = \"rvs.example\", addresses = [\"192.0.2.53\"] }}]
ttl = 30
",
        rr_text(0x33)
    );
    let t = Topo::with(true, 300, &extra);
    drop_topo_mappings(&t);
    let log = t.proxy.dir.join("dnsmasq-queries.log");
    let mut records = hip_host_records("hip.example", 0x03);
    records.push("--cname=www.example,alias.example".into());
    records.push("--cname=alias.example,hip.example".into());
    records.push("--host-record=plain.example,192.0.2.10".into());
    records.push("--host-record=bad.example,192.0.2.10".into());
    // A HIP RR whose PK length runs past the RDATA.
    records.push("--dns-rr=bad.example,55,1002ffff200100107b1a74df365639cc39f1d578".into());
    // A HIP host with a rendezvous server the proxy resolves (RFC 8005 §5).
    records.push(format!("--host-record=rvshost.example,{SERVER_V4}"));
    records.push(format!("--dns-rr=rvshost.example,55,{}", rr_hex(&format!("{} rvs.example.", rr_text(0x34)))));
    records.push("--host-record=rvs.example,192.0.2.53,2001:db8::53".into());
    records.push("--log-queries".into());
    records.push(format!("--log-facility={}", log.display()));
    let _dnsmasq = upstream_dns(&t.server, &records);
    let ns = &t.legacy[0].name;

    // The static table: answered with no upstream query.
    let st = kdig(ns, "static.example", "A");
    assert_eq!(st.len(), 1, "{st:?}");
    let stat_sub = st[0].clone();
    assert!(stat_sub.starts_with("100.64.0."), "{st:?}");
    let full = integration_tests::sh(&format!("ip netns exec {ns} kdig @10.1.0.1 static.example A +timeout=3"));
    assert!(full.contains("\t30\tIN\tA\t"), "TTL from the table: {full}");
    // A CNAME chain to a HIP name: the chain, then the substitute.
    let chain = kdig(ns, "www.example", "A");
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(chain[..2], ["alias.example.".to_owned(), "hip.example.".to_owned()]);
    assert!(chain[2].starts_with("100.64.0.") && chain[2] != stat_sub, "{chain:?}");
    assert_eq!(kdig_opts(ns, "www.example", "A", "+tcp"), chain);
    // No HIP RR under non_hip = "refuse".
    assert_eq!(kdig_status(ns, "10.1.0.1", "plain.example", "A"), "REFUSED");
    // A malformed HIP RR upstream: SERVFAIL, never the real address.
    assert_eq!(kdig_status(ns, "10.1.0.1", "bad.example", "A"), "SERVFAIL");

    let queried = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(queried.contains("hip.example"), "dnsmasq logs queries: {queried}");
    assert!(!queried.contains("static.example"), "the static name never went upstream");
    assert_eq!(dns_counter(&t, "dns_refused"), 1);
    assert_eq!(dns_counter(&t, "dns_servfail"), 1);
    assert_eq!(dns_counter(&t, "dns_servfail_malformed_upstream"), 1);
    assert!(t.proxy.log().contains("SERVFAIL"), "a log line for the SERVFAIL");

    // mapping list: name, HIT, locators (the static host's rendezvous server too).
    let maps = t.proxy.ctl_json("mapping list");
    let m = maps["mappings"].as_array().unwrap();
    let st = m.iter().find(|m| m["substitute"] == stat_sub.as_str()).expect("static host mapped");
    assert_eq!(st["dns"]["name"], "static.example.");
    assert_eq!(st["dns"]["hit"], "2001:10:7b1a:74df:3656:39cc:39f1:d533");
    assert_eq!(st["dns"]["locators"], serde_json::json!([SERVER_V4, "rvs rvs.example. (192.0.2.53)"]));
    assert!(st["dns"]["expires_in_secs"].as_u64().unwrap() <= 60);
    let rvs_sub = kdig(ns, "rvshost.example", "A");
    assert_eq!(rvs_sub.len(), 1, "{rvs_sub:?}");
    let maps = t.proxy.ctl_json("mapping list");
    let m = maps["mappings"].as_array().unwrap();
    let r = m.iter().find(|m| m["substitute"] == rvs_sub[0].as_str()).expect("rvs host mapped");
    assert_eq!(
        r["dns"]["locators"],
        serde_json::json!([SERVER_V4, "rvs rvs.example. (192.0.2.53, 2001:db8::53)"]),
        "the rendezvous server's name resolved to its addresses"
    );
    let (ok, human, _) = t.proxy.ctl("mapping list");
    assert!(ok && human.contains("static.example.") && human.contains("HIT"), "{human}");
}

#[test]
fn dns_pool_exhausted_and_upstream_down_give_servfail() {
    let dns = "[dns]\nlisten = \"10.1.0.1:53\"\nupstream = \"192.0.2.10:53\"\nupstream_timeout_ms = 1000\n";
    // Two IPv4 substitutes: 100.64.0.9 and .10.
    let t = Topo::with_pools(true, 300, dns, "100.64.0.8/30", "fd00:64::/96");
    drop_topo_mappings(&t);
    let mut records = hip_host_records("h1.example", 0x11);
    records.extend(hip_host_records("h2.example", 0x12));
    records.extend(hip_host_records("h3.example", 0x13));
    let dnsmasq = upstream_dns(&t.server, &records);
    let ns = &t.legacy[0].name;
    let s1 = kdig(ns, "h1.example", "A");
    let s2 = kdig(ns, "h2.example", "A");
    assert_eq!((s1.len(), s2.len()), (1, 1));
    assert_ne!(s1, s2);
    assert_eq!(kdig_status(ns, "10.1.0.1", "h3.example", "A"), "SERVFAIL", "pool exhausted");
    assert_eq!(dns_counter(&t, "dns_servfail_pool_exhausted"), 1);
    // Repeated queries keep their substitutes; the other family still has room.
    assert_eq!(kdig(ns, "h1.example", "A"), s1);
    assert_eq!(kdig(ns, "h3.example", "AAAA").len(), 1);

    drop(dnsmasq);
    // Answers within their TTL come from the cache; the rest fail.
    assert_eq!(kdig(ns, "h1.example", "A"), s1, "cached answer while upstream is down");
    assert_eq!(kdig_status(ns, "10.1.0.1", "h2.example", "AAAA"), "SERVFAIL", "upstream down");
    assert_eq!(kdig_status(ns, "10.1.0.1", "h3.example", "A"), "SERVFAIL", "upstream down");
    assert_eq!(dns_counter(&t, "dns_servfail_upstream_timeout"), 2);
    assert!(t.proxy.log().contains("upstream timeout"), "a log line names the cause");
}

#[test]
fn dns_expiry_frees_idle_substitutes_but_not_those_with_flows() {
    let dns = "[dns]\nlisten = \"10.1.0.1:53\"\nupstream = \"192.0.2.10:53\"\nmax_ttl = 1\nmin_mapping_secs = 1\n";
    let t = Topo::with(true, 300, dns);
    drop_topo_mappings(&t);
    let mut records = hip_host_records("busy.example", 0x21);
    records.extend(hip_host_records("idle.example", 0x22));
    let _dnsmasq = upstream_dns(&t.server, &records);
    let ns = &t.legacy[0].name;
    let busy: IpAddr = kdig(ns, "busy.example", "A")[0].parse().unwrap();
    let idle: IpAddr = kdig(ns, "idle.example", "A")[0].parse().unwrap();
    assert_eq!(kdig(ns, "busy.example", "A"), vec![busy.to_string()], "repeated query, same substitute");
    // A UDP flow through the busy substitute (the NAT keeps it 300 s).
    let dst = SocketAddr::new(busy, 9999);
    in_netns(ns, move || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.send_to(b"keep me", dst).unwrap();
    })
    .join()
    .unwrap();
    let listed = |sub: IpAddr| {
        let maps = t.proxy.ctl_json("mapping list");
        maps["mappings"].as_array().unwrap().iter().find(|m| m["substitute"] == sub.to_string()).cloned()
    };
    assert!(
        integration_tests::wait_until(10, || listed(idle).is_none()),
        "the idle substitute expires (max_ttl 1 s) and its datapath mapping goes"
    );
    let b = listed(busy).expect("a substitute with a live flow is kept");
    assert_eq!(b["flows"], 1, "{b}");
    assert_eq!(b["dns"]["name"], "busy.example.");
    assert_eq!(b["dns"]["expires_in_secs"], 0, "expired, pinned by its flow");
    assert!(dns_counter(&t, "dns_mappings_expired") >= 1);
    // The freed address is handed out again; the busy one is not.
    let again: IpAddr = kdig(ns, "idle.example", "A")[0].parse().unwrap();
    assert_ne!(again, busy);
    assert_eq!(kdig(ns, "busy.example", "A"), vec![busy.to_string()]);
}

#[test]
fn dns_upstream_on_the_lan_is_not_steered() {
    // The upstream is legacy2 (10.1.0.12), on the LAN behind the steering.
    let dns = "[dns]\nlisten = \"10.1.0.1:53\"\nupstream = \"10.1.0.12:53\"\nintercept = true\n";
    let t = Topo::with(true, 300, dns);
    drop_topo_mappings(&t);
    let (client, upstream) = (&t.legacy[0], &t.legacy[1]);
    let _lan_dns = upstream_dns_at(upstream, "10.1.0.12", "10.1.0.12", &hip_host_records("hip.example", 0x41));
    // An outside resolver the upstream itself asks (its recursion).
    t.server.route("10.1.0.0/24 via 192.0.2.1");
    let _outside = upstream_dns(&t.server, &["--host-record=outside.example,192.0.2.77".into()]);
    let sub = kdig_at(&client.name, SERVER_V4, "hip.example", "A", "");
    assert!(sub.len() == 1 && sub[0].starts_with("100.64.0."), "client steered, upstream on the LAN: {sub:?}");
    let steered = t.proxy.counter("dns_steered");
    assert_eq!(
        kdig_at(&upstream.name, SERVER_V4, "outside.example", "A", ""),
        vec!["192.0.2.77".to_owned()],
        "the upstream's own query reaches the outside resolver"
    );
    assert_eq!(t.proxy.counter("dns_steered"), steered, "the upstream's query was not steered");
}
