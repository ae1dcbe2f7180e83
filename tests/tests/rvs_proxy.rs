//! Issue 6 on the proxy (seed step H.1): DNS names only the HIP host's
//! rendezvous server; the proxy's I1 goes there, is relayed with FROM, the
//! host answers from its real address with VIA_RVS, and `mapping list`
//! shows the real locator in use. Then the host moves during a transfer
//! from a legacy host: the proxy checks the new address, moves its SAs,
//! the transfer completes intact and `mapping list` follows.
//!
//! ```text
//!  legacy 10.1.0.11 ── lan0 [proxy] wan0 192.0.2.1 ─┬─ 192.0.2.5   [rvs + dnsmasq]
//!                          10.1.0.1                 ├─ 192.0.2.10 e0 [host]  (moves to
//!                                                   └─ 192.0.2.20 e1 [host]   e1)
//! ```

use std::{path::PathBuf, str::FromStr, time::Duration};

use integration_tests::{Background, Dnsmasq, Netns, Proxy, ProxyConfig, sh, sh_try, unique, wait_until};
use proxy_proto::dns::HipRdata;
use serde_json::Value;

const PROXY_LAN4: &str = "10.1.0.1";
const RVS4: &str = "192.0.2.5";
const HOST4: &str = "192.0.2.10";
const HOST4_NEW: &str = "192.0.2.20";
const NAME: &str = "rvs-host.example";

fn identity(dir: &std::path::Path, name: &str) -> (PathBuf, Value) {
    integration_tests::identity_of(dir, name, "p256")
}

fn hip_counter(p: &Proxy, name: &str) -> u64 {
    p.counter_of("assoc stats", name)
}

/// The locator in use `mapping list` shows for the one DNS mapping.
fn mapping_locator(p: &Proxy) -> Value {
    let m = p.ctl_json("mapping list");
    m["mappings"][0]["dns"]["locator"].clone()
}

