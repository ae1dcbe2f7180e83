//! Issues 4+5 glue: two `host` daemons with HIP identities, a peer table
//! and the ESP host data path, no static SAs. A local packet to the peer's
//! HIT starts the base exchange, is held until the BEET SA pair is in and
//! then sent; `assoc list` and `sa list` agree; tshark sees HIP, then ESP
//! on those SPIs.
//!
//! ```text
//!  [a] hip0 HIT_a ── e0 10.48.0.1 fd48::1 ══HIP, ESP══ 10.48.0.2 fd48::2 e0 ── hip0 HIT_b [b]
//! ```

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use integration_tests::{Background, Netns, Proxy, http_blob_server, sh, unique, wait_until};
use serde_json::Value;

pub(crate) const A4: &str = "10.48.0.1";
pub(crate) const B4: &str = "10.48.0.2";
const A6: &str = "fd48::1";
const B6: &str = "fd48::2";

// pub(crate): hostxdp.rs runs the same pairs on its receive path.
pub(crate) struct Node {
    // The daemon drops before its namespace.
    pub(crate) p: Proxy,
    pub(crate) ns: Netns,
    pub(crate) hit: String,
}

pub(crate) struct Pair {
    pub(crate) a: Node,
    pub(crate) b: Node,
    pub(crate) dir: PathBuf,
}

