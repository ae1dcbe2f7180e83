//! Issue 6: rendezvous server, registration and mobility with real
//! daemons. A HIP host registers with an `rvs`; an Initiator that only
//! knows the RVS's address reaches it (I1 relayed with FROM, R1 with
//! VIA_RVS, then everything direct); the host moves to another network
//! during a TCP transfer and UPDATE keeps the transfer alive.
//!
//! ```text
//!  [i] e0 10.61.1.2 ─┐              ┌─ 10.61.3.2 e0 [h] (old network)
//!                    ├── [r] router ┼─ 10.61.4.2 e1 [h] (new network)
//!  [v] e0 10.61.2.2 ─┘ (rvs)        └─ (10.61.5.0/24 unrouted)
//!  [i] e1 10.61.6.2 (the Initiator's second network, double jump)
//! ```

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use integration_tests::{Background, Netns, Proxy, http_blob_server, identity, sh, unique, wait_until};
use serde_json::Value;

const I4: &str = "10.61.1.2";
const V4: &str = "10.61.2.2";
const H4: &str = "10.61.3.2";
pub(crate) const H4_NEW: &str = "10.61.4.2";

pub struct Node {
    // The daemon drops before its namespace.
    pub p: Proxy,
    pub ns: Netns,
    pub hit: String,
}

pub struct Topo {
    pub i: Node,
    pub v: Node,
    pub h: Node,
    pub r: Netns,
    pub dir: PathBuf,
}

