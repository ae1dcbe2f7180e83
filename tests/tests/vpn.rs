//! Issue 7: the mobile VPN with fast handover, end to end in namespaces:
//!
//! ```text
//! cn 10.1.1.10 ── ha 10.1.1.1|10.1.0.1 ── gw 10.1.0.254|192.0.2.1 ── inet ─┬─ net A 198.51.100.0/24 ── mn eth_a
//!                 (home 10.2.0.0/24)                                      └─ net B 203.0.113.0/24  ── mn eth_b
//! ```
//!
//! Real daemons (`proxy-ctl run` with `[vpn.ha]`, `[vpn.gw]`, `[vpn.mn]`,
//! the MN and GW with `[hip]` identities: their SAs come from a HIP base
//! exchange), real sockets, tshark on the wire.

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use integration_tests::{Background, Netns, Proxy, identity, in_netns, sh, unique, wait_until};
use proxy_proto::vpn::{
    auth::{AuthAlgorithm, MnHaKey},
    identification::Identification,
    request::{RegistrationRequestRepr, RequestFlags},
    siu::{SiuKey, SiuRepr},
};
use serde_json::Value;

// Rekeying the MN <-> GW SAs by HIP UPDATE, on this file's topology.
#[path = "vpn_rekey.rs"]
mod rekey;

// The GW and the MN receiving ESP on AF_XDP, on this file's topology.
#[path = "vpn_afxdp.rs"]
mod afxdp;

// The GW holding what the HA sent to the address the MN left.
#[path = "vpn_leaving.rs"]
mod leaving;

const KEY_MG: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_GM: &str = "202122232425262728292a2b2c2d2e2f30313233";
const MNHA_KEY: &str = "6d6e2d68612d736563726574";
const MNHA_SPI: u32 = 0x8000_0010;
const HOME: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
const COA_A: &str = "198.51.100.23";
const COA_B: &str = "203.0.113.23";

fn siu_key_hex() -> String {
    "5a".repeat(32)
}

/// What the VPN tests ask a daemon (`proxy-ctl --json ...`).
trait VpnCtl {
    fn vpn_counter(&self, name: &str) -> u64;
    fn bundle(&self) -> (String, u64, u64);
    fn sas(&self) -> Vec<(String, u64, String, String)>;
    fn binding(&self) -> Option<String>;
    fn history(&self) -> Vec<Value>;
    fn assocs(&self) -> Vec<Value>;
}

impl VpnCtl for Proxy {
    fn vpn_counter(&self, name: &str) -> u64 {
        self.counter_of("vpn stats", name)
    }

    /// (care-of address, inbound SPI, outbound SPI) of the first bundle.
    fn bundle(&self) -> (String, u64, u64) {
        let v = self.ctl_json("vpn bundles");
        let b = &v["bundles"][0];
        (
            b["care_of_address"].as_str().unwrap_or("-").into(),
            b["inbound_spi"].as_u64().unwrap_or(0),
            b["outbound_spi"].as_u64().unwrap_or(0),
        )
    }

    /// `sa list`: the bundle's SAs in the ESP engine's table, as
    /// (direction, SPI, local, peer), sorted.
    fn sas(&self) -> Vec<(String, u64, String, String)> {
        let v = self.ctl_json("sa list");
        let mut r: Vec<_> = v["sas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["mode"], "tunnel", "{s}");
                let t = |k: &str| s[k].as_str().unwrap().to_string();
                (t("direction"), s["spi"].as_u64().unwrap(), t("local"), t("peer"))
            })
            .collect();
        r.sort();
        r
    }

    fn binding(&self) -> Option<String> {
        let v = self.ctl_json("vpn bindings");
        v["bindings"].as_array().unwrap().first().map(|b| b["care_of_address"].as_str().unwrap().to_string())
    }

    fn history(&self) -> Vec<Value> {
        self.ctl_json("vpn history")["handovers"].as_array().unwrap().clone()
    }

    fn assocs(&self) -> Vec<Value> {
        self.ctl_json("assoc list")["assocs"].as_array().unwrap().clone()
    }
}

