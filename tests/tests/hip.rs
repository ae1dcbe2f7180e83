//! Issue 4: the HIPv2 base exchange between two real daemons (role
//! `host`) in two network namespaces, over raw IP protocol 139; tshark
//! dissects the packets; nftables drops packets to exercise
//! retransmission (this kernel has no netem).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use integration_tests::{Netns, proxy_ctl_bin, sh, sh_try, unique, wait_until};
use serde_json::Value;

const A4: &str = "10.47.0.1";
const B4: &str = "10.47.0.2";
const A6: &str = "fd47::1";
const B6: &str = "fd47::2";

/// A `proxy-ctl run` with only a `[hip]` section, its own key and socket.
struct HipNode {
    ns: Netns,
    dir: PathBuf,
    socket: PathBuf,
    hit: String,
    child: Option<Child>,
}

impl HipNode {
    fn start(ns: Netns, algo: &str, extra: &str) -> HipNode {
        let dir = PathBuf::from("/tmp").join(unique("hp-hip-"));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("hi.pem");
        let shown = sh(&format!("{} --json identity new --algo {algo} --out {}", proxy_ctl_bin(), key.display()));
        let shown: Value = serde_json::from_str(&shown).unwrap();
        let hit = shown["hit"].as_str().unwrap().to_owned();
        let socket = dir.join("hip.sock");
        let config = dir.join("hip.toml");
        std::fs::write(
            &config,
            format!(
                "[control]\nsocket = \"{}\"\n[hip]\nidentities = [\"{}\"]\nmax_retransmits = 3\n{}{extra}\n",
                socket.display(),
                key.display(),
                if extra.contains("retransmit_ms") { "" } else { "retransmit_ms = 300\n" },
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, &proxy_ctl_bin(), "run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn proxy-ctl run");
        let node = HipNode { ns, dir, socket, hit, child: Some(child) };
        let sock = node.socket.clone();
        assert!(
            wait_until(20, || std::os::unix::net::UnixStream::connect(&sock).is_ok()),
            "daemon did not come up:\n{}",
            node.log()
        );
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &str) -> (bool, String, String) {
        sh_try(&format!("{} --socket {} {args}", proxy_ctl_bin(), self.socket.display()))
    }

    fn ctl_json(&self, args: &str) -> Value {
        let (ok, out, err) = self.ctl(&format!("--json {args}"));
        assert!(ok, "proxy-ctl {args} failed: {err}\n{}", self.log());
        serde_json::from_str(&out).unwrap()
    }

    fn counter(&self, name: &str) -> u64 {
        let v = self.ctl_json("assoc stats");
        v["counters"].as_array().unwrap().iter().find(|c| c["name"] == name).expect(name)["value"].as_u64().unwrap()
    }

    fn assocs(&self) -> Vec<Value> {
        self.ctl_json("assoc list")["assocs"].as_array().unwrap().clone()
    }

    fn connect(&self, hit: &str, locator: &str) -> Value {
        self.ctl_json(&format!("assoc connect {hit} --locator {locator}"))["assoc"].clone()
    }
}

impl Drop for HipNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- HIP daemon log ({}) ---\n{}", self.ns.name, self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Two namespaces joined by a veth, IPv4 and IPv6 on it.
fn pair(extra_a: &str, extra_b: &str) -> (HipNode, HipNode) {
    pair_of("p256", "p256", extra_a, extra_b)
}

/// As [`pair`], with the identity algorithm of each end.
fn pair_of(algo_a: &str, algo_b: &str, extra_a: &str, extra_b: &str) -> (HipNode, HipNode) {
    let a = Netns::new("ha");
    let b = Netns::new("hb");
    a.veth("hipa", &b, "hipb");
    a.addr("hipa", &format!("{A4}/24"));
    b.addr("hipb", &format!("{B4}/24"));
    a.addr("hipa", &format!("{A6}/64"));
    b.addr("hipb", &format!("{B6}/64"));
    (HipNode::start(a, algo_a, extra_a), HipNode::start(b, algo_b, extra_b))
}

/// The two ends of one association agree: state, SPIs crossed, transform.
fn check_pair(a: &HipNode, b: &HipNode) {
    let (la, lb) = (a.assocs(), b.assocs());
    assert_eq!((la.len(), lb.len()), (1, 1), "{la:?} {lb:?}");
    let (x, y) = (&la[0], &lb[0]);
    for e in [x, y] {
        let st = e["state"].as_str().unwrap();
        assert!(st == "ESTABLISHED" || st == "R2-SENT", "{e}");
    }
    assert_eq!(x["peer_hit"], b.hit.as_str());
    assert_eq!(y["peer_hit"], a.hit.as_str());
    assert_eq!(x["spi_in"], y["spi_out"]);
    assert_eq!(x["spi_out"], y["spi_in"]);
    assert_ne!(x["spi_in"], 0);
    assert_eq!(x["esp_transform"], 13);
    assert_eq!(x["esp_transform"], y["esp_transform"]);
}

struct Tshark {
    child: Child,
    file: PathBuf,
}

impl Tshark {
    fn start(ns: &Netns, dev: &str) -> Tshark {
        let file = PathBuf::from("/tmp").join(format!("{}.pcapng", unique("hp-hip-cap")));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "tshark", "-q", "-i", dev, "-f", "ip proto 139 or ip6 proto 139", "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tshark");
        assert!(wait_until(15, || file.exists()), "tshark did not start");
        std::thread::sleep(Duration::from_millis(500));
        Tshark { child, file }
    }