impl Drop for Topo {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("RVS_LOGS").is_some() {
            eprintln!("--- i ---\n{}\n--- v ---\n{}\n--- h ---\n{}", self.i.p.log(), self.v.p.log(), self.h.p.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn esp(hit: &str) -> String {
    format!("[esp]\ntun = \"hip0\"\ntun_addrs = [\"{hit}/28\"]\n")
}

/// The four namespaces, the RVS up, the host registered. `h_extra` and
/// `i_extra` go into the host's and the Initiator's `[hip]` sections.
pub fn topo(i_extra: &str, h_extra: &str) -> Topo {
    topo_esp(i_extra, h_extra, "")
}

/// [`topo`] with `esp_extra` in the host's and the Initiator's `[esp]`
/// sections (hostxdp.rs: their ESP received on AF_XDP).
pub fn topo_esp(i_extra: &str, h_extra: &str, esp_extra: &str) -> Topo {
    let dir = PathBuf::from("/tmp").join(unique("rvs-"));
    std::fs::create_dir_all(&dir).unwrap();
    let r = Netns::new("r");
    let ni = Netns::new("i");
    let nv = Netns::new("v");
    let nh = Netns::new("h");
    r.forwarding();
    // Net 6: the Initiator's second network (double jump); 10.61.5.0/24
    // stays unrouted on purpose.
    let links = [(1, &ni, "e0", 1), (2, &nv, "e0", 2), (3, &nh, "e0", 3), (4, &nh, "e1", 4), (5, &ni, "e1", 6)];
    for (n, ns, dev, net) in links {
        let rdev = format!("e{n}");
        r.veth(&rdev, ns, dev);
        r.addr(&rdev, &format!("10.61.{net}.1/24"));
    }
    ni.addr("e0", &format!("{I4}/24"));
    nv.addr("e0", &format!("{V4}/24"));
    nh.addr("e0", &format!("{H4}/24"));
    for (ns, gw) in [(&ni, "10.61.1.1"), (&nv, "10.61.2.1"), (&nh, "10.61.3.1")] {
        ns.route(&format!("default via {gw}"));
    }
    let (ki, hi) = identity(&dir, "i");
    let (kv, hv) = identity(&dir, "v");
    let (kh, hh) = identity(&dir, "h");
    let pv = Proxy::start_config(
        &nv,
        &format!("[hip]\nrole = \"rvs\"\nidentities = [\"{}\"]\nrvs_allowed = [\"{hh}\"]\n", kv.display()),
    );
    let ph = Proxy::start_config(
        &nh,
        &format!(
            "[hip]\nidentities = [\"{}\"]\n{h_extra}\n[hip.rendezvous]\nhit = \"{hv}\"\naddress = \"{V4}\"\n\n{}{esp_extra}",
            kh.display(),
            esp(&hh)
        ),
    );
    // The Initiator knows the host only by the RVS's address (as DNS
    // would tell it: HIP RR with the RVS, RFC 8005).
    let pi = Proxy::start_config(
        &ni,
        &format!(
            "[hip]\nidentities = [\"{}\"]\n{i_extra}\n[[hip.peer]]\nhit = \"{hh}\"\nlocators = [\"{V4}\"]\n\n{}{esp_extra}",
            ki.display(),
            esp(&hi)
        ),
    );
    let t = Topo {
        i: Node { p: pi, ns: ni, hit: hi },
        v: Node { p: pv, ns: nv, hit: hv },
        h: Node { p: ph, ns: nh, hit: hh },
        r,
        dir,
    };
    assert!(
        wait_until(10, || registrations(&t.v.p)
            .iter()
            .any(|r| r["hit"] == t.h.hit.as_str() && r["locator"] == H4 && r["side"] == "registrar")),
        "no registration at the RVS: {:?}",
        registrations(&t.v.p)
    );
    t
}

pub fn registrations(p: &Proxy) -> Vec<Value> {
    p.ctl_json("rvs list")["registrations"].as_array().unwrap().clone()
}

pub fn assocs(n: &Node) -> Vec<Value> {
    n.p.ctl_json("assoc list")["assocs"].as_array().unwrap().clone()
}

pub fn hip_counter(n: &Node, name: &str) -> u64 {
    n.p.counter_of("assoc stats", name)
}

pub fn esp_counter(n: &Node, name: &str) -> u64 {
    n.p.counter_of("sa list", name)
}

/// The association with `peer` as `n` lists it.
pub fn assoc_with(n: &Node, peer: &Node) -> Value {
    assocs(n).into_iter().find(|a| a["peer_hit"] == peer.hit.as_str()).unwrap_or_else(|| panic!("{:?}", assocs(n)))
}

/// Move the host to the new network: new address and route first, then
/// the old address goes (what a handover looks like to the host).
pub fn move_host(h: &Netns) {
    h.sh(&format!(
        "ip addr add {H4_NEW}/24 dev e1 && ip route replace default via 10.61.4.1 dev e1 && ip addr del {H4}/24 dev e0"
    ));
}

#[test]
fn rvs_relays_i1_r1_via_rvs_then_direct() {
    let t = topo("", "");
    let pcap = t.dir.join("r.pcapng");
    let cap =
        Background::capture(&t.r, &format!("dumpcap -q -i any -f 'ip proto 139 or ip proto 50' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));

    let (_srv, sum) = http_blob_server(&t.h.ns, &t.dir, &t.h.hit, 2);
    let got = t.i.ns.sh(&format!("curl -sf -g --max-time 30 http://[{}]:8080/blob | sha256sum", t.h.hit));
    assert_eq!(got.split_whitespace().next().unwrap(), sum);

    // After the exchange the Initiator uses the host's real address.
    let a = assoc_with(&t.i, &t.h);
    assert_eq!((a["state"].as_str(), a["peer_locator"].as_str()), (Some("ESTABLISHED"), Some(H4)), "{a}");
    assert_eq!(hip_counter(&t.v, "i1_relayed"), 1);
    assert_eq!(hip_counter(&t.h, "relayed_i1_answered"), 1);
    assert_eq!(hip_counter(&t.i, "r1_via_rvs"), 1);
    let s = t.i.p.ctl_json("sa list");
    assert!(s["sas"].as_array().unwrap().iter().all(|sa| sa["peer"] == H4), "{s}");

    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    // tshark: I1 i -> v, I1 v -> h with FROM = i, R1 h -> i with VIA_RVS = v;
    // no ESP touches the RVS.
    let out = sh(&format!(
        "tshark -n -r {} -Y 'hip.packet_type == 1 or hip.packet_type == 2' -T fields -e ip.src -e ip.dst \
         -e hip.packet_type -e hip.tlv_from_address -e hip.tlv_rvs_address 2>/dev/null | sort -u",
        pcap.display()
    ));
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    let has = |want: &[&str]| rows.iter().any(|r| r.len() >= want.len() && r[..want.len()] == *want);
    assert!(has(&[I4, V4, "1", "", ""]), "I1 to the RVS: {out}");
    // FROM and VIA_RVS carry IPv4 as IPv4-mapped IPv6 (RFC 8004 §4.2).
    assert!(has(&[V4, H4, "1", &format!("::ffff:{I4}")]), "relayed I1 with FROM: {out}");
    assert!(has(&[H4, I4, "2", "", &format!("::ffff:{V4}")]), "R1 with VIA_RVS: {out}");
    let esp_via_rvs = sh(&format!("tshark -n -r {} -Y 'esp and ip.addr == {V4}' 2>/dev/null | wc -l", pcap.display()));
    assert_eq!(esp_via_rvs.trim(), "0");
    let esp_direct = sh(&format!("tshark -n -r {} -Y 'esp and ip.addr == {H4}' 2>/dev/null | wc -l", pcap.display()));
    assert!(esp_direct.trim().parse::<u64>().unwrap() > 100, "{esp_direct}");
}

/// Largest gap, in seconds, between consecutive TCP segments from `src`
/// in a capture of the (decrypted) TUN, and the time of its end.
pub fn largest_gap(pcap: &Path, src: &str) -> (f64, f64) {
    let out = sh(&format!(
        "tshark -n -r {} -Y 'tcp.srcport == 8080 and ipv6.src == {src} and tcp.len > 0' -T fields -e frame.time_epoch 2>/dev/null",
        pcap.display()
    ));
    let ts: Vec<f64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert!(ts.len() > 100, "{} segments", ts.len());
    ts.windows(2).map(|w| (w[1] - w[0], w[1])).fold((0.0, 0.0), |m, g| if g.0 > m.0 { g } else { m })
}

#[test]
fn rvs_host_moves_during_tcp_transfer() {
    let t = topo("", "");
    let (_srv, sum) = http_blob_server(&t.h.ns, &t.dir, &t.h.hit, 24);
    // Warm the association so the transfer starts at once.
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    let pcap = t.dir.join("tun.pcapng");
    let cap = Background::capture(&t.i.ns, &format!("dumpcap -q -i hip0 -f tcp -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));

    // 24 MiB at 6 MiB/s: about 4 s; the host moves after 1.5 s.
    let cmd = format!(
        "ip netns exec {} curl -sS -g --max-time 60 --limit-rate 6M http://[{}]:8080/blob -o {}/got",
        t.i.ns.name,
        t.h.hit,
        t.dir.display()
    );
    let curl = std::thread::spawn(move || integration_tests::sh_try(&cmd));
    std::thread::sleep(Duration::from_millis(1500));
    let moved_at = Instant::now();
    move_host(&t.h.ns);
    let (ok, _, err) = curl.join().unwrap();
    assert!(ok, "transfer failed across the move: {err}");
    let got = sh(&format!("sha256sum {}/got", t.dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "checksum differs after the move");
    eprintln!("transfer finished {:.1} s after the move", moved_at.elapsed().as_secs_f64());

    // The peer checked the new address, moved its SAs, and so did the RVS.
    let a = assoc_with(&t.i, &t.h);
    assert_eq!(a["peer_locator"], H4_NEW, "{a}");
    let s = t.i.p.ctl_json("sa list");
    assert!(s["sas"].as_array().unwrap().iter().all(|sa| sa["peer"] == H4_NEW), "{s}");
    assert_eq!(hip_counter(&t.i, "locators_verified"), 1);
    assert_eq!(hip_counter(&t.i, "address_checks_failed"), 0);
    assert!(hip_counter(&t.h, "locator_announcements") >= 2, "peer and RVS");
    assert!(wait_until(5, || registrations(&t.v.p).iter().any(|r| r["locator"] == H4_NEW)));
    // Same SAs throughout: nothing arrived on an SPI the peer did not know.
    assert_eq!(esp_counter(&t.i, "drop_unknown_spi"), 0);
    eprintln!("ESP from the new address before its check (dropped, counted): {}", esp_counter(&t.i, "drop_bad_source"));

    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let resets = sh(&format!("tshark -n -r {} -Y 'tcp.flags.reset == 1' 2>/dev/null | wc -l", pcap.display()));
    assert_eq!(resets.trim(), "0", "TCP reset during the move");
    let (gap, _) = largest_gap(&pcap, &t.h.hit);
    eprintln!("mobility: largest gap in the TCP stream across the move: {:.1} ms", gap * 1000.0);
    assert!(gap < 3.0, "gap {gap:.3} s");
}

/// Make-before-break (RFC 8046 §3.2.1, §5.4): the host gains its new
/// address while the old one still works and lists it beside the old one;
/// the Initiator checks it then, while the data stays on the old address.
/// When the old address goes, the Initiator moves on the UPDATE alone:
/// no address check at the move, no echo request on the wire after it.
#[test]
fn rvs_new_address_checked_ahead_then_the_move_needs_no_check() {
    let t = topo("", "");
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    t.h.ns.sh(&format!("ip addr add {H4_NEW}/24 dev e1"));
    assert!(wait_until(10, || hip_counter(&t.i, "locators_verified") == 1), "{}", t.i.p.ctl_json("assoc stats"));
    assert_eq!(hip_counter(&t.h, "locators_announced_ahead"), 1, "to the peer, not to the RVS");
    assert_eq!(assoc_with(&t.i, &t.h)["peer_locator"], H4, "data stays on the address in use");
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));

    let pcap = t.dir.join("r.pcapng");
    let cap = Background::capture(&t.r, &format!("dumpcap -q -i any -f 'ip proto 139' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));
    t.h.ns.sh(&format!("ip route replace default via 10.61.4.1 dev e1 && ip addr del {H4}/24 dev e0"));
    assert!(wait_until(10, || assoc_with(&t.i, &t.h)["peer_locator"] == H4_NEW), "{:?}", assocs(&t.i));
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    assert_eq!(hip_counter(&t.i, "switched_to_checked"), 1);
    assert_eq!(hip_counter(&t.i, "address_checks"), 1, "one check, ahead of the move");
    let s = t.i.p.ctl_json("sa list");
    assert!(s["sas"].as_array().unwrap().iter().all(|sa| sa["peer"] == H4_NEW), "{s}");
    std::thread::sleep(Duration::from_millis(200));
    drop(cap);
    // The move's UPDATE went out and was answered; no ECHO_REQUEST_SIGNED
    // (parameter 897, RFC 7401 §5.2.20) to the host after it.
    let updates = sh(&format!(
        "tshark -n -r {} -Y 'hip.packet_type == 16 and ip.src == {H4_NEW} and ip.dst == {I4}' 2>/dev/null | wc -l",
        pcap.display()
    ));
    assert!(updates.trim().parse::<u64>().unwrap() >= 1, "no UPDATE from the new address");
    let echoes =
        sh(&format!("tshark -n -r {} -Y 'hip.type == 897 and ip.src == {I4}' 2>/dev/null | wc -l", pcap.display()));
    assert_eq!(echoes.trim(), "0", "an address check at the move");
}

/// Send `hip` (a HIP packet, checksum recomputed here) from `ns` to `dst`
/// over a raw protocol-139 socket.
fn inject(ns: &Netns, dst: &str, hip: &[u8]) {
    let script = format!(
        r#"
import socket, struct
dst = "{dst}"
pkt = bytearray(bytes.fromhex("{hex}"))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 139)
s.connect((dst, 0))
src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); src.connect((dst, 9)); src = src.getsockname()[0]
pkt[4:6] = b"\0\0"
ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 139, len(pkt))
data = ph + bytes(pkt)
c = sum(struct.unpack("!%dH" % (len(data) // 2), data))
while c >> 16: c = (c & 0xffff) + (c >> 16)
pkt[4:6] = struct.pack("!H", ~c & 0xffff)
s.send(bytes(pkt))
"#,
        hex = hip.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let path = std::env::temp_dir().join(unique("inject-")).with_extension("py");
    std::fs::write(&path, script).unwrap();
    ns.sh(&format!("python3 {}", path.display()));
    let _ = std::fs::remove_file(path);
}

/// The HIP payloads of UPDATEs from `src` to `dst` carrying a LOCATOR_SET.
fn captured_updates(pcap: &Path, src: &str, dst: &str) -> Vec<Vec<u8>> {
    let out = sh(&format!(
        "tshark -n -r {} -Y 'hip.packet_type == 16 and ip.src == {src} and ip.dst == {dst} and hip.tlv.locator_address' \
         -T json -x 2>/dev/null",
        pcap.display()
    ));
    let json_start = out.find('[').expect("tshark json");
    let v: Value = serde_json::from_str(&out[json_start..]).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let raw = p["_source"]["layers"]["hip_raw"][0].as_str().unwrap();
            (0..raw.len()).step_by(2).map(|i| u8::from_str_radix(&raw[i..i + 2], 16).unwrap()).collect()
        })
        .collect()
}

/// The host announces an address the Initiator cannot reach: the address
/// check fails, nothing moves, it is counted. Then forged copies of the
/// host's real UPDATE (signature or LOCATOR_SET altered) are counted and
/// change nothing.
#[test]
fn rvs_unreachable_locator_and_forged_updates_change_nothing() {
    let t = topo("retransmit_ms = 100\nmax_retransmits = 3", "");
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    assert_eq!(assoc_with(&t.i, &t.h)["peer_locator"], H4);
    let pcap = t.dir.join("r.pcapng");
    let cap = Background::capture(&t.r, &format!("dumpcap -q -i e3 -f 'ip proto 139' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));

    // 10.61.5.2 leaves through the router but nothing routes back to it.
    t.h.ns.sh(&format!(
        "ip addr add 10.61.5.2/32 dev e0 && ip route replace default via 10.61.3.1 dev e0 onlink src 10.61.5.2 \
         && ip addr del {H4}/24 dev e0"
    ));
    assert!(wait_until(10, || hip_counter(&t.i, "address_checks_failed") == 1), "{}", t.i.p.ctl_json("assoc stats"));
    assert_eq!(hip_counter(&t.i, "locators_verified"), 0);
    assert_eq!(hip_counter(&t.i, "address_checks"), 1);
    let a = assoc_with(&t.i, &t.h);
    assert_eq!(a["peer_locator"], H4, "{a}");
    let s = t.i.p.ctl_json("sa list");
    assert!(s["sas"].as_array().unwrap().iter().all(|sa| sa["peer"] == H4), "{s}");

    std::thread::sleep(Duration::from_millis(200));
    drop(cap);
    let updates = captured_updates(&pcap, "10.61.5.2", I4);
    assert!(!updates.is_empty(), "no UPDATE with LOCATOR_SET captured");
    let genuine = &updates[0];
    let (sig0, mac0) = (hip_counter(&t.i, "drop_bad_signature"), hip_counter(&t.i, "drop_bad_hip_mac"));
    // HIP_SIGNATURE is the last parameter, after HIP_MAC: MAC intact,
    // signature broken.
    let mut bad_sig = genuine.clone();
    let n = bad_sig.len();
    bad_sig[n - 10] ^= 0x55;
    inject(&t.r, I4, &bad_sig);
    // LOCATOR_SET (covered by HIP_MAC) pointed elsewhere.
    let at = genuine.windows(4).position(|w| w == [10, 61, 5, 2]).expect("locator in the UPDATE");
    let mut bad_mac = genuine.clone();
    bad_mac[at + 3] = 99;
    inject(&t.r, I4, &bad_mac);
    assert!(wait_until(5, || hip_counter(&t.i, "drop_bad_signature") == sig0 + 1), "{}", t.i.p.ctl_json("assoc stats"));
    assert!(wait_until(5, || hip_counter(&t.i, "drop_bad_hip_mac") == mac0 + 1), "{}", t.i.p.ctl_json("assoc stats"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hip_counter(&t.i, "address_checks"), 1, "a forgery started an address check");
    assert_eq!(assoc_with(&t.i, &t.h)["peer_locator"], H4);
}

/// The SPIs of `n`'s SAs with `peer`, sorted.
fn sa_spis(n: &Node, peer: &Node) -> Vec<u64> {
    let s = n.p.ctl_json("sa list");
    let mut v: Vec<u64> = s["sas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sa| sa["inner_peer"] == peer.hit.as_str())
        .map(|sa| sa["spi"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

/// `assoc rekey` during a transfer: UPDATE with ESP_INFO and a new
/// DIFFIE_HELLMAN (RFC 7402 §6.8 - §6.10); both ends switch to new SPIs and
/// keys in an order that never has one send on an SA the other lacks (no
/// unknown-SPI drop); the replaced inbound SAs go after the retirement
/// window; the transfer, much of it after the rekey, completes intact.
/// Then `assoc rekey --keymat`
/// from the other end draws from the KEYMAT instead.
#[test]
fn rvs_rekey_by_update_during_transfer() {
    let t = topo("", "");
    let (_srv, sum) = http_blob_server(&t.h.ns, &t.dir, &t.h.hit, 12);
    // curl's --limit-rate paces its reads only: with the default receive
    // buffers the whole body crossed the network in well under a second,
    // before the rekey (then no ESP ever came on the new SAs: what made the
    // first version of this test fail under load). A small receive buffer
    // makes the host send at the reader's pace, across the rekey.
    t.i.ns.sh("sysctl -qw net.ipv4.tcp_rmem='4096 131072 262144'");
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    let before = assoc_with(&t.i, &t.h);
    let cmd = format!(
        "ip netns exec {} curl -sS -g --max-time 60 --limit-rate 6M http://[{}]:8080/blob -o {}/got",
        t.i.ns.name,
        t.h.hit,
        t.dir.display()
    );
    let curl = std::thread::spawn(move || integration_tests::sh_try(&cmd));
    std::thread::sleep(Duration::from_millis(800));
    let (ok, _, err) = t.i.p.ctl(&format!("assoc rekey {}", t.h.hit));
    assert!(ok, "{err}");
    let (ok, _, err) = curl.join().unwrap();
    assert!(ok, "transfer failed across the rekey: {err}");
    let got = sh(&format!("sha256sum {}/got", t.dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "checksum differs after the rekey");
    // Both ends agree on the new pair.
    let (ai, ah) = (assoc_with(&t.i, &t.h), assoc_with(&t.h, &t.i));
    assert_ne!(ai["spi_in"], before["spi_in"]);
    assert_ne!(ai["spi_out"], before["spi_out"]);
    assert_eq!((ai["spi_in"].clone(), ai["spi_out"].clone()), (ah["spi_out"].clone(), ah["spi_in"].clone()));
    for n in [&t.i, &t.h] {
        assert_eq!((hip_counter(n, "rekeys"), hip_counter(n, "rekeys_new_dh")), (1, 1), "{}", n.hit);
    }
    // The replaced inbound SAs stay for the retirement window only (5 s at
    // most): then each table holds exactly the new pair.
    let pair = |a: &Value| {
        let mut v = vec![a["spi_in"].as_u64().unwrap(), a["spi_out"].as_u64().unwrap()];
        v.sort();
        v
    };
    let (want_i, want_h) = (pair(&ai), pair(&ah));
    assert!(
        wait_until(8, || sa_spis(&t.i, &t.h) == want_i && sa_spis(&t.h, &t.i) == want_h),
        "i {:x?} (want {want_i:x?}), h {:x?} (want {want_h:x?})",
        sa_spis(&t.i, &t.h),
        sa_spis(&t.h, &t.i)
    );
    for n in [&t.i, &t.h] {
        assert_eq!(esp_counter(n, "drop_unknown_spi"), 0, "ESP on an SA the peer lacked, at {}", n.hit);
    }
    // The body crossed the rekey: the Initiator opened a good part of it
    // on the new inbound SA.
    let s = t.i.p.ctl_json("sa list");
    let new_in = s["sas"].as_array().unwrap().iter().find(|sa| sa["spi"] == ai["spi_in"]).unwrap().clone();
    assert!(new_in["packets"].as_u64().unwrap() > 1000, "little data after the rekey: {new_in}");
    // A rekey from the host, drawn from the KEYMAT: traffic goes on.
    let (ok, _, err) = t.h.p.ctl(&format!("assoc rekey --keymat {}", t.i.hit));
    assert!(ok, "{err}");
    assert!(wait_until(5, || hip_counter(&t.i, "rekeys") == 2 && hip_counter(&t.h, "rekeys") == 2));
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    assert_eq!(hip_counter(&t.i, "rekeys_new_dh"), 1, "--keymat used a new DH");
    let ai2 = assoc_with(&t.i, &t.h);
    assert_ne!(ai2["spi_in"], ai["spi_in"]);
    assert_eq!(hip_counter(&t.h, "rekeys_started"), 1);
}

/// Both ends move at once during a transfer: each one's UPDATE goes to the
/// other's old address; the Initiator, which reached the host through its
/// RVS, starts over there (the RVS has the host's new locator) and the
/// transfer completes.
#[test]
fn rvs_double_jump_recovers_through_the_rvs() {
    let t = topo("", "");
    let (_srv, sum) = http_blob_server(&t.h.ns, &t.dir, &t.h.hit, 32);
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    let cmd = format!(
        "ip netns exec {} curl -sS -g --max-time 60 --limit-rate 3M http://[{}]:8080/blob -o {}/got",
        t.i.ns.name,
        t.h.hit,
        t.dir.display()
    );
    let curl = std::thread::spawn(move || integration_tests::sh_try(&cmd));
    std::thread::sleep(Duration::from_millis(1000));
    // On veth the two moves cannot be made simultaneous (RTT 0.2 ms): the
    // router drops HIP UPDATEs (type 16) between the two ends, as if each
    // had gone to the other's old address. UPDATEs to and from the RVS,
    // and the base exchange, pass.
    t.r.sh("nft add table ip dj && nft add chain ip dj hold '{ type filter hook forward priority 0; }' \
         && nft add rule ip dj hold ip protocol 139 ip saddr { 10.61.1.0/24, 10.61.6.0/24 } \
            ip daddr { 10.61.3.0/24, 10.61.4.0/24 } @th,16,8 16 counter drop \
         && nft add rule ip dj hold ip protocol 139 ip saddr { 10.61.3.0/24, 10.61.4.0/24 } \
            ip daddr { 10.61.1.0/24, 10.61.6.0/24 } @th,16,8 16 counter drop");
    let moved_at = Instant::now();
    t.i.ns.sh(
        "ip addr add 10.61.6.2/24 dev e1 && ip route replace default via 10.61.6.1 dev e1 && ip addr del 10.61.1.2/24 dev e0",
    );
    move_host(&t.h.ns);
    // Recovered: a new association from the new address to the new one.
    assert!(
        wait_until(15, || {
            let a = assoc_with(&t.i, &t.h);
            a["local_locator"] == "10.61.6.2" && a["peer_locator"] == H4_NEW && a["state"] == "ESTABLISHED"
        }),
        "{:?}",
        assocs(&t.i)
    );
    eprintln!("double jump: association recovered {:.1} s after the moves", moved_at.elapsed().as_secs_f64());
    let (ok, _, err) = curl.join().unwrap();
    assert!(ok, "transfer failed across the double jump: {err}");
    let got = sh(&format!("sha256sum {}/got", t.dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "checksum differs after the double jump");
    eprintln!("double jump: transfer finished {:.1} s after the moves", moved_at.elapsed().as_secs_f64());
    assert_eq!(hip_counter(&t.i, "rvs_recoveries"), 1);
    assert_eq!(hip_counter(&t.v, "i1_relayed"), 2);
    let dropped = t.r.sh("nft list table ip dj");
    assert!(!dropped.contains("packets 0 "), "no UPDATE was dropped: {dropped}");
}

/// What the router saw on the Initiator's link around a move whose
/// address check was held back: (ESP packets I -> the new address before
/// the host's echo response reached the router, of which while the check
/// was blocked).
fn esp_to_new_address_before_the_echo(pcap: &Path, unblocked: f64) -> (usize, usize) {
    let rows = sh(&format!(
        "tshark -n -r {} -T fields -e frame.time_epoch -e ip.src -e ip.dst -e ip.proto 2>/dev/null",
        pcap.display()
    ));
    let rows: Vec<(f64, String, String, String)> = rows
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.to_string(), f.get(3)?.to_string()))
        })
        .collect();
    // The host's UPDATE with ECHO_RESPONSE_SIGNED (parameter type 961,
    // RFC 7401 §5.2.20) on its way to the Initiator.
    let echo = sh(&format!(
        "tshark -n -r {} -Y 'hip.type == 961 and ip.src == {H4_NEW} and ip.dst == {I4}' -T fields -e frame.time_epoch \
         2>/dev/null",
        pcap.display()
    ));
    let echo: f64 = echo
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no echo response from {H4_NEW} in the capture"));
    let esp: Vec<f64> = rows.iter().filter(|r| r.1 == I4 && r.2 == H4_NEW && r.3 == "50").map(|r| r.0).collect();
    (esp.iter().filter(|&&t| t < echo).count(), esp.iter().filter(|&&t| t < unblocked).count())
}

/// A move under a ping stream I -> H whose address check the router holds
/// back (HIP to the new address dropped for 400 ms, so the check needs a
/// retransmission); returns what [`esp_to_new_address_before_the_echo`] saw.
fn move_with_slow_address_check(t: &Topo) -> (usize, usize) {
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    let pcap = t.dir.join("e1.pcapng");
    let cap =
        Background::capture(&t.r, &format!("dumpcap -q -i e1 -f 'ip proto 50 or ip proto 139' -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    let _ping = Background::spawn(&t.i.ns, &format!("ping -6 -q -i 0.01 -c 500 {}", t.h.hit));
    // The echo replies earn the Initiator credit (counted once a second).
    std::thread::sleep(Duration::from_millis(1500));
    t.r.sh(&format!(
        "nft add table inet hold && nft add chain inet hold held '{{ type filter hook forward priority 0; }}' \
         && nft add rule inet hold held ip daddr {H4_NEW} meta l4proto 139 drop"
    ));
    move_host(&t.h.ns);
    std::thread::sleep(Duration::from_millis(400));
    t.r.sh("nft delete table inet hold");
    let unblocked = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(wait_until(10, || assoc_with(&t.i, &t.h)["peer_locator"] == H4_NEW), "{:?}", assocs(&t.i));
    // Data flows at the new address once verified.
    t.i.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    assert_eq!(hip_counter(&t.i, "locators_verified"), 1);
    assert_eq!(hip_counter(&t.i, "address_checks_failed"), 0);
    drop(cap);
    esp_to_new_address_before_the_echo(&pcap, unblocked)
}

/// Default (strict, RFC 8046 §5.3.2): nothing goes to the host's new
/// address before its echo response came back, even when the check is slow.
#[test]
fn rvs_strict_address_check_sends_nothing_before_the_echo() {
    let t = topo("", "");
    let (before_echo, _) = move_with_slow_address_check(&t);
    assert_eq!(before_echo, 0, "ESP to an unverified locator without credit-based authorization");
    assert_eq!(hip_counter(&t.i, "credit_grants"), 0);
}

/// `credit_based_authorization = true` (RFC 8046 §5.5): while the slow
/// check runs, the ping stream already goes to the new address, within
/// the credit the host's replies earned; verified, the SAs stay there.
#[test]
fn rvs_credit_based_authorization_sends_during_the_check() {
    let t = topo("credit_based_authorization = true", "");
    let (before_echo, while_blocked) = move_with_slow_address_check(&t);
    eprintln!("CBA: ESP to the new address before its echo: {before_echo} ({while_blocked} while the check was held)");
    assert!(while_blocked > 0, "no data to the new locator while its check was held back");
    assert_eq!(hip_counter(&t.i, "credit_grants"), 1);
    let granted = hip_counter(&t.i, "credit_granted_bytes");
    // Each ping costs its sealed size: in BEET at least the ESP header, the
    // 64 bytes of ICMPv6 and the ICV, 88 bytes; the last one may overdraw
    // (it goes while the rest covers its inner size).
    assert!(88 * before_echo as u64 <= granted + 88, "{before_echo} packets on {granted} bytes of credit");
    eprintln!("CBA: credit {granted} bytes, drop_no_credit {}", esp_counter(&t.i, "drop_no_credit"));
}