struct Topo {
    cn: Netns,
    ha_ns: Netns,
    gw_ns: Netns,
    _inet: Netns,
    mn_ns: Netns,
    dir: PathBuf,
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn topo() -> Topo {
    let (cn, ha, gw, inet, mn) =
        (Netns::new("vc"), Netns::new("vh"), Netns::new("vg"), Netns::new("vi"), Netns::new("vm"));
    cn.veth("eth0", &ha, "lan1");
    ha.veth("lan0", &gw, "in0");
    gw.veth("out0", &inet, "gw0");
    inet.veth("neta", &mn, "eth_a");
    inet.veth("netb", &mn, "eth_b");
    cn.addr("eth0", "10.1.1.10/24");
    cn.route("default via 10.1.1.1");
    ha.addr("lan1", "10.1.1.1/24");
    ha.addr("lan0", "10.1.0.1/24");
    ha.route("default via 10.1.0.254");
    gw.addr("in0", "10.1.0.254/24");
    gw.addr("out0", "192.0.2.1/24");
    gw.route("default via 192.0.2.254");
    gw.route("10.1.1.0/24 via 10.1.0.1");
    inet.addr("gw0", "192.0.2.254/24");
    inet.addr("neta", "198.51.100.1/24");
    inet.addr("netb", "203.0.113.1/24");
    for n in [&ha, &gw, &inet] {
        n.forwarding();
    }
    for n in [&ha, &gw, &mn] {
        n.sh("sysctl -qw net.ipv4.conf.all.rp_filter=0");
    }
    mn.addr("eth_a", &format!("{COA_A}/24"));
    mn.route("default via 198.51.100.1");
    let dir = PathBuf::from("/tmp").join(unique("hp-vpn-"));
    std::fs::create_dir_all(&dir).unwrap();
    Topo { cn, ha_ns: ha, gw_ns: gw, _inet: inet, mn_ns: mn, dir }
}

/// `ebpf`: IP-in-IP by `tc_ipip_encap` on the HA's `lan0`; else the TUN path.
fn ha_config(ebpf: bool) -> String {
    let encap = if ebpf { "encap_dev = \"lan0\"\n" } else { "" };
    format!(
        "[vpn.ha]\n{encap}address = \"10.1.0.1\"\nhome_prefix = \"10.2.0.0/24\"\nprivate = [\"10.1.0.0/16\"]\n\
         [[vpn.ha.gateway]]\ninner = \"10.1.0.254\"\nsiu_key_id = 1\nsiu_key = \"{}\"\n\
         [[vpn.ha.node]]\nhome = \"10.2.0.5\"\nspi = {MNHA_SPI}\nkey = \"{MNHA_KEY}\"\n",
        siu_key_hex()
    )
}

/// How the MN <-> GW SAs come about.
#[derive(Clone)]
enum Keying {
    /// A HIP base exchange: the GW admits `admitted`, the MN uses `mn_key`.
    Hip { gw_key: PathBuf, gw_hit: String, mn_key: PathBuf, admitted: String },
    /// `[[vpn.gw.node]]` / `[vpn.mn]` SPIs and keys.
    Static,
}

impl Keying {
    /// Fresh identities for GW and MN, the MN's HIT admitted.
    fn hip(dir: &Path) -> Keying {
        let (gw_key, gw_hit) = identity(dir, "gw");
        let (mn_key, mn_hit) = identity(dir, "mn");
        Keying::Hip { gw_key, gw_hit, mn_key, admitted: mn_hit }
    }
}

fn gw_config(keying: &Keying) -> String {
    gw_config_with(keying, "")
}

/// `extra`: more `[vpn.gw]` settings, one per line.
fn gw_config_with(keying: &Keying, extra: &str) -> String {
    let (hip, node) = match keying {
        Keying::Hip { gw_key, admitted, .. } => (
            format!("[hip]\nidentities = [\"{}\"]\nretransmit_ms = 200\n", gw_key.display()),
            format!("hit = \"{admitted}\"\n"),
        ),
        Keying::Static => (
            String::new(),
            format!(
                "care_of = \"{COA_A}\"\nspi_in = 4096\nspi_out = 8192\nkey_in = \"{KEY_MG}\"\nkey_out = \"{KEY_GM}\"\n"
            ),
        ),
    };
    format!(
        "{hip}[vpn.gw]\ninner = \"10.1.0.254\"\npublic = \"192.0.2.1\"\ninner_dev = \"in0\"\n{extra}\
         [[vpn.gw.home_agent]]\naddress = \"10.1.0.1\"\nsiu_key_id = 1\nsiu_key = \"{}\"\n\
         [[vpn.gw.node]]\nhome = \"10.2.0.5\"\n{node}",
        siu_key_hex()
    )
}

fn mn_config(keying: &Keying, retransmit_ms: u64, max_retx: u32) -> String {
    let (hip, sas) = match keying {
        Keying::Hip { gw_hit, mn_key, .. } => (
            format!("[hip]\nidentities = [\"{}\"]\nretransmit_ms = 200\nmax_retransmits = 2\n", mn_key.display()),
            format!("gateway_hit = \"{gw_hit}\"\n"),
        ),
        Keying::Static => {
            (String::new(), format!("spi_in = 8192\nspi_out = 4096\nkey_in = \"{KEY_GM}\"\nkey_out = \"{KEY_MG}\"\n"))
        }
    };
    format!(
        "{hip}[vpn.mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = [\"10.1.0.0/16\"]\n\
         interfaces = [\"eth_a\", \"eth_b\"]\n{sas}mn_ha_spi = {MNHA_SPI}\nmn_ha_key = \"{MNHA_KEY}\"\n\
         retransmit_ms = {retransmit_ms}\nmax_retransmissions = {max_retx}\n"
    )
}

struct Vpn {
    t: Topo,
    ha: Proxy,
    gw: Proxy,
    mn: Proxy,
}

fn vpn(keying: impl FnOnce(&Path) -> Keying, ebpf: bool, retransmit_ms: u64, max_retx: u32) -> Vpn {
    let t = topo();
    let k = keying(&t.dir);
    let ha = Proxy::start_config(&t.ha_ns, &ha_config(ebpf));
    let gw = Proxy::start_config(&t.gw_ns, &gw_config(&k));
    let mn = Proxy::start_config(&t.mn_ns, &mn_config(&k, retransmit_ms, max_retx));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)), "first registration:\n{}", mn.log());
    Vpn { t, ha, gw, mn }
}