impl Drop for Pair {
    fn drop(&mut self) {
        // HIPESP_LOGS=1 (with RUST_LOG=debug) shows where the time goes.
        if std::thread::panicking() || std::env::var_os("HIPESP_LOGS").is_some() {
            eprintln!("--- daemon a ---\n{}\n--- daemon b ---\n{}", self.a.p.log(), self.b.p.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn identity(dir: &Path, name: &str, algo: &str) -> (PathBuf, String) {
    let (key, shown) = integration_tests::identity_of(dir, name, algo);
    (key, shown["hit"].as_str().unwrap().to_owned())
}

fn config(key: &Path, hit: &str, peer_hit: &str, peer_locator: &str, hip_extra: &str) -> String {
    format!(
        "[hip]\nidentities = [\"{}\"]\n{hip_extra}\n[[hip.peer]]\nhit = \"{peer_hit}\"\nlocators = [\"{peer_locator}\"]\n\n\
         [esp]\ntun = \"hip0\"\ntun_addrs = [\"{hit}/28\"]\n",
        key.display()
    )
}

/// Two hosts whose peer tables point at each other over IPv4 or IPv6.
fn pair(v6: bool) -> Pair {
    pair_of(v6, "p256")
}

/// As [`pair`], with host identities of algorithm `algo` (`identity new --algo`).
fn pair_of(v6: bool, algo: &str) -> Pair {
    pair_esp(v6, algo, "")
}

/// As [`pair_of`], with `esp_extra` appended to both `[esp]` sections.
pub(crate) fn pair_esp(v6: bool, algo: &str, esp_extra: &str) -> Pair {
    let dir = PathBuf::from("/tmp").join(unique("hipesp-"));
    std::fs::create_dir_all(&dir).unwrap();
    let na = Netns::new("xa");
    let nb = Netns::new("xb");
    na.veth("e0", &nb, "e0");
    na.addr("e0", &format!("{A4}/24"));
    nb.addr("e0", &format!("{B4}/24"));
    na.addr("e0", &format!("{A6}/64"));
    nb.addr("e0", &format!("{B6}/64"));
    // IPv6 duplicate address detection would hold the locators back.
    assert!(wait_until(10, || !na.sh("ip -6 addr show dev e0").contains("tentative")
        && !nb.sh("ip -6 addr show dev e0").contains("tentative")));
    let (la, lb) = if v6 { (A6, B6) } else { (A4, B4) };
    let (ka, ha) = identity(&dir, "a", algo);
    let (kb, hb) = identity(&dir, "b", algo);
    let pa = Proxy::start_config(&na, &format!("{}{esp_extra}", config(&ka, &ha, &hb, lb, "")));
    let pb = Proxy::start_config(&nb, &format!("{}{esp_extra}", config(&kb, &hb, &ha, la, "")));
    Pair { a: Node { p: pa, ns: na, hit: ha }, b: Node { p: pb, ns: nb, hit: hb }, dir }
}

fn assocs(n: &Node) -> Vec<Value> {
    n.p.ctl_json("assoc list")["assocs"].as_array().unwrap().clone()
}

pub(crate) fn sas(n: &Node) -> Vec<Value> {
    n.p.ctl_json("sa list")["sas"].as_array().unwrap().clone()
}

pub(crate) fn esp_counter(n: &Node, name: &str) -> u64 {
    n.p.counter_of("sa list", name)
}

/// The SPI of this node's HIP SA in `dir`, checked against its association.
fn hip_spi(n: &Node, dir: &str, peer: &Node, locator: &str) -> u64 {
    let list = sas(n);
    let mine: Vec<&Value> = list.iter().filter(|s| s["direction"] == dir).collect();
    assert_eq!(mine.len(), 1, "{list:?}");
    let s = mine[0];
    assert_eq!(s["origin"], "hip", "{s}");
    assert_eq!(s["mode"], "beet");
    assert_eq!(s["transform"], "aes128-gcm16");
    assert_eq!(s["inner_local"], n.hit.as_str());
    assert_eq!(s["inner_peer"], peer.hit.as_str());
    assert_eq!(s["peer"], locator);
    s["spi"].as_u64().unwrap()
}

/// Both ends agree: associations up with crossed SPIs, and the SA table
/// holds exactly those SPIs. Returns (SPI a->b, SPI b->a).
pub(crate) fn check_spis(p: &Pair, la: &str, lb: &str) -> (u64, u64) {
    let (xa, xb) = (assocs(&p.a), assocs(&p.b));
    assert_eq!((xa.len(), xb.len()), (1, 1), "{xa:?} {xb:?}");
    let (x, y) = (&xa[0], &xb[0]);
    assert_eq!(x["state"], "ESTABLISHED", "{x}");
    assert_eq!(x["spi_in"], y["spi_out"]);
    assert_eq!(x["spi_out"], y["spi_in"]);
    let a_out = hip_spi(&p.a, "out", &p.b, lb);
    let a_in = hip_spi(&p.a, "in", &p.b, lb);
    assert_eq!(hip_spi(&p.b, "in", &p.a, la), a_out);
    assert_eq!(hip_spi(&p.b, "out", &p.a, la), a_in);
    assert_eq!(x["spi_out"].as_u64().unwrap(), a_out);
    assert_eq!(x["spi_in"].as_u64().unwrap(), a_in);
    (a_out, a_in)
}

/// Seconds a TCP connect from `ns` to [hit]:port takes.
fn connect_secs(ns: &Netns, hit: &str, port: u16) -> f64 {
    let out = ns.sh(&format!(
        "python3 -c \"import socket,time; t=time.monotonic(); s=socket.create_connection(('{hit}',{port}),timeout=10); \
         print(time.monotonic()-t)\""
    ));
    out.trim().parse().unwrap_or_else(|_| panic!("connect time: {out}"))
}

/// (HIP packet type or 0, ESP SPI or 0) of every HIP/ESP packet captured.
fn dissect(pcap: &Path) -> Vec<(u64, u64)> {
    let out = sh(&format!(
        "tshark -n -r {} -Y 'hip or esp' -T fields -e hip.packet_type -e esp.spi 2>/dev/null",
        pcap.display()
    ));
    let num = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None if s.is_empty() => 0,
        None => s.parse().unwrap(),
    };
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (num(f[0]), num(f.get(1).copied().unwrap_or("")))
        })
        .collect()
}

fn run(v6: bool) {
    run_with(pair(v6), v6)
}

fn run_with(p: Pair, v6: bool) {
    let (la, lb) = if v6 { (A6, B6) } else { (A4, B4) };
    assert!(assocs(&p.a).is_empty() && sas(&p.a).is_empty(), "no SA before the first packet");
    let pcap = p.dir.join("cap.pcapng");
    let proto = "ip proto 139 or ip proto 50 or ip6 proto 139 or ip6 proto 50";
    let cap = Background::capture(&p.a.ns, &format!("dumpcap -q -i e0 -f '{proto}' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));

    // The first TCP connect to the HIT starts the base exchange; its SYN
    // waits for the SAs instead of being lost (a lost SYN costs 1 s).
    let (_srv, sum) = http_blob_server(&p.b.ns, &p.dir, &p.b.hit, 4);
    let secs = connect_secs(&p.a.ns, &p.b.hit, 8080);
    eprintln!("first TCP connect to a HIT (base exchange included): {:.1} ms", secs * 1000.0);
    assert!(
        secs < 0.9,
        "connect took {secs:.3} s: the SYN was not held for the base exchange\na: {}\nb: {}",
        p.a.p.ctl_json("sa list"),
        p.b.p.ctl_json("sa list")
    );
    assert!(esp_counter(&p.a, "held") >= 1);
    assert!(esp_counter(&p.a, "released") >= 1);
    let (ab, ba) = check_spis(&p, la, lb);

    // Payload through the SAs, both directions: ping both ways, then 4 MiB.
    p.a.ns.sh(&format!("ping -6 -c 3 -i 0.2 -W 2 {}", p.b.hit));
    p.b.ns.sh(&format!("ping -6 -c 3 -i 0.2 -W 2 {}", p.a.hit));
    let got = p.a.ns.sh(&format!("curl -sf -g --max-time 60 http://[{}]:8080/blob | sha256sum", p.b.hit));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body differs after HIP + ESP");
    // The Responder saw ESP on its inbound SA: ESTABLISHED well before its
    // 10 s R2-SENT timer.
    assert_eq!(assocs(&p.b)[0]["state"], "ESTABLISHED");
    for n in [&p.a, &p.b] {
        // Not drop_no_sa: the kernel sends its own multicast (MLD) on the TUN.
        for c in ["drop_unknown_spi", "drop_bad_source", "drop_open", "drop_seal"] {
            assert_eq!(esp_counter(n, c), 0, "{c} on {}", n.hit);
        }
    }
    assert_eq!(esp_counter(&p.b, "held"), 0, "the Responder had its SAs before it answered");

    // tshark: the four HIP packets, then only ESP on the two SPIs.
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let pkts = dissect(&pcap);
    let hip: Vec<u64> = pkts.iter().take_while(|(t, _)| *t != 0).map(|(t, _)| *t).collect();
    assert_eq!(hip, [1, 2, 3, 4], "{:?}", &pkts[..pkts.len().min(12)]);
    let esp = &pkts[4..];
    assert!(esp.len() > 1000, "{} ESP packets", esp.len());
    assert!(esp.iter().all(|&(t, spi)| t == 0 && (spi == ab || spi == ba)), "{esp:?}");
    assert!(esp.iter().any(|&(_, s)| s == ab) && esp.iter().any(|&(_, s)| s == ba));

    // CLOSE removes the SAs on both sides; the next packet runs a new
    // base exchange with new SPIs.
    let (ok, _, err) = p.a.p.ctl(&format!("assoc close {}", p.b.hit));
    assert!(ok, "{err}");
    assert!(wait_until(5, || sas(&p.a).is_empty() && sas(&p.b).is_empty()), "SAs left after CLOSE");
    p.a.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", p.b.hit));
    let (ab2, ba2) = check_spis(&p, la, lb);
    assert!(ab2 != ab && ba2 != ba, "the SAs were not renewed");
}

#[test]
fn hipesp_ipv4_locators_connect_transfer_close() {
    run(false);
}

#[test]
fn hipesp_ipv6_locators_connect_transfer_close() {
    run(true);
}

/// The same with Ed25519 identities (RFC 9374 HIT suite 5): the ESP keys
/// come from the KMAC128 KEYMAT, so the transfer proves both ends derived
/// the same keys.
#[test]
fn hipesp_ed25519_identities_connect_transfer_close() {
    let p = pair_of(true, "ed25519");
    assert!(p.a.hit.starts_with("2001:25:") && p.b.hit.starts_with("2001:25:"), "{} {}", p.a.hit, p.b.hit);
    run_with(p, true);
}

/// A peer in the table that never answers: the packets held for it are
/// bounded, dropped and counted when they expire, and the next packet
/// after that starts a new base exchange.
#[test]
fn hipesp_unreachable_peer_bounded_hold_counted_drops() {
    let dir = PathBuf::from("/tmp").join(unique("hipesp-"));
    std::fs::create_dir_all(&dir).unwrap();
    let na = Netns::new("xu");
    na.sh("ip link set lo up");
    na.addr("lo", &format!("{A4}/32"));
    let (ka, ha) = identity(&dir, "a", "p256");
    let (_, hb) = identity(&dir, "b", "p256");
    // The peer's locator (TEST-NET-1) leads nowhere.
    na.sh("ip route add blackhole 192.0.2.0/24");
    let extra = format!("retransmit_ms = 200\nmax_retransmits = 1\nlocators = [\"{A4}\"]\n");
    let a = Proxy::start_config(&na, &config(&ka, &ha, &hb, "192.0.2.1", &extra));
    let n = Node { p: a, ns: na, hit: ha };
    let tx_i1 = |n: &Node| n.p.counter_of("assoc stats", "tx_i1");
    let no_sa = esp_counter(&n, "drop_no_sa");
    let burst = HOLD + 8;
    // Every echo request goes out at once; none is answered.
    let _ = n.ns.sh_try(&format!("ping -6 -c {burst} -i 0.002 -W 1 {hb}"));
    assert_eq!(esp_counter(&n, "held"), HOLD, "{}", n.p.ctl_json("sa list"));
    assert!(esp_counter(&n, "drop_no_sa") >= no_sa + burst - HOLD);
    assert!(wait_until(5, || assocs(&n).first().is_some_and(|a| a["state"] == "E-FAILED")), "{:?}", assocs(&n));
    let first = tx_i1(&n);
    assert!(first >= 1);
    // E-FAILED drops the held packets at once (counted), not after the
    // 10 s hold; nothing was released or installed.
    assert!(
        wait_until(2, || esp_counter(&n, "drop_no_sa") >= no_sa + burst),
        "held packets not dropped: {}",
        n.p.ctl_json("sa list")
    );
    assert_eq!(esp_counter(&n, "released"), 0);
    assert!(sas(&n).is_empty());
    // The next packet starts a new exchange.
    let _ = n.ns.sh_try(&format!("ping -6 -c 1 -W 1 {hb}"));
    assert!(wait_until(5, || tx_i1(&n) > first), "no new I1 after the hold expired");
    drop(n);
    let _ = std::fs::remove_dir_all(dir);
}

/// HOLD_PER_PEER in proxy-ctl/src/esp/host/tx.rs.
const HOLD: u64 = 16;

fn hip_counter(n: &Node, name: &str) -> u64 {
    n.p.counter_of("assoc stats", name)
}

/// Issues 5/6: SAs that age rekey themselves, with a new Diffie-Hellman.
/// With `[esp] rekey_after_packets = 2000`, an 8 MiB download (about 6000
/// ESP packets from b) passes the soft limit several times; each time the
/// daemon rekeys by UPDATE (ESP_INFO + DIFFIE_HELLMAN: new SPIs, a new
/// KEYMAT) without the transfer noticing. The SAs change in the order
/// that never has a host send on an SA its peer lacks: no ESP is dropped
/// as unknown SPI, and each replaced inbound SA goes after the
/// retirement window.
#[test]
fn hipesp_rekey_after_packets_during_transfer() {
    const LIMIT: u64 = 2000;
    let p = pair_esp(false, "p256", &format!("rekey_after_packets = {LIMIT}\n"));
    let (_srv, sum) = http_blob_server(&p.b.ns, &p.dir, &p.b.hit, 8);
    p.a.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", p.b.hit));
    let (ab0, ba0) = check_spis(&p, A4, B4);
    let pcap = p.dir.join("hip.pcap");
    let cap = Background::capture(&p.a.ns, &format!("dumpcap -q -i e0 -f 'ip proto 139' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));
    let cmd = format!(
        "ip netns exec {} curl -sS -g --max-time 60 --limit-rate 4M http://[{}]:8080/blob -o {}/got",
        p.a.ns.name,
        p.b.hit,
        p.dir.display()
    );
    let curl = std::thread::spawn(move || integration_tests::sh_try(&cmd));
    // b's outbound SPIs while the transfer runs: one at a time (the switch
    // is one table write), never none.
    let mut seen = std::collections::BTreeSet::new();
    while !curl.is_finished() {
        let out: Vec<u64> =
            sas(&p.b).iter().filter(|s| s["direction"] == "out").map(|s| s["spi"].as_u64().unwrap()).collect();
        assert_eq!(out.len(), 1, "b's outbound SAs: {out:x?}");
        seen.extend(out);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, _, err) = curl.join().unwrap();
    assert!(ok, "transfer failed across the rekeys: {err}");
    let got = sh(&format!("sha256sum {}/got", p.dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "checksum differs after the rekeys");
    assert!(seen.len() >= 2, "b's outbound SPI never changed during the transfer: {seen:?}");
    // The replaced inbound SAs go after the retirement window (5 s at
    // most): then each node holds exactly the pair both ends agree on,
    // which is not the first one.
    assert!(
        wait_until(8, || sas(&p.a).len() == 2 && sas(&p.b).len() == 2),
        "replaced SAs still there: a {:?} b {:?}",
        sas(&p.a),
        sas(&p.b)
    );
    let (ab, ba) = check_spis(&p, A4, B4);
    assert!(ab != ab0 && ba != ba0, "SAs not renewed: {ab0:#x}/{ba0:#x} -> {ab:#x}/{ba:#x}");
    let started = esp_counter(&p.a, "rekeys_started") + esp_counter(&p.b, "rekeys_started");
    let sent = esp_counter(&p.a, "esp_tx") + esp_counter(&p.b, "esp_tx");
    let (ra, rb) = (hip_counter(&p.a, "rekeys"), hip_counter(&p.b, "rekeys"));
    let crossed = hip_counter(&p.a, "drop_rekey_collision") + hip_counter(&p.b, "drop_rekey_collision");
    eprintln!("rekeys: started {started} for {sent} ESP packets sent; completed a {ra} b {rb}; crossed {crossed}");
    assert!(esp_counter(&p.b, "rekeys_started") >= 2, "b started too few rekeys");
    // No storm: at most one rekey per LIMIT packets sent (plus one per side
    // for an SA still counting at the end).
    assert!(started <= sent / LIMIT + 2, "{started} rekeys for {sent} packets");
    // Every rekey started completed on both ends (a crossing one gave way).
    assert_eq!(ra, rb, "the ends disagree on the rekeys completed");
    assert_eq!(ra + crossed, started, "rekeys started but not completed");
    // All with a new Diffie-Hellman (the default).
    assert_eq!((hip_counter(&p.a, "rekeys_new_dh"), hip_counter(&p.b, "rekeys_new_dh")), (ra, rb));
    let unknown = esp_counter(&p.a, "drop_unknown_spi") + esp_counter(&p.b, "drop_unknown_spi");
    assert_eq!(unknown, 0, "ESP sent on an SA the peer did not have (yet or any more)");
    for n in [&p.a, &p.b] {
        for c in ["drop_bad_source", "drop_open", "drop_seal"] {
            assert_eq!(esp_counter(n, c), 0, "{c} on {}", n.hit);
        }
    }
    // On the wire: each rekey's UPDATE and its answer carry ESP_INFO
    // (Keymat Index 0) and DIFFIE_HELLMAN, from both ends.
    drop(cap);
    let out = sh(&format!(
        "tshark -n -r {} -Y 'hip.packet_type == 16 and hip.tlv.dh_group_id' -T fields -e ip.src \
         -e hip.tlv.dh_group_id -e hip.tlv_esp_info_key_index -e hip.tlv_seq_update_id 2>/dev/null",
        pcap.display()
    ));
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert!(rows.len() as u64 >= 2 * ra, "{ra} rekeys, UPDATEs with DIFFIE_HELLMAN:\n{out}");
    for src in [A4, B4] {
        assert!(rows.iter().any(|r| r[0] == src), "no UPDATE with DIFFIE_HELLMAN from {src}:\n{out}");
    }
    let zero = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16) == Ok(0);
    assert!(rows.iter().all(|r| r.len() == 4 && !r[1].is_empty() && zero(r[2]) && !r[3].is_empty()), "{out}");
}
