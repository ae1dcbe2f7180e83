//! Issue 5: the proxy's AF_XDP fast path. A legacy host's traffic to a
//! substitute is steered by `xdp_proxy` to the AF_XDP ESP workers, port-
//! NATed onto the proxy's HIT by the translator, sealed (BEET) and sent on
//! the WAN through AF_XDP; the HIP host's ESP comes back the same way.
//!
//! The HIP host is the real daemon (`host` role, TUN, static SAs); the
//! proxy side runs in-process in its namespace (the datapath, the SA
//! table, the translator and the workers from the `proxy-ctl` library),
//! so these tests exercise the fast path on its own, without the slow
//! path or a base exchange in front of it.
//!
//! ```text
//!  [legacy] l0 10.60.0.2 ── l0 10.60.0.1 [proxy] w0 10.61.0.1 ══ESP══ 10.61.0.2 w0 [host] hip0 2001:20::b
//!           100.64.60.10 (substitute) -> 2001:20::b, proxy HIT 2001:20::1
//! ```

use std::{
    net::{IpAddr, Ipv6Addr},
    path::Path,
    sync::{Arc, mpsc},
    time::Duration,
};

use integration_tests::{Background, Netns, Proxy, in_netns, sh, unique, wait_until};
use proxy_common::counters::Counter;
use proxy_ctl::{
    config::Config,
    datapath::Datapath,
    esp::{
        SaTable,
        afxdp::{AfXdpPath, BindMode, Options},
    },
};
use proxy_proto::esp::proxy::{Translator, TranslatorConfig};

const HIT_PROXY: &str = "2001:20::1";
const HIT_HOST: &str = "2001:20::b";
const SUBSTITUTE: &str = "100.64.60.10";
const KEY_OUT: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_IN: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3";
const SPI_OUT: u32 = 0x1001;
const SPI_IN: u32 = 0x2002;

fn sa(spi: u32, dir: &str, key: &str, local: &str, peer: &str, il: &str, ip: &str) -> String {
    format!(
        "[[sa]]\nspi = {spi}\ndirection = \"{dir}\"\nmode = \"beet\"\ntransform = \"aes128-gcm16\"\nkey = \"{key}\"\n\
         local = \"{local}\"\npeer = \"{peer}\"\ninner_local = \"{il}\"\ninner_peer = \"{ip}\"\n"
    )
}

/// What the in-process proxy reports when asked.
struct Report {
    afxdp: Vec<(String, u64)>,
    xdp: Vec<(Counter, u64)>,
    esp: Vec<(&'static str, u64)>,
    sas: Vec<proxy_ctl::esp::SaInfo>,
}

enum Cmd {
    Report(mpsc::Sender<Report>),
    Stop,
}

/// The proxy side: datapath, SA table, translator and workers in a
/// thread inside namespace `ns`.
struct InProcessProxy {
    cmds: mpsc::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
    bpffs: std::path::PathBuf,
}

impl InProcessProxy {
    fn start(ns: &Netns) -> InProcessProxy {
        let dir = Path::new("/tmp").join(unique("hp-xsk-"));
        let bpffs = dir.join("bpf");
        std::fs::create_dir_all(&bpffs).unwrap();
        sh(&format!("mount -t bpf bpf {}", bpffs.display()));
        let text = format!(
            "[datapath]\nlan = \"l0\"\nwan = \"w0\"\npin_dir = \"{}\"\nredirect = false\nmanage_sysctls = false\n\
             [nat]\nwan_v4 = \"10.61.0.1\"\n[pool]\nv4 = \"100.64.60.0/24\"\n[esp]\n{}{}",
            bpffs.join("proxy").display(),
            sa(SPI_OUT, "out", KEY_OUT, "10.61.0.1", "10.61.0.2", HIT_PROXY, HIT_HOST),
            sa(SPI_IN, "in", KEY_IN, "10.61.0.1", "10.61.0.2", HIT_PROXY, HIT_HOST),
        );
        let (cmds, rx) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let thread = in_netns(&ns.name, move || {
            let cfg = Config::parse(&text, Path::new("afxdp-test")).unwrap();
            let mut dp = Datapath::load(&cfg).expect("load and attach xdp_proxy");
            let table = Arc::new(SaTable::new(None));
            for s in &cfg.sas {
                table.install(s.validate().unwrap()).unwrap();
            }
            let translator =
                Arc::new(Translator::new(TranslatorConfig { mss_clamp: Some(1360), ..TranslatorConfig::default() }));
            let (sub, hit_p): (IpAddr, Ipv6Addr) = (SUBSTITUTE.parse().unwrap(), HIT_HOST.parse().unwrap());
            translator.map_substitute(sub, HIT_PROXY.parse().unwrap(), hit_p);
            let path = AfXdpPath::start(
                table.clone(),
                translator.clone(),
                Options { lan: "l0".into(), wan: "w0".into(), queues: None, bind: BindMode::Auto },
            )
            .expect("start the AF_XDP workers");
            path.bind(&mut dp).unwrap();
            path.sync(&mut dp, &[(sub, hit_p)]);
            ready_tx.send(()).unwrap();
            while let Ok(cmd) = rx.recv() {
                match cmd {
                    Cmd::Report(to) => {
                        path.sync(&mut dp, &[(sub, hit_p)]);
                        let _ = to.send(Report {
                            afxdp: path.counters(),
                            xdp: dp.counters().unwrap(),
                            esp: table.counters.list(),
                            sas: table.list(false),
                        });
                    }
                    Cmd::Stop => break,
                }
            }
            drop(path);
            drop(dp);
        });
        ready.recv_timeout(Duration::from_secs(20)).expect("in-process proxy did not come up");
        InProcessProxy { cmds, thread: Some(thread), bpffs }
    }