/// The VPN of vpn.rs with `esp` (an `[esp]` section, or nothing) on the
/// MN and the GW.
fn vpn_with(esp: &str) -> Vpn {
    let t = topo();
    let k = Keying::hip(&t.dir);
    let ha = Proxy::start_config(&t.ha_ns, &ha_config(true));
    let gw = Proxy::start_config(&t.gw_ns, &format!("{esp}{}", gw_config(&k)));
    let mn = Proxy::start_config(&t.mn_ns, &format!("{esp}{}", mn_config(&k, 1000, 3)));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)), "first registration:\n{}", mn.log());
    Vpn { t, ha, gw, mn }
}

/// The SPIs of the MN's HIP association with the GW, as (inbound, outbound),
/// checked against the GW's side of it.
fn hip_spis(v: &Vpn) -> (u64, u64) {
    let (m, g) = (v.mn.assocs(), v.gw.assocs());
    assert_eq!((m.len(), g.len()), (1, 1), "{m:?} {g:?}");
    assert_eq!(m[0]["state"], "ESTABLISHED", "{m:?}");
    assert_eq!((&m[0]["spi_in"], &m[0]["spi_out"]), (&g[0]["spi_out"], &g[0]["spi_in"]), "{m:?} {g:?}");
    (m[0]["spi_in"].as_u64().unwrap(), m[0]["spi_out"].as_u64().unwrap())
}

/// The MN leaves one visited network for the other.
fn move_to(mn: &Netns, from: &str, to: &str, addr: &str, router: &str) {
    mn.sh(&format!(
        "ip addr flush dev {from} && ip addr add {addr}/24 dev {to} && ip route replace default via {router} dev {to}"
    ));
}

fn ping_ok(ns: &Netns, dst: &str) -> bool {
    ns.sh_try(&format!("ping -c1 -W1 {dst}")).0
}

/// A CN -> MN UDP stream at ~1 packet/ms with sequence numbers; returns
/// (sent, received, stop flag).
fn udp_stream(cn: &str, mn: &str) -> (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>) {
    let (sent, recv, _, stop) = udp_stream_numbered(cn, mn);
    (sent, recv, stop)
}

