//! Issue 5: ESP between two `host` daemons (static SAs): local
//! applications talk HIT-to-HIT through the TUN device, ESP on the wire.
//!
//! ```text
//!  [host a] hip0 2001:20::a ── e0 10.9.0.1 fd09::1 ══ESP══ 10.9.0.2 fd09::2 e0 ── hip0 2001:20::b [host b]
//! ```

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use integration_tests::{Background, Netns, Proxy, identity, in_netns, sh, sh_try, unique, wait_until};

const HIT_A: &str = "2001:20::a";
const HIT_B: &str = "2001:20::b";
const KEY_AB: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_BA: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3";
const SPI_AB: u32 = 0x1001;
const SPI_BA: u32 = 0x2002;

struct Hosts {
    // Daemons drop before their namespaces.
    a: Proxy,
    b: Proxy,
    na: Netns,
    nb: Netns,
    /// Names the daemons' esp_sa_export files.
    tag: String,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for me in ["10.9.0.1", "10.9.0.2", "fd09::1", "fd09::2"] {
            let _ = std::fs::remove_file(export_path(&self.tag, me));
        }
    }
}

/// One SA pair per direction between a and b, outer addresses of the
/// family `v6`, in `mode` (inner HITs for BEET; for tunnel the inner
/// addresses route 10.200.0.0/24 through the tunnel).
fn hosts(v6: bool, transform: &str, tunnel: bool) -> Hosts {
    let na = Netns::new("ea");
    let nb = Netns::new("eb");
    na.veth("e0", &nb, "e0");
    na.addr("e0", "10.9.0.1/24");
    nb.addr("e0", "10.9.0.2/24");
    na.addr("e0", "fd09::1/64");
    nb.addr("e0", "fd09::2/64");
    let (oa, ob) = if v6 { ("fd09::1", "fd09::2") } else { ("10.9.0.1", "10.9.0.2") };
    let key_len = match transform {
        "aes128-gcm16" => 20,
        "aes128-cbc-hmac-sha256" => 48,
        t => panic!("test transform {t}"),
    };
    let key = |k: &str| k.repeat(3)[..key_len * 2].to_string();
    let tag = unique("esp-keys-");
    let conf = |me: &str, peer: &str, hl: &str, hp: &str, il: &str, ip: &str, kout: &str, kin: &str, so, si| {
        let (mode, inner, addrs, routes) = if tunnel {
            ("tunnel", String::new(), format!("[\"{il}/32\"]"), "[\"10.200.0.0/24\"]")
        } else {
            ("beet", format!("inner_local = \"{hl}\"\ninner_peer = \"{hp}\"\n"), format!("[\"{hl}/28\"]"), "[]")
        };
        let _ = ip;
        let sa = |spi: u32, dir: &str, k: &str| {
            format!(
                "[[sa]]\nspi = {spi}\ndirection = \"{dir}\"\nmode = \"{mode}\"\ntransform = \"{transform}\"\n\
                 key = \"{}\"\nlocal = \"{me}\"\npeer = \"{peer}\"\n{inner}",
                key(k)
            )
        };
        format!(
            "[esp]\ntun = \"hip0\"\ntun_addrs = {addrs}\ntun_routes = {routes}\nesp_sa_export = \"{}\"\n{}{}",
            export_path(&tag, me).display(),
            sa(so, "out", kout),
            sa(si, "in", kin)
        )
    };
    let a = Proxy::start_config(
        &na,
        &conf(oa, ob, HIT_A, HIT_B, "10.200.0.1", "10.200.0.2", KEY_AB, KEY_BA, SPI_AB, SPI_BA),
    );
    let b = Proxy::start_config(
        &nb,
        &conf(ob, oa, HIT_B, HIT_A, "10.200.0.2", "10.200.0.1", KEY_BA, KEY_AB, SPI_BA, SPI_AB),
    );
    Hosts { a, b, na, nb, tag }
}