    fn report(&self) -> Report {
        let (tx, rx) = mpsc::channel();
        self.cmds.send(Cmd::Report(tx)).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }
}

impl Drop for InProcessProxy {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.bpffs).status();
        let _ = std::fs::remove_dir_all(self.bpffs.parent().unwrap());
    }
}

impl Report {
    fn afxdp(&self, name: &str) -> u64 {
        self.afxdp.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no counter {name}")).1
    }
    fn xdp(&self, c: Counter) -> u64 {
        self.xdp.iter().find(|(k, _)| *k == c).unwrap().1
    }
    fn esp(&self, name: &str) -> u64 {
        self.esp.iter().find(|(n, _)| *n == name).unwrap().1
    }
    fn sa_packets(&self, spi: u32) -> u64 {
        self.sas.iter().find(|s| s.spi == spi).unwrap().packets
    }
}

struct Topo {
    // Drop order: the proxy and the host daemon before their namespaces.
    proxy: InProcessProxy,
    host: Proxy,
    _servers: Vec<Background>,
    legacy: Netns,
    np: Netns,
    nh: Netns,
}

fn topo() -> Topo {
    let legacy = Netns::new("xl");
    let np = Netns::new("xp");
    let nh = Netns::new("xh");
    legacy.veth("l0", &np, "l0");
    np.veth("w0", &nh, "w0");
    legacy.addr("l0", "10.60.0.2/24");
    np.addr("l0", "10.60.0.1/24");
    np.addr("w0", "10.61.0.1/24");
    nh.addr("w0", "10.61.0.2/24");
    legacy.route("100.64.60.0/24 via 10.60.0.1");
    let host = Proxy::start_config(
        &nh,
        &format!(
            "[esp]\ntun = \"hip0\"\ntun_addrs = [\"{HIT_HOST}/28\"]\n{}{}",
            sa(SPI_IN, "out", KEY_IN, "10.61.0.2", "10.61.0.1", HIT_HOST, HIT_PROXY),
            sa(SPI_OUT, "in", KEY_OUT, "10.61.0.2", "10.61.0.1", HIT_HOST, HIT_PROXY),
        ),
    );
    // The kernel's neighbour entry for the host, which the control plane
    // hands to the workers.
    np.sh("ping -c1 -W2 10.61.0.2 >/dev/null");
    let proxy = InProcessProxy::start(&np);
    Topo { proxy, host, _servers: Vec::new(), legacy, np, nh }
}