/// [`udp_stream`], with the set of sequence numbers received too.
#[allow(clippy::type_complexity)]
fn udp_stream_numbered(
    cn: &str,
    mn: &str,
) -> (Arc<AtomicU64>, Arc<AtomicU64>, Arc<Mutex<BTreeSet<u64>>>, Arc<AtomicBool>) {
    let (sent, recv, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let got: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let (r, g, s2) = (recv.clone(), got.clone(), stop.clone());
    in_netns(mn, move || {
        let sock = UdpSocket::bind("10.2.0.5:5000").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 64];
        while !s2.load(Ordering::Relaxed) {
            if let Ok(8) = sock.recv(&mut buf) {
                r.fetch_add(1, Ordering::Relaxed);
                g.lock().unwrap().insert(u64::from_be_bytes(buf[..8].try_into().unwrap()));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let (s, s3) = (sent.clone(), stop.clone());
    in_netns(cn, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        let mut i: u64 = 0;
        while !s3.load(Ordering::Relaxed) {
            let _ = sock.send_to(&i.to_be_bytes(), "10.2.0.5:5000");
            s.fetch_add(1, Ordering::Relaxed);
            i += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    (sent, recv, got, stop)
}

/// A paced TCP transfer CN -> MN's home address (`total` bytes, 32 KiB
/// every `pace_ms`): join the pair for (received, checksum) and the sent
/// checksum.
#[allow(clippy::type_complexity)]
fn tcp_transfer(
    v: &Vpn,
    total: usize,
    pace_ms: u64,
) -> (std::thread::JoinHandle<(usize, u64)>, std::thread::JoinHandle<u64>) {
    let srv = in_netns(&v.t.mn_ns.name, || {
        let l = TcpListener::bind("10.2.0.5:6000").unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (mut got, mut sum, mut buf) = (0usize, 0u64, vec![0u8; 65536]);
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            sum = buf[..n].iter().fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
            got += n;
        }
        (got, sum)
    });
    std::thread::sleep(Duration::from_millis(100));
    let cli = in_netns(&v.t.cn.name, move || {
        let mut c = TcpStream::connect("10.2.0.5:6000").unwrap();
        c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let sum = data.iter().fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
        for chunk in data.chunks(32 << 10) {
            c.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(pace_ms));
        }
        sum
    });
    (srv, cli)
}

#[test]
fn vpn_handover_keeps_udp_and_tcp_flowing_without_rekeying() {
    // SAs from a HIP base exchange; IP-in-IP at the HA in eBPF (TC egress).
    let v = vpn(Keying::hip, true, 1000, 3);
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "CN -> MN before any move");
    // The VPN's SPIs are the HIP association's, on both sides.
    let (spi_in, spi_out) = hip_spis(&v);
    assert_eq!(v.mn.bundle(), (COA_A.into(), spi_in, spi_out));
    assert_eq!(v.gw.bundle(), (COA_A.into(), spi_out, spi_in));
    assert_eq!(v.gw.vpn_counter("hip_established"), 1);
    let origin = v.mn.ctl_json("sa list")["sas"][0]["origin"].clone();
    assert_eq!(origin, "hip");

    // A TCP transfer MN <- CN across both moves: 4 MB at a paced rate.
    const TOTAL: usize = 4 << 20;
    let (srv, cli) = tcp_transfer(&v, TOTAL, 10);
    let (sent, recv, stop) = udp_stream(&v.t.cn.name, &v.t.mn_ns.name);
    std::thread::sleep(Duration::from_millis(500));

    let mut losses = Vec::new();
    for (from, to, addr, router) in
        [("eth_a", "eth_b", COA_B, "203.0.113.1"), ("eth_b", "eth_a", COA_A, "198.51.100.1")]
    {
        let (s0, r0) = (sent.load(Ordering::Relaxed), recv.load(Ordering::Relaxed));
        move_to(&v.t.mn_ns, from, to, addr, router);
        assert!(wait_until(5, || v.ha.binding().as_deref() == Some(addr)), "HA binding did not move to {addr}");
        std::thread::sleep(Duration::from_millis(700));
        let (s1, r1) = (sent.load(Ordering::Relaxed), recv.load(Ordering::Relaxed));
        assert!(r1 > r0 + 100, "UDP did not resume at {addr}: {r0} -> {r1}");
        // Same SPIs on both sides, still the association's: nothing was re-keyed.
        assert_eq!(v.mn.bundle(), (addr.to_string(), spi_in, spi_out));
        assert_eq!(v.gw.bundle(), (addr.to_string(), spi_out, spi_in));
        assert_eq!(hip_spis(&v), (spi_in, spi_out));
        // The same SAs in the ESP engine's table, moved to the new care-of address.
        let s = |d: &str, spi, l: &str, p: &str| (d.to_string(), spi, l.to_string(), p.to_string());
        let (i, o) = (spi_in, spi_out);
        assert_eq!(v.mn.sas(), vec![s("in", i, addr, "192.0.2.1"), s("out", o, addr, "192.0.2.1")]);
        assert_eq!(v.gw.sas(), vec![s("in", o, "192.0.2.1", addr), s("out", i, "192.0.2.1", addr)]);
        // The HIP association that keyed them follows: `assoc list` shows
        // the care-of address on both sides (told after the move, no UPDATE).
        let locators = || {
            let (m, g) = (v.mn.assocs(), v.gw.assocs());
            (m[0]["local_locator"].clone(), g[0]["peer_locator"].clone())
        };
        assert!(wait_until(2, || locators() == (addr.into(), addr.into())), "assoc list: {:?}", locators());
        losses.push(((s1 - s0) as i64 - (r1 - r0) as i64, s1 - s0));
    }
    stop.store(true, Ordering::Relaxed);
    let want = cli.join().unwrap();
    let (got, sum) = srv.join().unwrap();
    assert_eq!((got, sum), (TOTAL, want), "TCP transfer across two handovers");
    eprintln!("UDP packets lost per handover (lost, sent in window): {losses:?}");
    for (lost, _) in &losses {
        assert!(*lost < 100, "too many UDP packets lost in a handover: {losses:?}");
    }
    let h = v.mn.history();
    assert_eq!(h.len(), 2, "{h:?}");
    for e in &h {
        assert_eq!(e["kind"], "fast");
        assert!(e["registered_ms"].as_f64().unwrap() < 100.0, "{e}");
        assert!(e["first_data_ms"].as_f64().is_some(), "{e}");
        eprintln!(
            "handover {} -> {}: registered {} ms, first data {} ms",
            e["from"], e["to"], e["registered_ms"], e["first_data_ms"]
        );
    }
    assert_eq!(v.gw.history().len(), 2);
    // Every new address verified; the SIUs moved the SA without waiting
    // for the echo (on credit) unless the echo was back first, and the
    // credit never ran out.
    assert_eq!(v.gw.vpn_counter("rr_verified"), 2);
    assert_eq!((v.gw.vpn_counter("siu_parked"), v.gw.vpn_counter("rr_credit_revoked")), (0, 0));
    assert_eq!(v.gw.counter_of("sa list", "drop_no_credit"), 0);
    assert!(v.gw.vpn_counter("wildcard_source_accepted") >= 2);
    assert_eq!(v.mn.vpn_counter("reestablishments"), 0);
    assert_eq!((v.mn.vpn_counter("base_exchanges"), v.gw.vpn_counter("hip_established")), (1, 1));
    // The VPN moved the association: no RFC 8046 UPDATE on either side.
    for d in [&v.mn, &v.gw] {
        assert_eq!((d.counter_of("assoc stats", "tx_update"), d.counter_of("assoc stats", "rx_update")), (0, 0));
    }
    assert!(v.ha.vpn_counter("ebpf_ipip_encapsulated") > 1000, "the HA's traffic went through tc_ipip_encap");
    assert_eq!(v.ha.vpn_counter("ipip_encapsulated"), 0, "no userspace IP-in-IP with encap_dev");
}

#[test]
fn vpn_gateway_holds_the_home_agents_first_packets_for_the_new_address_until_the_sa_moves() {
    // The SIU waits for the return-routability echo (no credit), and the
    // MN's first echo is lost: the HA, whose binding already points at the
    // new care-of address, sends there while the GW's SA still points at
    // the old one. The ESP engine holds those packets (bounded, counted)
    // and sends them the moment the SA moves, instead of dropping them.
    let t = topo();
    let k = Keying::hip(&t.dir);
    let ha = Proxy::start_config(&t.ha_ns, &ha_config(true));
    let gw = Proxy::start_config(&t.gw_ns, &gw_config_with(&k, "rr_credit_bytes = 0\n"));
    let mn = Proxy::start_config(&t.mn_ns, &mn_config(&k, 300, 3));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)), "first registration:\n{}", mn.log());
    let (_sent, recv, stop) = udp_stream(&t.cn.name, &t.mn_ns.name);
    assert!(wait_until(5, || recv.load(Ordering::Relaxed) > 100), "UDP before the move");
    assert_eq!((gw.counter_of("sa list", "held"), gw.vpn_counter("held_for_new_care_of")), (0, 0));
    // On net B the MN's first ESP (its Registration Request) passes, the
    // rest (the echo) is dropped until the rule goes.
    t.mn_ns.sh("nft add table inet hold && nft add chain inet hold out '{ type filter hook output priority 0; }' && \
         nft add rule inet hold out oifname eth_b ip protocol esp limit rate over 1/minute burst 1 packets drop");
    move_to(&t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(3, || ha.binding().as_deref() == Some(COA_B)), "HA binding did not move:\n{}", mn.log());
    assert!(wait_until(1, || gw.counter_of("sa list", "held") >= 8), "the HA's packets for {COA_B} not held");
    assert_eq!(gw.bundle().0, COA_A, "the SIU waits for the echo: the SA has not moved yet");
    assert_eq!(gw.counter_of("sa list", "released"), 0);
    let r0 = recv.load(Ordering::Relaxed);
    t.mn_ns.sh("nft delete table inet hold");
    // The MN sends its request again (retransmit_ms), the GW its challenge
    // with it: the echo passes, the parked SIU moves the SA, the held
    // packets go out.
    assert!(wait_until(3, || gw.bundle().0 == COA_B), "the SA did not move:\n{}", gw.log());
    assert!(wait_until(2, || recv.load(Ordering::Relaxed) > r0 + 100), "UDP did not resume at {COA_B}");
    stop.store(true, Ordering::Relaxed);
    let (held, released) = (gw.counter_of("sa list", "held"), gw.counter_of("sa list", "released"));
    eprintln!("held {held}, released {released}, drop_no_sa {}", gw.counter_of("sa list", "drop_no_sa"));
    // At most 16 per address (the engine's bound): the new one, and the
    // one the MN left (`held_moving`: sent to until the HA's binding
    // moved, a window of ~0.1 ms here); every one sent.
    let max = 16 * (1 + gw.counter_of("sa list", "held_moving"));
    assert!((8..=max).contains(&held), "held {held}");
    assert_eq!(released, held, "every held packet went out once the SA moved");
    // The MN's retransmitted request (its first echo was lost) brings a
    // second SIU for the same move, which the GW accepts and parks too
    // (SIU.md: a retransmission names the care-of address before the
    // move); the engine may report the address again with it.
    let (reported, parked) = (gw.vpn_counter("held_for_new_care_of"), gw.vpn_counter("siu_parked"));
    eprintln!("held_for_new_care_of {reported}, siu_parked {parked}");
    assert!((1..=2).contains(&reported) && (1..=2).contains(&parked), "{reported} {parked}");
    assert_eq!((gw.vpn_counter("held_given_up"), gw.vpn_counter("rr_verified")), (0, 1));
    let h = mn.history();
    assert_eq!(h.last().map(|e| e["kind"].clone()), Some("fast".into()), "{h:?}");
}