/// Where the daemon with outer address `me` keeps its `esp_sa_export`
/// file (`tag` makes it unique per topology).
fn export_path(tag: &str, me: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/{tag}-{}.esp_sa", me.replace(':', "_")))
}

fn engine_counter(p: &Proxy, name: &str) -> u64 {
    p.counter_of("sa list", name)
}

fn sa_field(p: &Proxy, spi: u32, dir: &str, field: &str) -> u64 {
    let v = p.ctl_json("sa list");
    let sa = v["sas"].as_array().unwrap().iter().find(|s| s["spi"] == spi && s["direction"] == dir);
    sa.unwrap_or_else(|| panic!("no SA {spi:#x} {dir}: {v}"))[field].as_u64().unwrap()
}

/// An HTTP server on `addr` in `ns` serving a random file of `mb` MiB;
/// returns the server and the file's sha256.
fn http_server(ns: &Netns, dir: &Path, addr: &str, mb: usize) -> (Background, String) {
    std::fs::create_dir_all(dir).unwrap();
    sh(&format!("head -c {}M /dev/urandom > {}/blob", mb, dir.display()));
    let sum = sh(&format!("sha256sum {}/blob", dir.display())).split_whitespace().next().unwrap().to_string();
    let srv =
        Background::spawn(ns, &format!("python3 -m http.server --bind {addr} --directory {} 8080", dir.display()));
    let url_host = if addr.contains(':') { format!("[{addr}]") } else { addr.to_string() };
    assert!(
        wait_until(10, || ns.sh_try(&format!("curl -sf -o /dev/null -g http://{url_host}:8080/")).0),
        "HTTP server did not come up"
    );
    (srv, sum)
}

fn curl_sum(ns: &Netns, url: &str) -> String {
    let out = ns.sh(&format!("curl -sf -g --max-time 60 {url} | sha256sum"));
    out.split_whitespace().next().unwrap().to_string()
}