#[test]
fn afxdp_legacy_to_hip_host_tcp_and_udp() {
    let mut t = topo();
    let r = t.proxy.report();
    assert_eq!(r.afxdp("afxdp_workers"), 1, "one worker per veth queue");

    // UDP round trip: legacy -> substitute -> (workers, ESP) -> host's UDP echo.
    t._servers.push(Background::spawn(&t.nh, &format!("socat UDP6-RECVFROM:7007,bind=[{HIT_HOST}],fork EXEC:cat")));
    std::thread::sleep(Duration::from_millis(300));
    let echo = t.legacy.sh(&format!("echo hello-afxdp | socat -T3 - UDP4:{SUBSTITUTE}:7007"));
    assert_eq!(echo.trim(), "hello-afxdp", "UDP echo through the AF_XDP path");

    // TCP: a 4 MiB body, checksum identical.
    let dir = Path::new("/tmp").join(unique("hp-xsk-www-"));
    std::fs::create_dir_all(&dir).unwrap();
    sh(&format!("head -c 4M /dev/urandom > {}/blob", dir.display()));
    let sum = sh(&format!("sha256sum {}/blob", dir.display())).split_whitespace().next().unwrap().to_string();
    t._servers.push(Background::spawn(
        &t.nh,
        &format!("python3 -m http.server --bind {HIT_HOST} --directory {} 8080", dir.display()),
    ));
    assert!(
        wait_until(10, || t.nh.sh_try(&format!("curl -s -o /dev/null http://[{HIT_HOST}]:8080/")).0),
        "HTTP server did not start"
    );
    let got = t.legacy.sh(&format!("curl -s --max-time 30 http://{SUBSTITUTE}:8080/blob | sha256sum"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body through the AF_XDP path");

    let r = t.proxy.report();
    assert!(r.afxdp("afxdp_lan_rx_packets") > 100, "legacy packets went through the workers");
    assert!(r.afxdp("afxdp_wan_tx_packets") > 100, "ESP sent by the workers");
    assert!(r.afxdp("afxdp_wan_rx_packets") > 2000, "ESP (4 MiB) received by the workers");
    assert!(r.afxdp("afxdp_lan_tx_bytes") > 4 << 20, "4 MiB delivered to the legacy host by the workers");
    assert!(r.xdp(Counter::XskSteeredLan) >= r.afxdp("afxdp_lan_rx_packets"));
    assert!(r.xdp(Counter::XskSteeredEsp) >= r.afxdp("afxdp_wan_rx_packets"));
    assert_eq!(r.xdp(Counter::XskMissing), 0);
    assert!(r.sa_packets(SPI_OUT) > 100 && r.sa_packets(SPI_IN) > 2000, "SA counters keep counting");
    assert_eq!(r.esp("drop_open"), 0);
    // The host's engine saw the same ESP.
    let v = t.host.ctl_json("sa list");
    let host_in = v["sas"].as_array().unwrap().iter().find(|s| s["spi"] == SPI_OUT).unwrap()["packets"].as_u64();
    assert_eq!(host_in, Some(r.sa_packets(SPI_OUT)), "every sealed packet opened at the host");
    let _ = &t.np;
}

/// A TCP sender as fast as the box allows, legacy -> HIP host through the
/// workers: no frame the worker took is dropped for want of a transmit
/// slot (it takes no more than it can send: back-pressure into the RX
/// ring), every frame taken is sent or counted, and the kernel's counters
/// of the sockets are reported.
#[test]
fn afxdp_full_speed_upload_no_tx_drops() {
    let mut t = topo();
    t._servers.push(Background::spawn(&t.nh, &format!("iperf3 -s -1 -B {HIT_HOST}")));
    std::thread::sleep(Duration::from_millis(300));
    let out = t.legacy.sh(&format!("iperf3 -c {SUBSTITUTE} -t 3 -J"));
    let v: serde_json::Value = serde_json::from_str(&out).expect("iperf3 JSON");
    let received = v["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(received > 8 << 20, "the upload moved {received} bytes");

    let r = t.proxy.report();
    let taken = r.afxdp("afxdp_lan_rx_packets");
    assert!(taken > 5000, "the upload went through the workers ({taken} frames)");
    assert_eq!(r.afxdp("afxdp_drop_tx_full"), 0, "a frame taken was dropped for want of a TX slot");
    assert_eq!(r.afxdp("afxdp_xsk_tx_invalid"), 0, "the kernel refused transmit descriptors");
    // Every frame taken from the LAN was sent, or dropped and counted
    // (read again until the worker has finished its last batch).
    let balance = |r: &Report| {
        let dropped: u64 =
            ["afxdp_drop_translate", "afxdp_drop_no_sa", "afxdp_drop_no_neighbour", "afxdp_drop_malformed"]
                .iter()
                .map(|n| r.afxdp(n))
                .sum::<u64>()
                + r.esp("drop_seal");
        (r.afxdp("afxdp_lan_rx_packets"), r.afxdp("afxdp_wan_tx_packets") + dropped)
    };
    let mut last = balance(&r);
    let balanced = wait_until(5, || {
        last = balance(&t.proxy.report());
        last.0 == last.1
    });
    assert!(balanced, "LAN frames taken {} != ESP sent + counted drops {}", last.0, last.1);
    // The kernel's socket counters are read (present even when zero).
    assert!(r.afxdp.iter().any(|(n, _)| n == "afxdp_xsk_rx_ring_full"));
    assert!(r.afxdp.iter().any(|(n, _)| n == "afxdp_xsk_rx_dropped"));
}

/// Replayed, truncated, tampered and unknown-SPI ESP reaching the workers
/// are dropped and counted; traffic carries on.
#[test]
fn afxdp_forged_esp_counted() {
    let mut t = topo();
    t._servers.push(Background::spawn(&t.nh, &format!("socat UDP6-RECVFROM:7008,bind=[{HIT_HOST}],fork EXEC:cat")));
    std::thread::sleep(Duration::from_millis(300));
    let echo = t.legacy.sh(&format!("echo one | socat -T3 - UDP4:{SUBSTITUTE}:7008"));
    assert_eq!(echo.trim(), "one");
    // Capture one real ESP packet from the host, then replay, cut and
    // tamper it from the host's namespace with a raw socket (python).
    let before = t.proxy.report();
    let script = format!(
        r#"
import socket, struct, os
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
def esp(spi, seq, body): return struct.pack("!II", spi, seq) + body
s.sendto(esp({SPI_IN}, 1, os.urandom(48)), ("10.61.0.1", 0))     # seq 1 again: replay window
s.sendto(esp({SPI_IN}, 999, os.urandom(48)), ("10.61.0.1", 0))   # tampered: ICV
s.sendto(esp({SPI_IN}, 1000, b"")[:6], ("10.61.0.1", 0))          # truncated
"#
    );
    t.nh.sh(&format!("python3 -c '{}'", script.replace('\'', "\"")));
    std::thread::sleep(Duration::from_millis(300));
    let after = t.proxy.report();
    let opened = after.esp("drop_open") - before.esp("drop_open");
    let malformed = after.esp("drop_malformed") - before.esp("drop_malformed");
    assert!(opened >= 2, "replayed and tampered ESP counted as drop_open ({opened})");
    let steered = after.xdp(Counter::XskSteeredEsp) - before.xdp(Counter::XskSteeredEsp);
    assert_eq!(steered, 2, "the two whole forged packets reached the workers, the cut one did not");
    assert_eq!(malformed, 0);
    let echo = t.legacy.sh(&format!("echo two | socat -T3 - UDP4:{SUBSTITUTE}:7008"));
    assert_eq!(echo.trim(), "two", "traffic carries on");
}

/// The real proxy daemon with `[esp] datapath = "af_xdp"` on the proxyesp
/// topology (two legacy hosts, DNS, HIP base exchange, a HIP host): the
/// first packets take the slow path and trigger the base exchange, then
/// the workers carry the flows. Asserts the bytes went through them.
#[test]
fn afxdp_proxy_daemon_takes_over_established_flows() {
    use crate::proxyesp::{connect_secs, env_engine, udp_round_trips};
    let e = env_engine("af_xdp", "", |_| String::new());
    let stats = |name: &str| e.proxy.counter(name);
    assert!(stats("afxdp_workers") >= 1, "workers running");
    let sub = e.resolve(0, "A");
    let (_http, sum) = e.http_server(8);
    let _echo = e.udp_echo();

    let secs = connect_secs(&e.legacy[0], &sub, 8080);
    eprintln!("first TCP connect (slow path + base exchange): {:.1} ms", secs * 1000.0);
    assert!(secs < 0.9, "connect took {secs:.3} s");
    // The steering follows the SA install within a sync tick; a datagram
    // now and then shows it.
    assert!(
        wait_until(3, || {
            udp_round_trips(&e.legacy[0].name, 40100, &sub, 1);
            stats("xsk_steered_esp") > 0 && stats("xsk_steered_lan") > 0
        }),
        "flows to the substitute never steered to the workers"
    );
    let before_lan = stats("afxdp_lan_tx_bytes");
    let got = e.legacy[0].sh(&format!("curl -sf --max-time 60 http://{sub}:8080/blob | sha256sum"));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body through the AF_XDP path");
    let delivered = stats("afxdp_lan_tx_bytes") - before_lan;
    assert!(delivered > 8 << 20, "the 8 MiB body went through the workers ({delivered} bytes)");
    assert!(stats("afxdp_lan_rx_packets") > 100 && stats("afxdp_wan_tx_packets") > 100, "ACKs sealed by the workers");
    assert!(stats("xsk_steered_esp") > 5000 && stats("xsk_steered_lan") > 100);
    assert_eq!(udp_round_trips(&e.legacy[0].name, 40000, &sub, 20), 20, "UDP through the workers");

    // Both legacy hosts at once, same source port: the same SA pair.
    let curls: Vec<_> = [e.legacy[0].name.clone(), e.legacy[1].name.clone()]
        .into_iter()
        .map(|ns| {
            let url = format!("http://{sub}:8080/blob");
            std::thread::spawn(move || {
                sh(&format!("ip netns exec {ns} curl -sf --max-time 60 --local-port 45000 {url} | sha256sum"))
            })
        })
        .collect();
    for c in curls {
        assert_eq!(c.join().unwrap().split_whitespace().next().unwrap(), sum, "concurrent body differs");
    }
    // An IPv6 legacy host (AAAA -> IPv6 substitute) on the same SA pair.
    let sub6 = e.resolve(1, "AAAA");
    let _ = udp_round_trips(&e.legacy[1].name, 40200, &sub6, 1);
    let before_lan = stats("afxdp_lan_tx_bytes");
    let got = e.legacy[1].sh(&format!("curl -sf -g --max-time 60 http://[{sub6}]:8080/blob | sha256sum"));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body over IPv6 through the AF_XDP path");
    assert!(stats("afxdp_lan_tx_bytes") - before_lan > 8 << 20, "the IPv6 body went through the workers");

    let sas = e.proxy.ctl_json("sa list")["sas"].as_array().unwrap().clone();
    assert_eq!(sas.len(), 2, "one SA pair");
    let inbound = sas.iter().find(|s| s["direction"] == "in").unwrap();
    assert!(inbound["packets"].as_u64().unwrap() > 20_000, "sa list keeps counting: {inbound}");

    // Forged ESP with our inbound SPI reaches the workers: an old sequence
    // number (replay window) and a random payload (ICV) are dropped and
    // counted on the SA; traffic carries on.
    let spi = inbound["spi"].as_u64().unwrap();
    let (replay0, icv0) = (inbound["drop_replay"].as_u64().unwrap(), inbound["drop_icv"].as_u64().unwrap());
    let steered0 = stats("xsk_steered_esp");
    e.hns.sh(&format!(
        "python3 -c \"import socket,struct,os; s=socket.socket(socket.AF_INET,socket.SOCK_RAW,50); \
         s.sendto(struct.pack('!II',{spi},1)+os.urandom(64),('192.0.2.1',0)); \
         s.sendto(struct.pack('!II',{spi},4000000000)+os.urandom(64),('192.0.2.1',0))\""
    ));
    std::thread::sleep(Duration::from_millis(300));
    let v = e.proxy_sa("in");
    assert_eq!(v["drop_replay"].as_u64().unwrap() - replay0, 1, "old sequence number dropped");
    assert_eq!(v["drop_icv"].as_u64().unwrap() - icv0, 1, "forged payload dropped");
    assert!(stats("xsk_steered_esp") >= steered0 + 2, "the forgeries went to the workers");
    assert_eq!(udp_round_trips(&e.legacy[0].name, 40000, &sub, 3), 3, "traffic carries on");
    assert_eq!(stats("xsk_missing"), 0);
}