#[test]
fn vpn_fallback_reestablishes_with_a_new_base_exchange_when_the_home_agent_is_silent() {
    // IP-in-IP at the HA in userspace (TUN device).
    let v = vpn(Keying::hip, false, 150, 2);
    let before = hip_spis(&v);
    assert_eq!(v.mn.bundle(), (COA_A.into(), before.0, before.1));
    // The HA stops answering.
    v.t.ha_ns.sh("nft add table ip t && nft add chain ip t in '{ type filter hook input priority 0; }' && nft add rule ip t in udp dport 434 drop");
    move_to(&v.t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(10, || v.mn.vpn_counter("reestablishments") >= 1), "MN never re-established:\n{}", v.mn.log());
    v.t.ha_ns.sh("nft delete table ip t");
    assert!(
        wait_until(10, || v.ha.binding().as_deref() == Some(COA_B)),
        "no registration after re-establishment:\n{}",
        v.mn.log()
    );
    // A new base exchange: new SPIs, the association's, on both sides.
    let after = hip_spis(&v);
    assert_ne!(after, before, "re-establishment must bring new SPIs");
    assert_eq!(v.mn.bundle(), (COA_B.into(), after.0, after.1));
    assert_eq!(v.gw.bundle(), (COA_B.into(), after.1, after.0));
    let assoc = &v.gw.assocs()[0];
    assert_eq!(assoc["peer_locator"], COA_B, "{assoc}");
    assert!(wait_until(5, || ping_ok(&v.t.cn, "10.2.0.5")), "traffic did not resume after re-establishment");
    let h = v.mn.history();
    let last = h.last().unwrap();
    assert_eq!(last["kind"], "reestablished", "{h:?}");
    assert!(last["retransmissions"].as_u64().unwrap() >= 2, "{last}");
    assert_eq!((last["inbound_spi"].as_u64(), last["outbound_spi"].as_u64()), (Some(after.0), Some(after.1)));
    assert!(v.mn.log().contains("re-establishing the VPN from scratch"));
    assert_eq!((v.gw.vpn_counter("hip_established"), v.gw.vpn_counter("reestablished")), (2, 1));
    assert_eq!(v.mn.vpn_counter("base_exchanges"), 2);
    // The GW's bundle generation counts it.
    assert_eq!(v.gw.ctl_json("vpn bundles")["bundles"][0]["generation"], 1);
}

