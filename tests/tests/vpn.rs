//! Issue 7: the mobile VPN with fast handover, end to end in namespaces:
//!
//! ```text
//! cn 10.1.1.10 ── ha 10.1.1.1|10.1.0.1 ── gw 10.1.0.254|192.0.2.1 ── inet ─┬─ net A 198.51.100.0/24 ── mn eth_a
//!                 (home 10.2.0.0/24)                                      └─ net B 203.0.113.0/24  ── mn eth_b
//! ```
//!
//! Real daemons (`proxy-ctl run` with `[vpn.ha]`, `[vpn.gw]`, `[vpn.mn]`),
//! real sockets, tshark on the wire.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use integration_tests::{Netns, in_netns, proxy_ctl_bin, sh, sh_try, unique, wait_until};
use proxy_proto::vpn::{
    auth::{AuthAlgorithm, MnHaKey},
    identification::Identification,
    request::{RegistrationRequestRepr, RequestFlags},
    siu::{SiuKey, SiuRepr},
};

const KEY_MG: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_GM: &str = "202122232425262728292a2b2c2d2e2f30313233";
const MNHA_KEY: &str = "6d6e2d68612d736563726574";
const MNHA_SPI: u32 = 0x8000_0010;
const PSK: &str = "707368707368707368707368";
const HOME: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
const COA_A: &str = "198.51.100.23";
const COA_B: &str = "203.0.113.23";

fn siu_key_hex() -> String {
    "5a".repeat(32)
}

/// One daemon in a namespace, killed on drop.
struct Daemon {
    dir: PathBuf,
    name: &'static str,
    child: Option<Child>,
}