    /// Stop capturing (the file stays until drop).
    fn halt(&mut self) {
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: plain kill(2) on our child (ip netns exec execs tshark).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }

    /// `tshark -r FILE -Y hip -T fields -e F...` on the halted capture.
    fn fields(&self, fields: &[&str]) -> Vec<Vec<String>> {
        let e: Vec<String> = fields.iter().map(|f| format!("-e {f}")).collect();
        let out = sh(&format!("tshark -r {} -Y hip -T fields {} 2>/dev/null", self.file.display(), e.join(" ")));
        out.lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
    }

    /// Stop and return one line per HIP packet: type, checksum status, parameter types.
    fn stop(mut self) -> Vec<(u8, String, Vec<u16>)> {
        self.halt();
        let out = sh(&format!(
            "tshark -r {} -Y hip -T fields -e hip.packet_type -e hip.checksum.status -e hip.type 2>/dev/null",
            self.file.display()
        ));
        out.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let types = f.get(2).map_or(vec![], |t| t.split(',').map(|x| x.parse().unwrap()).collect());
                (f[0].parse().unwrap(), f.get(1).unwrap_or(&"").to_string(), types)
            })
            .collect()
    }
}

impl Drop for Tshark {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn hip_base_exchange_ipv4_and_ipv6_dissected_by_tshark() {
    // Slow retransmission: the packet sequence below must not depend on
    // how loaded the machine is.
    let (a, b) = pair("retransmit_ms = 2000", "retransmit_ms = 2000");
    let cap = Tshark::start(&b.ns, "hipb");
    let e = a.connect(&b.hit, B4);
    assert_eq!(e["state"], "ESTABLISHED");
    assert_eq!(e["peer_locator"], B4);
    assert_eq!(e["local_locator"], A4);
    check_pair(&a, &b);
    // Close, then a new exchange over IPv6 replaces the CLOSED entry.
    assert!(a.ctl(&format!("assoc close {}", b.hit)).0);
    assert!(wait_until(5, || a.assocs()[0]["state"] == "CLOSED" && b.assocs()[0]["state"] == "CLOSED"));
    let e = a.connect(&b.hit, B6);
    assert_eq!(e["peer_locator"], B6);
    check_pair(&a, &b);
    let pkts = cap.stop();
    let types: Vec<u8> = pkts.iter().map(|p| p.0).collect();
    // I1 R1 I2 R2, CLOSE CLOSE_ACK, I1 R1 I2 R2.
    assert_eq!(types, [1, 2, 3, 4, 18, 19, 1, 2, 3, 4], "{pkts:?}");
    for (t, status, params) in &pkts {
        // Wireshark's PROTO_CHECKSUM_E_GOOD is 1.
        assert_eq!(status, "1", "checksum of packet type {t}: {pkts:?}");
        let expect: &[u16] = match t {
            1 => &[511],
            // R1_COUNTER PUZZLE DH_GROUP_LIST DIFFIE_HELLMAN HIP_CIPHER HOST_ID
            // HIT_SUITE_LIST TRANSPORT_FORMAT_LIST ESP_TRANSFORM HIP_SIGNATURE_2
            2 => &[129, 257, 511, 513, 579, 705, 715, 2049, 4095, 61633],
            // ESP_INFO R1_COUNTER SOLUTION DIFFIE_HELLMAN HIP_CIPHER ENCRYPTED
            // TRANSPORT_FORMAT_LIST ESP_TRANSFORM HIP_MAC HIP_SIGNATURE
            3 => &[65, 129, 321, 513, 579, 641, 2049, 4095, 61505, 61697],
            // ESP_INFO HIP_MAC_2 HIP_SIGNATURE
            4 => &[65, 61569, 61697],
            // ECHO_REQUEST_SIGNED / ECHO_RESPONSE_SIGNED, HIP_MAC, HIP_SIGNATURE
            18 => &[897, 61505, 61697],
            19 => &[961, 61505, 61697],
            _ => panic!("unexpected packet type {t}"),
        };
        assert_eq!(params, expect, "parameters of packet type {t}");
    }
    assert_eq!(a.counter("established"), 2);
    assert_eq!(b.counter("established"), 2);
    let drops: u64 = b.ctl_json("assoc stats")["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("drop_"))
        .map(|c| c["value"].as_u64().unwrap())
        .sum();
    assert_eq!(drops, 0);
}

/// Drop the first packet of HIP type `ty` arriving in `ns` (nftables,
/// `limit ... burst 1 packets` matches exactly once).
fn drop_first(ns: &Netns, ty: u8) {
    ns.sh("nft add table inet hiptest");
    ns.sh("nft add chain inet hiptest in \"{ type filter hook input priority 0; }\"");
    ns.sh(&format!(
        "nft add rule inet hiptest in meta l4proto 139 @th,16,8 {ty} limit rate 1/hour burst 1 packets counter drop"
    ));
}

fn nft_dropped(ns: &Netns) -> u64 {
    let out = ns.sh("nft list chain inet hiptest in");
    let at = out.find("counter packets ").expect("counter") + "counter packets ".len();
    out[at..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn hip_lost_i1_r1_i2_r2_recovered_by_retransmission() {
    // (type, dropped where: at the Responder b for I1/I2, at a for R1/R2)
    for (ty, at_b) in [(1u8, true), (2, false), (3, true), (4, false)] {
        // A first retransmission after 1 s: one loss costs exactly one
        // retransmission even on a loaded machine.
        let (a, b) = pair("retransmit_ms = 1000", "retransmit_ms = 1000");
        drop_first(if at_b { &b.ns } else { &a.ns }, ty);
        let e = a.connect(&b.hit, if ty % 2 == 0 { B6 } else { B4 });
        assert_eq!(e["state"], "ESTABLISHED", "type {ty}");
        check_pair(&a, &b);
        assert_eq!(nft_dropped(if at_b { &b.ns } else { &a.ns }), 1, "type {ty}");
        // I1 and R1 losses cost one I1 retransmission, I2 and R2 one I2.
        assert_eq!(a.counter("retransmits"), 1, "type {ty}");
        if ty == 4 {
            // The retransmitted I2 is recognised and answered with the same R2.
            assert_eq!(b.counter("drop_replayed_i2"), 1);
            assert_eq!(b.counter("tx_r2"), 2);
            assert_eq!(b.counter("established"), 1);
        }
    }
}

#[test]
fn hip_simultaneous_initiation_gives_one_association() {
    let (a, b) = pair("", "");
    // Hold every HIP packet until both daemons have sent their I1, so the
    // I1s really cross (CLI start-up alone staggers them by milliseconds,
    // long enough for one I1 to arrive before the other host initiates).
    for n in [&a, &b] {
        n.ns.sh("nft add table inet hold");
        n.ns.sh("nft add chain inet hold in \"{ type filter hook input priority 0; }\"");
        n.ns.sh("nft add rule inet hold in meta l4proto 139 drop");
    }
    let (ca, cb) = (
        format!("{} --socket {} assoc connect {} --locator {B4}", proxy_ctl_bin(), a.socket.display(), b.hit),
        format!("{} --socket {} assoc connect {} --locator {A4}", proxy_ctl_bin(), b.socket.display(), a.hit),
    );
    let ta = std::thread::spawn(move || sh_try(&ca));
    let tb = std::thread::spawn(move || sh_try(&cb));
    assert!(wait_until(5, || a.counter("tx_i1") >= 1 && b.counter("tx_i1") >= 1));
    for n in [&a, &b] {
        n.ns.sh("nft delete table inet hold");
    }
    let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
    assert!(ra.0 && rb.0, "{ra:?} {rb:?}");
    check_pair(&a, &b);
    let roles: Vec<bool> = [&a, &b].iter().map(|n| n.assocs()[0]["initiator"].as_bool().unwrap()).collect();
    assert_ne!(roles[0], roles[1], "one Initiator, one Responder");
    // The host with the lower HIT initiated (RFC 7401 §6.7: the greater one answers).
    let a_lower = a.hit.parse::<std::net::Ipv6Addr>().unwrap() < b.hit.parse::<std::net::Ipv6Addr>().unwrap();
    assert_eq!(roles[0], a_lower);
    assert_eq!(a.counter("established") + b.counter("established"), 2);
}

#[test]
fn hip_unknown_hit_rejected_and_counted() {
    let (a, b) = pair("connect_timeout_secs = 8", "");
    // A HIT nobody here holds: b drops every I1 for it without answering.
    let stranger = HipNode::start(Netns::new("hc"), "p256", "");
    let (ok, _, err) = a.ctl(&format!("assoc connect {} --locator {B4}", stranger.hit));
    assert!(!ok);
    assert!(err.contains("no answer to I1"), "{err}");
    // 1 I1 + 3 retransmissions.
    assert_eq!(b.counter("drop_unknown_hit"), 4);
    assert_eq!(b.counter("tx_r1"), 0);
    assert!(b.assocs().is_empty());
    assert_eq!(a.assocs()[0]["state"], "E-FAILED");
    assert_eq!(a.counter("failed"), 1);
}

#[test]
fn hip_allowed_peers_and_cli_errors() {
    let (a, b) = pair("", "allowed_peers = [\"2001:20::1\"]\n");
    let (ok, _, err) = a.ctl(&format!("assoc connect {} --locator {B4}", b.hit));
    assert!(!ok && err.contains("no answer"), "{err}");
    assert!(b.counter("drop_peer_not_allowed") >= 1);
    // Not a HIT; no locator; closing what does not exist.
    let (ok, _, err) = a.ctl("assoc connect 10.0.0.1");
    assert!(!ok && err.contains("invalid"), "{err}");
    let (ok, _, err) = a.ctl("assoc connect 2001:db8::1 --locator 10.0.0.1");
    assert!(!ok && err.contains("not a HIT"), "{err}");
    let (ok, _, err) = a.ctl("assoc connect 2001:20::5");
    assert!(!ok && err.contains("no locator"), "{err}");
    let (ok, _, err) = a.ctl("assoc close 2001:20::5");
    assert!(!ok && err.contains("no established association"), "{err}");
    // A [hip] section with a bad key is refused at start, naming the key.
    let dir = PathBuf::from("/tmp").join(unique("hp-hip-bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[hip]\nidentities = [\"/x.pem\"]\nesp_transforms = [13, 99]\n").unwrap();
    let (ok, _, err) = sh_try(&format!("{} run --config {}", proxy_ctl_bin(), cfg.display()));
    assert!(!ok && err.contains("esp_transforms"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// RFC 9374: Ed25519 Host Identities with EdDSA/cSHAKE128 HITs (suite 5),
/// both ends Ed25519 over IPv6, then an Ed25519 Initiator against a P-256
/// Responder over IPv4; tshark dissects every packet as HIP with good
/// checksums, the R1s' HIT_SUITE_LIST and the Ed25519 signatures.
#[test]
fn hip_ed25519_base_exchange_dissected_by_tshark() {
    let slow = "retransmit_ms = 2000";
    let (a, b) = pair_of("ed25519", "ed25519", slow, slow);
    for n in [&a, &b] {
        assert!(n.hit.starts_with("2001:25:"), "suite 5 HIT: {}", n.hit);
    }
    let cap = Tshark::start(&b.ns, "hipb");
    let e = a.connect(&b.hit, B6);
    assert_eq!(e["state"], "ESTABLISHED");
    check_pair(&a, &b);
    let mut cap = cap;
    cap.halt();
    let rows = cap.fields(&["hip.packet_type", "hip.checksum.status", "hip.tlv.hit_suite_id", "hip.tlv.sig"]);
    let types: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(types, ["1", "2", "3", "4"], "{rows:?}");
    for r in &rows {
        assert_eq!(r[1], "1", "checksum: {rows:?}");
    }
    // R1: HIT_SUITE_LIST 5 (ours) then 1, 2. R1, I2, R2 carry one Ed25519
    // signature each. Wireshark reads the 16-bit SIG alg field as one octet
    // (hip.tlv.sig_alg = 0x00), so its hip.tlv.sig starts with the low octet
    // of the algorithm, 0x0d = 13 (EdDSA), followed by the 64-octet signature.
    assert_eq!(r_field(&rows[1], 2), ["5", "1", "2"], "{rows:?}");
    for r in &rows[1..] {
        let sigs = r_field(r, 3);
        assert_eq!(sigs.len(), 1, "{rows:?}");
        let sig = sigs[0].replace(':', "");
        assert!(sig.starts_with("0d") && sig.len() == 2 + 128, "Ed25519 signature: {rows:?}");
    }
    drop(cap);
    drop((a, b));

    // Mixed: Ed25519 Initiator, ECDSA P-256 Responder (whose suite 2 keys the exchange).
    let (a, b) = pair_of("ed25519", "p256", slow, slow);
    assert!(b.hit.starts_with("2001:22:"), "suite 2 HIT: {}", b.hit);
    let e = a.connect(&b.hit, B4);
    assert_eq!(e["state"], "ESTABLISHED");
    check_pair(&a, &b);
    assert_eq!(a.counter("established") + b.counter("established"), 2);
}

/// The comma-separated values of column `i` of a tshark row.
fn r_field(row: &[String], i: usize) -> Vec<String> {
    row.get(i).map_or(vec![], |v| v.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect())
}

/// `identity show` of an Ed25519 key: suite 5 HIT, PK algorithm 4 (RFC 9373)
/// and, with --raa/--hda, the RFC 9374 DET under prefix 2001:30::/28.
#[test]
fn identity_show_ed25519_hit_and_det() {
    let dir = PathBuf::from("/tmp").join(unique("hp-hip-id-"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("ed.pem");
    sh(&format!("{} identity new --algo ed25519 --out {}", proxy_ctl_bin(), key.display()));
    let v: Value = serde_json::from_str(&sh(&format!(
        "{} --json identity show {} --raa 10 --hda 20",
        proxy_ctl_bin(),
        key.display()
    )))
    .unwrap();
    assert_eq!(v["algorithm"], "ed25519");
    assert_eq!(v["hit_suite"], 5);
    assert_eq!(v["pk_algorithm"], 4);
    assert_eq!(v["host_id_algorithm"], 13);
    assert!(v["hit"].as_str().unwrap().starts_with("2001:25:"), "{v}");
    assert!(v["hhit"].as_str().unwrap().starts_with("2001:30:280:1405:"), "{v}");
    assert!(v["hip_rr"].as_str().unwrap().starts_with("4 20010025"), "{v}");
    // Out-of-range RAA, and --raa without --hda, are CLI errors.
    let (ok, _, err) = sh_try(&format!("{} identity show {} --raa 16384 --hda 1", proxy_ctl_bin(), key.display()));
    assert!(!ok && err.contains("16384"), "{err}");
    let (ok, _, _) = sh_try(&format!("{} identity show {} --raa 1", proxy_ctl_bin(), key.display()));
    assert!(!ok);
    std::fs::remove_dir_all(&dir).unwrap();
}