#[test]
fn rvs_proxy_reaches_host_via_rvs_mapping_follows_real_locator_and_move() {
    let dir = PathBuf::from("/tmp").join(unique("rvsproxy-"));
    std::fs::create_dir_all(&dir).unwrap();
    let wan = Netns::new("rw");
    let pns = Netns::new("rp");
    let vns = Netns::new("rv");
    let hns = Netns::new("rh");
    let legacy = Netns::new("rl");
    wan.sh("ip link add wb type bridge && ip link set wb up");
    for (ns, dev, port) in [(&pns, "wan0", "pp"), (&vns, "e0", "pv"), (&hns, "e0", "ph0"), (&hns, "e1", "ph1")] {
        ns.veth(dev, &wan, port);
        wan.sh(&format!("ip link set {port} master wb"));
    }
    legacy.veth("eth0", &pns, "lan0");
    legacy.addr("eth0", "10.1.0.11/24");
    legacy.route(&format!("default via {PROXY_LAN4}"));
    pns.addr("lan0", &format!("{PROXY_LAN4}/24"));
    pns.addr("wan0", "192.0.2.1/24");
    vns.addr("e0", &format!("{RVS4}/24"));
    hns.addr("e0", &format!("{HOST4}/24"));
    pns.forwarding();

    let (hkey, hid) = identity(&dir, "host");
    let (vkey, vid) = identity(&dir, "rvs");
    let (pkey, _) = identity(&dir, "proxy");
    let host_hit = hid["hit"].as_str().unwrap().to_owned();
    let rvs_hit = vid["hit"].as_str().unwrap().to_owned();
    // The host's HIP RR names only its rendezvous server (RFC 8005 §5);
    // the name has no A record of its own.
    let rr = HipRdata::from_str(&format!("{} rvs.example.", hid["hip_rr"].as_str().unwrap())).unwrap();
    let hex: String = rr.to_bytes().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    let _dnsmasq = Dnsmasq::start(
        &vns,
        RVS4,
        RVS4,
        &[format!("--host-record=rvs.example,{RVS4}"), format!("--dns-rr={NAME},55,{hex}")],
    );
    let rvs = Proxy::start_config(
        &vns,
        &format!("[hip]\nrole = \"rvs\"\nidentities = [\"{}\"]\nrvs_allowed = [\"{host_hit}\"]\n", vkey.display()),
    );
    let host = Proxy::start_config(
        &hns,
        &format!(
            "[hip]\nidentities = [\"{}\"]\n[hip.rendezvous]\nhit = \"{rvs_hit}\"\naddress = \"{RVS4}\"\n\n\
             [esp]\ntun = \"hip0\"\ntun_addrs = [\"{host_hit}/28\"]\n",
            hkey.display()
        ),
    );
    let extra = format!(
        "[dns]\nlisten = \"{PROXY_LAN4}:53\"\nupstream = \"{RVS4}:53\"\n\n\
         [hip]\nrole = \"proxy\"\nidentities = [\"{}\"]\n\n[esp]\ntun = \"hipp0\"\n",
        pkey.display()
    );
    let proxy = Proxy::start(
        &pns,
        &ProxyConfig {
            lan: "lan0".into(),
            wan: "wan0".into(),
            wan_v4: "192.0.2.1".into(),
            wan_v6: "2001:db8::1".into(),
            pool_v4: "100.64.0.0/24".into(),
            pool_v6: "fd00:64::/96".into(),
            redirect: false,
            udp_secs: 300,
            extra,
        },
    );
    let logs = || format!("--- proxy ---\n{}\n--- rvs ---\n{}\n--- host ---\n{}", proxy.log(), rvs.log(), host.log());
    assert!(
        wait_until(10, || rvs.ctl_json("rvs list")["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["locator"] == HOST4)),
        "host not registered\n{}",
        logs()
    );

    let sub = legacy.sh(&format!("kdig @{PROXY_LAN4} {NAME} A +short +timeout=3 +retry=1")).trim().to_owned();
    assert!(sub.starts_with("100.64.0."), "substitute {sub:?}\n{}", logs());
    let m = proxy.ctl_json("mapping list");
    assert_eq!(m["mappings"][0]["dns"]["locators"], serde_json::json!([format!("rvs rvs.example. ({RVS4})")]), "{m}");
    assert!(mapping_locator(&proxy).is_null(), "no locator in use before the association");

    let pcap = dir.join("wan.pcapng");
    let cap = Background::capture(&pns, &format!("dumpcap -q -i wan0 -f 'ip proto 139' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));

    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    sh(&format!("head -c 24M /dev/urandom > {}/blob", www.display()));
    let sum = sh(&format!("sha256sum {}/blob", www.display())).split_whitespace().next().unwrap().to_string();
    let _srv = Background::spawn(
        &hns,
        &format!("python3 -m http.server --bind {host_hit} --directory {} 8080", www.display()),
    );
    assert!(wait_until(10, || hns.sh_try(&format!("curl -sf -o /dev/null -g http://[{host_hit}]:8080/")).0));
    let first = legacy.sh(&format!("curl -sf --max-time 30 -o /dev/null -w '%{{http_code}}' http://{sub}:8080/"));
    assert_eq!(first.trim(), "200", "{}", logs());

    // H.1: the real address, not the RVS's.
    let a = proxy.ctl_json("assoc list");
    assert_eq!(a["assocs"][0]["peer_locator"], HOST4, "{a}");
    assert!(wait_until(3, || mapping_locator(&proxy) == HOST4), "{}", proxy.ctl_json("mapping list"));
    assert_eq!(hip_counter(&proxy, "r1_via_rvs"), 1);
    assert_eq!(hip_counter(&rvs, "i1_relayed"), 1);
    // dumpcap hands packets over a block at a time (TPACKET_V3, retired on a
    // timeout): read the file until the exchange shows, then stop it.
    let read = || {
        sh_try(&format!(
            "tshark -n -r {} -Y 'hip.packet_type == 1 or hip.packet_type == 2' -T fields -e ip.src -e ip.dst \
             -e hip.packet_type -e hip.tlv_rvs_address 2>/dev/null | sort -u",
            pcap.display()
        ))
        .1
    };
    wait_until(10, || read().contains(&format!("{HOST4}\t192.0.2.1\t2")));
    drop(cap);
    let out = read();
    assert!(out.contains(&format!("192.0.2.1\t{RVS4}\t1")), "I1 to the RVS: {out}");
    assert!(out.contains(&format!("{HOST4}\t192.0.2.1\t2\t::ffff:{RVS4}")), "R1 with VIA_RVS: {out}");

    // The host moves during a transfer from the legacy host.
    let cmd = format!(
        "ip netns exec {} curl -sS --max-time 60 --limit-rate 6M http://{sub}:8080/blob -o {}/got",
        legacy.name,
        dir.display()
    );
    let curl = std::thread::spawn(move || integration_tests::sh_try(&cmd));
    std::thread::sleep(Duration::from_millis(1500));
    hns.sh(&format!("ip addr add {HOST4_NEW}/24 dev e1 && ip addr del {HOST4}/24 dev e0"));
    let (ok, _, err) = curl.join().unwrap();
    assert!(ok, "transfer failed across the move: {err}\n{}", logs());
    let got = sh(&format!("sha256sum {}/got", dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "checksum differs after the move");
    assert_eq!(proxy.ctl_json("assoc list")["assocs"][0]["peer_locator"], HOST4_NEW);
    assert_eq!(mapping_locator(&proxy), HOST4_NEW);
    assert_eq!(hip_counter(&proxy, "locators_verified"), 1);
    let sas = proxy.ctl_json("sa list");
    assert!(sas["sas"].as_array().unwrap().iter().all(|s| s["peer"] == HOST4_NEW), "{sas}");
    drop((proxy, host, rvs));
    let _ = std::fs::remove_dir_all(dir);
}