impl Daemon {
    fn start(ns: &Netns, dir: &std::path::Path, name: &'static str, config: &str) -> Daemon {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, format!("[control]\nsocket = \"{}/{name}.sock\"\n{config}", dir.display())).unwrap();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, &proxy_ctl_bin(), "run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn proxy-ctl run");
        let d = Daemon { dir: dir.into(), name, child: Some(child) };
        let sock = d.socket();
        assert!(
            wait_until(20, || std::os::unix::net::UnixStream::connect(&sock).is_ok()),
            "{name} did not start:\n{}",
            d.log()
        );
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.join(format!("{}.sock", self.name))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    fn json(&self, args: &str) -> serde_json::Value {
        let (ok, out, err) = sh_try(&format!("{} --socket {} --json {args}", proxy_ctl_bin(), self.socket().display()));
        assert!(ok, "{} {args}: {err}\n{}", self.name, self.log());
        serde_json::from_str(&out).unwrap()
    }

    fn counter(&self, name: &str) -> u64 {
        let v = self.json("vpn stats");
        v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no counter {name}"))["value"]
            .as_u64()
            .unwrap()
    }

    /// (care-of address, inbound SPI, outbound SPI) of the first bundle.
    fn bundle(&self) -> (String, u64, u64) {
        let v = self.json("vpn bundles");
        let b = &v["bundles"][0];
        (
            b["care_of_address"].as_str().unwrap_or("-").into(),
            b["inbound_spi"].as_u64().unwrap(),
            b["outbound_spi"].as_u64().unwrap(),
        )
    }

    fn binding(&self) -> Option<String> {
        let v = self.json("vpn bindings");
        v["bindings"].as_array().unwrap().first().map(|b| b["care_of_address"].as_str().unwrap().to_string())
    }

    fn history(&self) -> Vec<serde_json::Value> {
        self.json("vpn history")["handovers"].as_array().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
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

fn gw_config(rr: bool) -> String {
    format!(
        "[vpn.gw]\ninner = \"10.1.0.254\"\npublic = \"192.0.2.1\"\ninner_dev = \"in0\"\nreturn_routability = {rr}\n\
         [[vpn.gw.home_agent]]\naddress = \"10.1.0.1\"\nsiu_key_id = 1\nsiu_key = \"{}\"\n\
         [[vpn.gw.node]]\nhome = \"10.2.0.5\"\ncare_of = \"{COA_A}\"\nspi_in = 4096\nspi_out = 8192\n\
         key_in = \"{KEY_MG}\"\nkey_out = \"{KEY_GM}\"\npsk = \"{PSK}\"\n",
        siu_key_hex()
    )
}

fn mn_config(retransmit_ms: u64, max_retx: u32) -> String {
    format!(
        "[vpn.mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = [\"10.1.0.0/16\"]\n\
         interfaces = [\"eth_a\", \"eth_b\"]\nspi_in = 8192\nspi_out = 4096\nkey_in = \"{KEY_GM}\"\nkey_out = \"{KEY_MG}\"\n\
         psk = \"{PSK}\"\nmn_ha_spi = {MNHA_SPI}\nmn_ha_key = \"{MNHA_KEY}\"\nretransmit_ms = {retransmit_ms}\n\
         max_retransmissions = {max_retx}\n"
    )
}

struct Vpn {
    t: Topo,
    ha: Daemon,
    gw: Daemon,
    mn: Daemon,
}

fn vpn(ebpf: bool, retransmit_ms: u64, max_retx: u32) -> Vpn {
    let t = topo();
    let ha = Daemon::start(&t.ha_ns, &t.dir, "ha", &ha_config(ebpf));
    let gw = Daemon::start(&t.gw_ns, &t.dir, "gw", &gw_config(true));
    let mn = Daemon::start(&t.mn_ns, &t.dir, "mn", &mn_config(retransmit_ms, max_retx));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)), "first registration:\n{}", mn.log());
    Vpn { t, ha, gw, mn }
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
    let (sent, recv, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let (r, s2) = (recv.clone(), stop.clone());
    in_netns(mn, move || {
        let sock = UdpSocket::bind("10.2.0.5:5000").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 64];
        while !s2.load(Ordering::Relaxed) {
            if let Ok(n) = sock.recv(&mut buf)
                && n == 8
            {
                r.fetch_add(1, Ordering::Relaxed);
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
    (sent, recv, stop)
}

#[test]
fn vpn_handover_keeps_udp_and_tcp_flowing_without_rekeying() {
    // IP-in-IP at the HA in eBPF (TC egress).
    let v = vpn(true, 1000, 3);
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "CN -> MN before any move");
    let mn_spis = v.mn.bundle();
    let gw_spis = v.gw.bundle();
    assert_eq!(mn_spis, (COA_A.into(), 8192, 4096));
    assert_eq!(gw_spis, (COA_A.into(), 4096, 8192));

    // A TCP transfer MN <- CN across both moves: 4 MB at a paced rate.
    const TOTAL: usize = 4 << 20;
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
    let cli = in_netns(&v.t.cn.name, || {
        let mut c = TcpStream::connect("10.2.0.5:6000").unwrap();
        c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let sum = data.iter().fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
        for chunk in data.chunks(32 << 10) {
            c.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        sum
    });
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
        // Same SPIs on both sides: nothing was re-keyed.
        assert_eq!(v.mn.bundle(), (addr.to_string(), 8192, 4096));
        assert_eq!(v.gw.bundle(), (addr.to_string(), 4096, 8192));
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
    assert_eq!(v.gw.counter("rr_verified"), 2);
    assert!(v.gw.counter("wildcard_source_accepted") >= 2);
    assert_eq!(v.mn.counter("reestablishments"), 0);
    assert!(v.ha.counter("ebpf_ipip_encapsulated") > 1000, "the HA's traffic went through tc_ipip_encap");
    assert_eq!(v.ha.counter("ipip_encapsulated"), 0, "no userspace IP-in-IP with encap_dev");
}

#[test]
fn vpn_fallback_reestablishes_when_the_home_agent_is_silent() {
    // IP-in-IP at the HA in userspace (TUN device).
    let v = vpn(false, 150, 2);
    let before = v.mn.bundle();
    // The HA stops answering.
    v.t.ha_ns.sh("nft add table ip t && nft add chain ip t in '{ type filter hook input priority 0; }' && nft add rule ip t in udp dport 434 drop");
    move_to(&v.t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(10, || v.mn.counter("reestablishments") >= 1), "MN never re-established:\n{}", v.mn.log());
    v.t.ha_ns.sh("nft delete table ip t");
    assert!(
        wait_until(10, || v.ha.binding().as_deref() == Some(COA_B)),
        "no registration after re-establishment:\n{}",
        v.mn.log()
    );
    let after = v.mn.bundle();
    assert_eq!(after.0, COA_B);
    assert_ne!((after.1, after.2), (before.1, before.2), "re-establishment must bring new SPIs");
    assert_eq!(v.gw.bundle().1, after.2, "GW inbound SPI = MN outbound SPI");
    assert!(wait_until(5, || ping_ok(&v.t.cn, "10.2.0.5")), "traffic did not resume after re-establishment");
    let h = v.mn.history();
    assert_eq!(h.last().unwrap()["kind"], "reestablished", "{h:?}");
    assert!(h.last().unwrap()["retransmissions"].as_u64().unwrap() >= 2);
    assert!(v.mn.log().contains("re-establishing the VPN from scratch"));
    assert_eq!(v.gw.counter("reestablished"), 1);
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
    let v = vpn(true, 1000, 3);
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
    assert!(wait_until(3, || v.gw.counter("siu_bad_icv") == 1 && v.gw.counter("siu_replayed") == 1));
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
    assert!(
        wait_until(3, || v.ha.counter("authentication_failed") == 1 && v.ha.counter("identification_mismatch") == 1)
    );
    assert_eq!(v.ha.binding(), ha0, "a rejected request changed the binding");
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "traffic still flows to the unchanged care-of address");
    // The CLI shows the rejections by name.
    let (ok, out, _) = sh_try(&format!("{} --socket {} vpn stats", proxy_ctl_bin(), v.gw.socket().display()));
    assert!(ok && out.contains("siu_bad_icv") && out.contains("siu_replayed"), "{out}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn vpn_tshark_dissects_registration_as_mobile_ip() {
    let t = topo();
    let pcap = t.dir.join("mn.pcap");
    let mut cap = Command::new("ip")
        .args(["netns", "exec", &t.mn_ns.name, "dumpcap", "-q", "-i", "eth_a", "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let ha = Daemon::start(&t.ha_ns, &t.dir, "ha", &ha_config(true));
    let _gw = Daemon::start(&t.gw_ns, &t.dir, "gw", &gw_config(true));
    let _mn = Daemon::start(&t.mn_ns, &t.dir, "mn", &mn_config(1000, 3));
    assert!(wait_until(10, || ha.binding().as_deref() == Some(COA_A)));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(cap.id() as i32, libc::SIGINT) };
    let _ = cap.wait();
    let sa = |src: &str, dst: &str, spi: u32, key: &str| {
        proxy_proto::esp::wireshark_esp_sa_line(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            spi,
            proxy_proto::esp::Transform::Aes128Gcm16,
            &hex_decode(key),
        )
        .unwrap()
    };
    let (up, down) = (sa(COA_A, "192.0.2.1", 4096, KEY_MG), sa("192.0.2.1", COA_A, 8192, KEY_GM));
    let out = sh(&format!(
        "tshark -n -r {} -o esp.enable_encryption_decode:TRUE -o 'uat:esp_sa:{up}' -o 'uat:esp_sa:{down}' -Y mip \
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