#[test]
fn vpn_gateway_refuses_a_mobile_node_hit_it_does_not_admit() {
    let t = topo();
    let k = Keying::hip(&t.dir);
    // The GW admits another HIT than the MN's.
    let (_, stranger) = identity(&t.dir, "other");
    let Keying::Hip { gw_key, gw_hit, mn_key, .. } = k else { unreachable!() };
    let k = Keying::Hip { gw_key, gw_hit, mn_key, admitted: stranger };
    let _ha = Proxy::start_config(&t.ha_ns, &ha_config(false));
    let gw = Proxy::start_config(&t.gw_ns, &gw_config(&k));
    let mn = Proxy::start_config(&t.mn_ns, &mn_config(&k, 1000, 3));
    assert!(wait_until(5, || gw.vpn_counter("hip_not_admitted") >= 1), "refusal not counted:\n{}", gw.log());
    // No R1 went back: the MN retransmits its I1 and gives up.
    assert!(wait_until(10, || mn.vpn_counter("base_exchange_failures") >= 1), "{}", mn.log());
    assert!(gw.assocs().is_empty(), "{:?}", gw.assocs());
    assert!(gw.ctl_json("vpn bundles")["bundles"].as_array().unwrap().is_empty());
    assert!(gw.ctl_json("sa list")["sas"].as_array().unwrap().is_empty());
    assert_eq!(mn.bundle(), (COA_A.into(), 0, 0), "no SAs at the MN");
    assert_eq!(gw.vpn_counter("hip_established"), 0);
    let hip = gw.ctl_json("assoc stats");
    let dropped = hip.to_string();
    assert!(dropped.contains("peer_not_allowed"), "{dropped}");
}