fn udp_round_trip(client_ns: &Netns, server_ns: &Netns, server: SocketAddr, n: usize) {
    let srv = in_netns(&server_ns.name, move || {
        let s = UdpSocket::bind(server).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2000];
        for _ in 0..n {
            let (len, peer) = s.recv_from(&mut buf).expect("udp recv through ESP");
            s.send_to(&buf[..len], peer).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let cli = in_netns(&client_ns.name, move || {
        let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().unwrap();
        let s = UdpSocket::bind(bind).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2000];
        for i in 0..n {
            let msg = integration_tests::sockets::payload(i as u8, 100 + i * 50);
            s.send_to(&msg, server).unwrap();
            let (len, _) = s.recv_from(&mut buf).expect("udp echo through ESP");
            assert_eq!(&buf[..len], &msg[..]);
        }
    });
    cli.join().unwrap();
    srv.join().unwrap();
}

/// tshark on `dev` in `ns` writing ESP to a pcap until dropped.
pub(crate) fn capture(ns: &Netns, dev: &str, pcap: &Path) -> Background {
    let c = Background::capture(
        ns,
        &format!("dumpcap -q -i {dev} -f \"ip proto 50 or ip6 proto 50\" -w {}", pcap.display()),
    );
    assert!(wait_until(10, || pcap.exists()), "dumpcap did not start");
    std::thread::sleep(Duration::from_millis(300));
    c
}

pub(crate) fn tshark_decrypt(pcap: &Path, keys: &str, fields: &str) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(pcap);
    cmd.args(["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]);
    for l in keys.lines() {
        cmd.arg("-o").arg(format!("uat:esp_sa:{l}"));
    }
    cmd.args(["-T", "fields", "-E", "separator=|"]);
    for f in fields.split(',') {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark is required (apt install tshark)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = PathBuf::from("/tmp").join(unique(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn esp_host_to_host_beet_ping_http_udp_and_tshark() {
    let h = hosts(false, "aes128-gcm16", false);
    h.na.sh(&format!("ping -6 -c 3 -i 0.2 -W 2 {HIT_B}"));
    let dir = tmpdir("esp-http-");
    let pcap = dir.join("esp.pcapng");
    let cap = capture(&h.na, "e0", &pcap);
    let (_srv, sum) = http_server(&h.nb, &dir.join("www"), HIT_B, 8);
    assert_eq!(curl_sum(&h.na, &format!("http://[{HIT_B}]:8080/blob")), sum, "body differs after ESP");
    udp_round_trip(&h.na, &h.nb, format!("[{HIT_B}]:9000").parse().unwrap(), 20);
    std::thread::sleep(Duration::from_millis(500));
    drop(cap);
    // Both daemons counted the traffic on their SAs, and nothing was dropped.
    assert!(sa_field(&h.a, SPI_BA, "in", "bytes") > 8 << 20);
    assert!(sa_field(&h.b, SPI_AB, "in", "packets") > 100);
    for p in [&h.a, &h.b] {
        for c in ["drop_unknown_spi", "drop_bad_source", "drop_open", "drop_seal", "drop_malformed"] {
            assert_eq!(engine_counter(p, c), 0, "{c}");
        }
    }
    // tshark decrypts the capture with the keys `sa list --export-keys` wrote
    // and sees the inner TCP (HTTP) and UDP segments, ICVs good.
    let keys = dir.join("esp_sa");
    let (ok, _, err) = h.a.ctl(&format!("sa list --export-keys {}", keys.display()));
    assert!(ok, "{err}");
    let keys = std::fs::read_to_string(keys).unwrap();
    assert_eq!(keys.lines().count(), 2, "{keys}");
    // The daemon's own esp_sa_export file says the same, and only root reads it.
    let cfg_export = export_path(&h.tag, "10.9.0.1");
    assert_eq!(std::fs::read_to_string(&cfg_export).unwrap(), keys);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&cfg_export).unwrap().permissions().mode() & 0o777, 0o600);
    let out = tshark_decrypt(&pcap, &keys, "frame.protocols,esp.icv_good,tcp.srcport,udp.dstport");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.iter().filter(|l| l.contains("esp:tcp")).count() > 1000, "{}", &out[..out.len().min(2000)]);
    assert!(lines.iter().any(|l| l.contains("esp:udp") && l.ends_with("|9000")), "no UDP seen decrypted");
    assert!(lines.iter().any(|l| l.contains(":http")), "no HTTP seen decrypted");
    assert!(lines.iter().all(|l| !l.contains("|0|")), "bad ICV in tshark's view");
    let _ = std::fs::remove_dir_all(dir);
}

/// Python that sends ESP packets from a file of hex lines (one packet each)
/// to `dst` on a raw protocol 50 socket.
pub(crate) const INJECT_PY: &str = r#"
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_RAW, 50)
for line in open(sys.argv[2]):
    s.sendto(bytes.fromhex(line.strip()), (sys.argv[1], 0))
"#;

/// Python that captures one ESP packet for `spi` on a raw socket (a copy:
/// every raw socket of the protocol gets one) and writes replayed,
/// truncated, tampered and unknown-SPI variants as hex lines.
pub(crate) const CAPTURE_PY: &str = r#"
import socket, struct, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_RAW, 50)
s.settimeout(10)
want = int(sys.argv[2], 0)
while True:
    p = s.recv(4096)
    if fam == socket.AF_INET:
        p = p[(p[0] & 15) * 4:]
    spi, seq = struct.unpack("!II", p[:8])
    if spi == want:
        break
trunc = bytearray(p[:12])
trunc[4:8] = struct.pack("!I", seq + 2000000)
tampered = bytearray(p)
tampered[4:8] = struct.pack("!I", seq + 1000000)
tampered[-1] ^= 1
unknown = bytearray(p)
unknown[0:4] = struct.pack("!I", 0xdead0001)
with open(sys.argv[3], "w") as f:
    for pkt in (p, p, bytes(trunc), bytes(tampered), bytes(unknown)):
        f.write(pkt.hex() + "\n")
"#;

#[test]
fn esp_host_forged_packets_are_dropped_and_counted() {
    // IPv6 outer addresses and the CBC transform this time.
    let h = hosts(true, "aes128-cbc-hmac-sha256", false);
    let dir = tmpdir("esp-forge-");
    std::fs::write(dir.join("cap.py"), CAPTURE_PY).unwrap();
    std::fs::write(dir.join("inject.py"), INJECT_PY).unwrap();
    let pkts = dir.join("pkts.hex");
    // A TCP connection that must survive the attack.
    let listener = {
        let ns = h.nb.name.clone();
        in_netns(&ns, move || TcpListener::bind(format!("[{HIT_B}]:7000")).unwrap()).join().unwrap()
    };
    let echo = std::thread::spawn(move || integration_tests::sockets::tcp_echo(listener, 1, Default::default()));
    let mut conn = in_netns(&h.na.name, || TcpStream::connect(format!("[{HIT_B}]:7000")).unwrap()).join().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut echo_check = |i: u8| {
        let msg = integration_tests::sockets::payload(i, 3000);
        conn.write_all(&msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    };
    echo_check(1);
    // b captures a genuine a->b packet while a pings.
    let pinger = Background::spawn(&h.na, &format!("ping -6 -i 0.1 {HIT_B}"));
    h.nb.sh(&format!("python3 {}/cap.py 6 {SPI_AB} {}", dir.display(), pkts.display()));
    drop(pinger);
    std::thread::sleep(Duration::from_millis(300));
    let before = |f| sa_field(&h.b, SPI_AB, "in", f);
    let (replay0, icv0, other0) = (before("drop_replay"), before("drop_icv"), before("drop_other"));
    // a (the genuine peer address) sends the forgeries.
    h.na.sh(&format!("python3 {}/inject.py fd09::2 {}", dir.display(), pkts.display()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(before("drop_replay") - replay0, 2, "both replays dropped");
    assert_eq!(before("drop_icv") - icv0, 1, "tampered packet dropped");
    assert_eq!(before("drop_other") - other0, 1, "truncated packet dropped");
    assert_eq!(engine_counter(&h.b, "drop_unknown_spi"), 1);
    assert!(engine_counter(&h.b, "drop_open") >= 4);
    // From another source the SA's packets are refused before any crypto.
    h.nb.sh("true");
    h.na.sh("ip addr add fd09::66/64 dev e0 nodad");
    h.na.sh(&format!(
        "python3 -c \"import socket;s=socket.socket(socket.AF_INET6,socket.SOCK_RAW,50);s.bind(('fd09::66',0));s.sendto(bytes.fromhex(open('{}').readline().strip()),('fd09::2',0))\"",
        pkts.display()
    ));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(engine_counter(&h.b, "drop_bad_source"), 1);
    // The connection carries on.
    echo_check(2);
    drop(conn);
    echo.join().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn esp_tunnel_mode_moves_without_rekey() {
    // Tunnel mode over IPv6, inner IPv4 (the VPN's mobile node and gateway).
    let h = hosts(true, "aes128-gcm16", true);
    h.na.sh("ping -c 3 -i 0.2 -W 2 10.200.0.2");
    udp_round_trip(&h.na, &h.nb, "10.200.0.2:9000".parse().unwrap(), 5);
    let seq0 = sa_field(&h.b, SPI_BA, "out", "sequence");
    // a moves to a new address: b's outbound SA follows (no rekey), and
    // a's inbound SA expects b from the same place.
    h.na.sh("ip addr add fd09::5/64 dev e0 nodad");
    let (ok, _, err) = h.b.ctl(&format!("sa move {SPI_BA:#x} --direction out --local fd09::2 --peer fd09::5"));
    assert!(ok, "{err}");
    h.na.sh("ping -c 3 -i 0.2 -W 2 10.200.0.2");
    let v = h.b.ctl_json("sa list");
    let out = v["sas"].as_array().unwrap().iter().find(|s| s["direction"] == "out").unwrap().clone();
    assert_eq!(out["peer"], "fd09::5");
    assert!(out["sequence"].as_u64().unwrap() >= seq0 + 3, "sequence numbers carry on: {out}");
    assert_eq!(engine_counter(&h.a, "drop_open"), 0);
}

#[test]
fn esp_tunnel_wildcard_source_is_accepted_and_counted() {
    let h = hosts(false, "aes128-gcm16", true);
    // b's inbound SA now names a peer a does not use, with wildcard_source.
    let spec = |extra: &str| {
        format!(
            "sa add --spi 0x3003 --direction in --mode tunnel --key {} --local 10.9.0.2 --peer 10.9.0.99 {extra}",
            KEY_AB
        )
    };
    let (ok, _, err) = h.b.ctl(&spec("--wildcard-source"));
    assert!(ok, "{err}");
    // a's SA 0x1001 is replaced by 0x3003 with the same key.
    assert!(h.a.ctl(&format!("sa del {SPI_AB:#x} --direction out")).0);
    let (ok, _, err) = h.a.ctl(&format!(
        "sa add --spi 0x3003 --direction out --mode tunnel --key {KEY_AB} --local 10.9.0.1 --peer 10.9.0.2"
    ));
    assert!(ok, "{err}");
    h.na.sh("ping -c 2 -i 0.2 -W 2 10.200.0.2");
    assert!(engine_counter(&h.b, "wildcard_source") >= 2);
    assert_eq!(engine_counter(&h.b, "drop_bad_source"), 0);
}

#[test]
fn esp_sa_cli_add_list_del_and_errors() {
    let ns = Netns::new("ec");
    let p = Proxy::start_config(&ns, "[esp]\n");
    let add = |args: &str| p.ctl(&format!("sa add {args}"));
    let base = format!("--spi 0x4004 --direction out --key {KEY_AB} --local 192.0.2.1 --peer 192.0.2.2");
    let (ok, _, err) = add(&base);
    assert!(!ok && err.contains("inner_local"), "BEET without HITs refused: {err}");
    let good = format!("{base} --inner-local {HIT_A} --inner-peer {HIT_B}");
    assert!(add(&good).0);
    let (ok, _, err) = add(&good);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = add(&good.replace(KEY_AB, "abcd"));
    assert!(!ok && err.contains("needs 20"), "{err}");
    let (ok, _, err) = add(&good.replace("0x4004", "0x10"));
    assert!(!ok && err.contains("reserved"), "{err}");
    let v = p.ctl_json("sa list");
    let sa = &v["sas"][0];
    assert_eq!(
        (sa["spi"].as_u64(), sa["transform"].as_str(), sa["mode"].as_str()),
        (Some(0x4004), Some("aes128-gcm16"), Some("beet"))
    );
    assert!(sa.get("esp_sa").is_none() && !v.to_string().contains(&KEY_AB[..16]), "keys never in JSON");
    let (ok, table, _) = p.ctl("sa list");
    assert!(ok && table.contains("0x00004004") && table.contains("drop_unknown_spi"), "{table}");
    assert!(p.ctl("sa del 0x4004 --direction out").0);
    let (ok, _, err) = p.ctl("sa del 0x4004 --direction out");
    assert!(!ok && err.contains("no out SA"), "{err}");
    let (_, _, err) = sh_try(&format!(
        "{} sa add --spi x --direction out --key 00 --local 1.1.1.1 --peer 1.1.1.2",
        integration_tests::proxy_ctl_bin()
    ));
    assert!(err.contains("SPI"), "{err}");
}

#[test]
fn esp_hip_established_installs_sas_and_releases_the_first_packet() {
    // No static SAs: the first packet toward the peer's HIT starts the HIP
    // base exchange; ESTABLISHED installs the SA pair; the held SYN goes.
    let dir = tmpdir("esp-hip-");
    let (na, nb) = (Netns::new("ha"), Netns::new("hb"));
    na.veth("e0", &nb, "e0");
    na.addr("e0", "10.9.0.1/24");
    nb.addr("e0", "10.9.0.2/24");
    let (ka, hit_a) = identity(&dir, "a");
    let (kb, hit_b) = identity(&dir, "b");
    let conf = |key: &Path, hit: &str, me: &str, peer_hit: &str, peer: &str| {
        format!(
            "[esp]\ntun = \"hip0\"\ntun_addrs = [\"{hit}/28\"]\n\
             [hip]\nidentities = [\"{}\"]\nlocators = [\"{me}\"]\nretransmit_ms = 300\n\
             [[hip.peer]]\nhit = \"{peer_hit}\"\nlocators = [\"{peer}\"]\n",
            key.display()
        )
    };
    let a = Proxy::start_config(&na, &conf(&ka, &hit_a, "10.9.0.1", &hit_b, "10.9.0.2"));
    let b = Proxy::start_config(&nb, &conf(&kb, &hit_b, "10.9.0.2", &hit_a, "10.9.0.1"));
    let (_srv, sum) = http_server_no_probe(&nb, &dir.join("www"), &hit_b, 4);
    let out = na.sh(&format!(
        "curl -sf -g --max-time 20 -o {}/got -w \"%{{time_connect}}\" http://[{hit_b}]:8080/blob",
        dir.display()
    ));
    let connect: f64 = out.trim().parse().unwrap();
    let got = sh(&format!("sha256sum {}/got", dir.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body differs");
    // The SYN was held and released, not retransmitted (RTO 1 s): connect
    // time is the base exchange plus a little.
    assert!(connect < 0.9, "connect took {connect} s");
    assert!(engine_counter(&a, "held") >= 1 && engine_counter(&a, "released") >= 1);
    let sas = a.ctl_json("sa list");
    let sas = sas["sas"].as_array().unwrap();
    assert_eq!(sas.len(), 2, "{sas:?}");
    assert!(sas.iter().all(|s| s["inner_peer"] == hit_b.as_str() && s["transform"] == "aes128-gcm16"));
    // b installed the mirror pair and can reach a over it.
    nb.sh(&format!("ping -6 -c 2 -i 0.2 -W 2 {hit_a}"));
    assert_eq!(b.ctl_json("sa list")["sas"].as_array().unwrap().len(), 2);
    // b (the Responder) saw ESP on its inbound SA: R2-SENT became ESTABLISHED.
    let state = |p: &Proxy| p.ctl_json("assoc list")["assocs"][0]["state"].as_str().unwrap_or("").to_owned();
    assert!(wait_until(5, || state(&b) == "ESTABLISHED"), "Responder state {}", state(&b));
    assert_eq!(state(&a), "ESTABLISHED");
    eprintln!("connect time through HIP + ESP: {:.1} ms", connect * 1000.0);
    let _ = std::fs::remove_dir_all(dir);
}

/// [`http_server`] without probing it over the network first (the probe
/// would set the association up before the test's own first packet).
fn http_server_no_probe(ns: &Netns, dir: &Path, addr: &str, mb: usize) -> (Background, String) {
    std::fs::create_dir_all(dir).unwrap();
    sh(&format!("head -c {}M /dev/urandom > {}/blob", mb, dir.display()));
    let sum = sh(&format!("sha256sum {}/blob", dir.display())).split_whitespace().next().unwrap().to_string();
    let srv =
        Background::spawn(ns, &format!("python3 -m http.server --bind {addr} --directory {} 8080", dir.display()));
    assert!(wait_until(10, || ns.sh_try("ss -ltn | grep -q :8080").0), "HTTP server did not come up");
    (srv, sum)
}