fn send_udp(ns: &Netns, src: &str, dst: &str, payload: Vec<u8>) {
    let (src, dst): (String, String) = (src.into(), dst.into());
    in_netns(&ns.name, move || {
        let s = UdpSocket::bind(&src).unwrap();
        s.send_to(&payload, &dst).unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn vpn_rejects_forged_and_replayed_siu_bad_authenticator_and_old_identification() {
    // Static SAs (`[[vpn.gw.node]]` SPIs and keys): the other way to key the VPN.
    let v = vpn(|_| Keying::Static, true, 1000, 3);
    assert_eq!(v.mn.bundle(), (COA_A.into(), 8192, 4096));
    assert_eq!(v.mn.ctl_json("sa list")["sas"][0]["origin"], "manual");
    let (gw0, ha0) = (v.gw.bundle(), v.ha.binding());
    let bogus = SiuRepr {
        flags: 0,
        sequence: u64::MAX - 1,
        home_address: HOME,
        old_care_of_address: COA_A.parse().unwrap(),
        new_care_of_address: "192.0.2.66".parse().unwrap(),
        lifetime: 1800,
        reply_datagram: vec![0x45; 40],
    };
    // Forged: right key id, wrong secret, sent from the HA's own address.
    let forged = bogus.to_bytes(&SiuKey::new(1, &[0x11; 32])).unwrap();
    send_udp(&v.t.ha_ns, "10.1.0.1:4340", "10.1.0.254:434", forged);
    // Replayed: the real key, an old sequence number (the HA numbers from the NTP clock).
    let key = SiuKey::new(1, &[0x5a; 32]);
    let replayed = SiuRepr { sequence: 1, ..bogus.clone() }.to_bytes(&key).unwrap();
    send_udp(&v.t.ha_ns, "10.1.0.1:4341", "10.1.0.254:434", replayed);
    assert!(wait_until(3, || v.gw.vpn_counter("siu_bad_icv") == 1 && v.gw.vpn_counter("siu_replayed") == 1));
    assert_eq!(v.gw.bundle(), gw0, "a rejected SIU changed the SA bundle");

    // Registration Requests straight to the HA (the CN is in the private network).
    let req = |id: Identification, coa: &str| RegistrationRequestRepr {
        flags: RequestFlags(RequestFlags::D),
        lifetime: 1800,
        home_address: HOME,
        home_agent: "10.1.0.1".parse().unwrap(),
        care_of_address: coa.parse().unwrap(),
        identification: id,
        extensions: Vec::new(),
    };
    let bad_key = MnHaKey::new(MNHA_SPI, AuthAlgorithm::HmacSha256, b"not the key").unwrap();
    let ntp =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2_208_988_800) << 32;
    send_udp(
        &v.t.cn,
        "10.1.1.10:4342",
        "10.1.0.1:434",
        req(Identification(ntp), "10.1.1.10").to_signed_bytes(&bad_key).unwrap(),
    );
    let good_key = MnHaKey::new(MNHA_SPI, AuthAlgorithm::HmacSha256, &hex_decode(MNHA_KEY)).unwrap();
    // Right key, but an Identification from an hour ago (RFC 5944 §5.7).
    let old = Identification(ntp - (3600u64 << 32));
    send_udp(&v.t.cn, "10.1.1.10:4343", "10.1.0.1:434", req(old, "10.1.1.10").to_signed_bytes(&good_key).unwrap());
    assert!(wait_until(3, || v.ha.vpn_counter("authentication_failed") == 1
        && v.ha.vpn_counter("identification_mismatch") == 1));
    assert_eq!(v.ha.binding(), ha0, "a rejected request changed the binding");
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "traffic still flows to the unchanged care-of address");
    // The CLI shows the rejections by name.
    let (ok, out, _) = v.gw.ctl("vpn stats");
    assert!(ok && out.contains("siu_bad_icv") && out.contains("siu_replayed"), "{out}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn vpn_tshark_dissects_hip_base_exchange_and_registration_as_mobile_ip() {
    let t = topo();
    let k = Keying::hip(&t.dir);
    let pcap = t.dir.join("mn.pcap");
    let cap = Background::capture(&t.mn_ns, &format!("dumpcap -q -i eth_a -w {}", pcap.display()));
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));
    let ha = Proxy::start_config(&t.ha_ns, &ha_config(true));
    let gw = Proxy::start_config(&t.gw_ns, &gw_config(&k));
    let mn = Proxy::start_config(&t.mn_ns, &mn_config(&k, 1000, 3));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)));
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    // The keys of the SAs the base exchange made, as the MN exports them.
    let keys = t.dir.join("esp_sa");
    let (ok, _, err) = mn.ctl(&format!("sa list --export-keys {}", keys.display()));
    assert!(ok, "{err}");
    let keys = std::fs::read_to_string(keys).unwrap();
    assert_eq!(keys.lines().count(), 2, "{keys}");
    let uat: String = keys.lines().map(|l| format!(" -o 'uat:esp_sa:{l}'")).collect();
    let (Keying::Hip { gw_hit, admitted: mn_hit, .. }, _) = (&k, &gw) else { unreachable!() };
    // HIP I1, R1, I2, R2 between the MN's care-of address and the GW.
    let hip = sh(&format!(
        "tshark -n -r {} -Y hip -T fields -e ip.src -e ip.dst -e hip.packet_type -e hip.hit_sndr -e hip.hit_rcvr",
        pcap.display()
    ));
    let want = [
        (COA_A, "192.0.2.1", "1", mn_hit, gw_hit),
        ("192.0.2.1", COA_A, "2", gw_hit, mn_hit),
        (COA_A, "192.0.2.1", "3", mn_hit, gw_hit),
        ("192.0.2.1", COA_A, "4", gw_hit, mn_hit),
    ];
    let seen: Vec<Vec<String>> = hip.lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect::<Vec<_>>();
    for (src, dst, ty, snd, rcv) in want {
        assert!(
            seen.iter().any(|f| f.len() == 5
                && (f[0].as_str(), f[1].as_str(), f[2].as_str()) == (src, dst, ty)
                && tshark_hit(&f[3]) == snd.parse().ok()
                && tshark_hit(&f[4]) == rcv.parse().ok()),
            "no HIP packet type {ty} {src} -> {dst} in:\n{hip}"
        );
    }
    // Then the registration, ESP with the base exchange's keys, as Mobile IP.
    let out = sh(&format!(
        "tshark -n -r {} -o esp.enable_encryption_decode:TRUE{uat} -Y mip \
         -T fields -e mip.type -e mip.homeaddr -e mip.coa -e mip.code",
        pcap.display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("1\t10.2.0.5\t198.51.100.23")),
        "no Registration Request dissected:\n{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("3\t10.2.0.5") && l.ends_with("\t0")),
        "no accepted Registration Reply dissected:\n{out}"
    );
}

/// tshark prints a HIT as 32 hex digits.
fn tshark_hit(s: &str) -> Option<std::net::Ipv6Addr> {
    u128::from_str_radix(s.trim(), 16).ok().map(std::net::Ipv6Addr::from)
}

/// (name, scheduling policy, real-time priority) of each thread of `pid`
/// (proc(5): fields 40 and 41 of /proc/PID/task/TID/stat).
fn thread_policies(pid: u32) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the ")" that closes the name start at field 3.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(prio), Some(policy)) = (f.get(40 - 3), f.get(41 - 3)) else { continue };
        out.push((name, policy.parse().unwrap(), prio.parse().unwrap()));
    }
    out
}

#[test]
fn vpn_realtime_priority_puts_the_packet_and_handover_threads_on_sched_fifo() {
    // `[scheduling] realtime_priority`: the ESP threads and the HA's and
    // GW's handover threads run SCHED_FIFO (policy 1) at that priority;
    // the tokio runtime stays at the normal policy (0). A handover still
    // works, fast and without re-keying.
    const PRIO: u32 = 7;
    let t = topo();
    let k = Keying::hip(&t.dir);
    let rt = format!("[scheduling]\nrealtime_priority = {PRIO}\n");
    let ha = Proxy::start_config(&t.ha_ns, &format!("{rt}{}", ha_config(true)));
    let gw = Proxy::start_config(&t.gw_ns, &format!("{rt}{}", gw_config(&k)));
    let mn = Proxy::start_config(&t.mn_ns, &format!("{rt}{}", mn_config(&k, 300, 3)));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)), "first registration:\n{}", mn.log());
    for (d, fifo) in
        [(&ha, &["vpn-ha"][..]), (&gw, &["esp-rx", "esp-tx", "vpn-gw"][..]), (&mn, &["esp-rx", "esp-tx", "vpn-mn"][..])]
    {
        let threads = thread_policies(d.pid().unwrap());
        for want in fifo {
            let found: Vec<_> = threads.iter().filter(|(n, ..)| n == want).collect();
            assert!(!found.is_empty(), "no thread {want}: {threads:?}");
            assert!(found.iter().all(|(_, p, r)| (*p, *r) == (1, PRIO)), "{want} not SCHED_FIFO {PRIO}: {threads:?}");
        }
        let tokio: Vec<_> = threads.iter().filter(|(n, ..)| n.starts_with("tokio")).collect();
        assert!(!tokio.is_empty() && tokio.iter().all(|(_, p, r)| (*p, *r) == (0, 0)), "tokio: {threads:?}");
        assert!(d.log().contains("real-time scheduling (SCHED_FIFO)"), "{}", d.log());
    }
    let v = Vpn { t, ha, gw, mn };
    let spis = hip_spis(&v);
    move_to(&v.t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(5, || v.ha.binding().as_deref() == Some(COA_B)), "HA binding did not move:\n{}", v.mn.log());
    assert!(wait_until(2, || v.gw.bundle().0 == COA_B), "the GW's SA did not move:\n{}", v.gw.log());
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "CN -> MN after the move");
    assert_eq!(hip_spis(&v), spis, "no re-keying");
    let h = v.mn.history();
    assert_eq!(h.last().map(|e| e["kind"].clone()), Some("fast".into()), "{h:?}");
}
