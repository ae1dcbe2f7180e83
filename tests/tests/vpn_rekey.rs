//! Issues 5, 6 and 7 together: the mobile VPN's MN <-> GW SAs, keyed by a
//! HIP base exchange, are rekeyed by HIP UPDATE (RFC 7402 §6.8-§6.10) on
//! request (`proxy-ctl assoc rekey` on either end) and when they age
//! (`[esp] rekey_after_packets`), while a CN streams to the MN's home
//! address through the tunnel: new SPIs on both ends, nothing lost to an
//! SA the peer lacks, and a rekey is not a handover (a handover keeps the
//! SPIs, the new ones after a rekey). Topology and helpers: vpn.rs.

use std::{sync::atomic::Ordering, time::Duration};

use integration_tests::{Proxy, in_netns, wait_until};

use super::*;

fn peer_hit(p: &Proxy) -> String {
    p.assocs()[0]["peer_hit"].as_str().unwrap().to_string()
}

/// `a` and `b` as `sa list` rows (direction, SPI, local, peer).
fn rows(rows: [(&str, u64, &str, &str); 2]) -> Vec<(String, u64, String, String)> {
    rows.iter().map(|(d, s, l, p)| (d.to_string(), *s, l.to_string(), p.to_string())).collect()
}

/// Waits for a rekey away from `old` (the MN's (inbound, outbound) SPIs)
/// to complete on both ends with the MN at `coa`: the HIP association,
/// the VPN bundles and, once the replaced inbound SAs have retired,
/// exactly the new pair in each ESP table. Returns the new SPIs.
fn rekeyed_from(v: &Vpn, old: (u64, u64), coa: &str) -> (u64, u64) {
    let fresh = || {
        let (m, g) = (v.mn.assocs(), v.gw.assocs());
        let s = |a: &Value, k: &str| a[k].as_u64().unwrap_or(0);
        s(&m[0], "spi_in") != old.0
            && s(&m[0], "spi_out") != old.1
            && (s(&m[0], "spi_in"), s(&m[0], "spi_out")) == (s(&g[0], "spi_out"), s(&g[0], "spi_in"))
    };
    assert!(wait_until(5, fresh), "no rekey: {:?} {:?}", v.mn.assocs(), v.gw.assocs());
    let (i, o) = hip_spis(v);
    assert!(
        wait_until(3, || v.mn.bundle() == (coa.into(), i, o) && v.gw.bundle() == (coa.into(), o, i)),
        "bundles {:?} {:?}, association {:?}",
        v.mn.bundle(),
        v.gw.bundle(),
        (i, o)
    );
    // Tunnel mode, care-of address and the GW's wildcard source kept.
    let gw = "192.0.2.1";
    let want_mn = rows([("in", i, coa, gw), ("out", o, coa, gw)]);
    let want_gw = rows([("in", o, gw, coa), ("out", i, gw, coa)]);
    assert!(
        wait_until(8, || v.mn.sas() == want_mn && v.gw.sas() == want_gw),
        "after the retirement: mn {:?} gw {:?}",
        v.mn.sas(),
        v.gw.sas()
    );
    let wildcard: Vec<bool> = v.gw.ctl_json("sa list")["sas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["wildcard_source"].as_bool().unwrap())
        .collect();
    assert_eq!(wildcard.iter().filter(|w| **w).count(), 1, "the GW's new inbound SA takes any source");
    (i, o)
}

fn no_esp_lost_to_a_missing_sa(v: &Vpn) {
    for (who, p) in [("mn", &v.mn), ("gw", &v.gw)] {
        assert_eq!(p.counter_of("sa list", "drop_unknown_spi"), 0, "{who}: ESP on an SA it lacked");
    }
}

#[test]
fn vpn_rekey_on_request_from_either_end_keeps_the_stream_and_changes_the_spis() {
    let v = vpn_with("");
    let first = hip_spis(&v);
    assert_eq!(v.mn.bundle(), (COA_A.into(), first.0, first.1));
    const TOTAL: usize = 4 << 20;
    let (srv, cli) = tcp_transfer(&v, TOTAL, 20);
    let (sent, recv, stop) = udp_stream(&v.t.cn.name, &v.t.mn_ns.name);
    std::thread::sleep(Duration::from_millis(400));

    // From the MN (the Initiator of the base exchange) with a new DH,
    // then from the GW with keys drawn from the KEYMAT.
    let mut spis = first;
    for (who, p, how) in [("mn", &v.mn, ""), ("gw", &v.gw, " --keymat")] {
        let (ok, _, err) = p.ctl(&format!("assoc rekey {}{how}", peer_hit(p)));
        assert!(ok, "assoc rekey on the {who}: {err}");
        let new = rekeyed_from(&v, spis, COA_A);
        assert!(new.0 != spis.0 && new.1 != spis.1 && new.0 != first.0 && new.1 != first.1);
        eprintln!("rekey from the {who}: MN SPIs in/out {spis:#x?} -> {new:#x?}");
        spis = new;
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let (s, r) = (sent.load(Ordering::Relaxed), recv.load(Ordering::Relaxed));
    let want = cli.join().unwrap();
    assert_eq!(srv.join().unwrap(), (TOTAL, want), "TCP transfer across two rekeys");
    eprintln!("UDP CN -> MN across two rekeys: sent {s}, received {r}, lost {}", s - r);
    assert!(r > 1000, "the stream did not flow ({r})");
    assert!(s - r <= 10, "UDP lost across two rekeys: {} of {s}", s - r);
    no_esp_lost_to_a_missing_sa(&v);

    // Counted as rekeys (one with a new DH) on both ends, in HIP and the
    // VPN; not as handovers or re-establishments.
    for (who, p) in [("mn", &v.mn), ("gw", &v.gw)] {
        assert_eq!(p.counter_of("assoc stats", "rekeys"), 2, "{who}");
        assert_eq!(p.counter_of("assoc stats", "rekeys_new_dh"), 1, "{who}");
        assert_eq!(p.vpn_counter("rekeys"), 2, "{who}");
        let b = &p.ctl_json("vpn bundles")["bundles"][0];
        assert_eq!((b["rekeys"].as_u64(), b["generation"].as_u64()), (Some(2), Some(0)), "{who}: {b}");
        assert!(p.history().is_empty(), "{who}: a rekey is no handover: {:?}", p.history());
    }
    assert_eq!(v.mn.vpn_counter("reestablishments"), 0);
    assert_eq!(v.gw.vpn_counter("reestablished"), 0);
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "CN -> MN on the new SAs");
}

#[test]
fn vpn_rekey_then_handover_keeps_the_new_spis_and_rekeys_again_at_the_new_address() {
    let v = vpn_with("");
    let first = hip_spis(&v);
    let (sent, recv, stop) = udp_stream(&v.t.cn.name, &v.t.mn_ns.name);
    std::thread::sleep(Duration::from_millis(300));
    assert!(v.mn.ctl(&format!("assoc rekey {}", peer_hit(&v.mn))).0);
    let rekeyed = rekeyed_from(&v, first, COA_A);

    // A handover after the rekey: the new SPIs move, unchanged.
    let r0 = recv.load(Ordering::Relaxed);
    move_to(&v.t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(5, || v.ha.binding().as_deref() == Some(COA_B)), "HA binding did not move");
    assert!(wait_until(3, || recv.load(Ordering::Relaxed) > r0 + 200), "UDP did not resume at {COA_B}");
    assert_eq!(hip_spis(&v), rekeyed, "a handover changes no SPI");
    let (i, o) = rekeyed;
    assert_eq!(v.mn.bundle(), (COA_B.into(), i, o));
    assert_eq!(v.gw.bundle(), (COA_B.into(), o, i));
    let h = v.mn.history();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["kind"], "fast");
    assert_eq!((h[0]["inbound_spi"].as_u64(), h[0]["outbound_spi"].as_u64()), (Some(i), Some(o)), "{h:?}");
    assert_eq!(v.gw.history().len(), 1);

    // A rekey from the GW after the move: its UPDATE goes to the care-of
    // address the VPN told the HIP core about.
    assert!(wait_until(2, || v.gw.assocs()[0]["peer_locator"] == COA_B), "{:?}", v.gw.assocs());
    assert!(v.gw.ctl(&format!("assoc rekey {}", peer_hit(&v.gw))).0);
    let again = rekeyed_from(&v, rekeyed, COA_B);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let (s, r) = (sent.load(Ordering::Relaxed), recv.load(Ordering::Relaxed));
    eprintln!("SPIs {first:#x?} -> {rekeyed:#x?} -> (handover) -> {again:#x?}; UDP sent {s} received {r}");
    no_esp_lost_to_a_missing_sa(&v);
    assert_eq!((v.mn.vpn_counter("rekeys"), v.gw.vpn_counter("rekeys")), (2, 2));
    assert_eq!((v.mn.history().len(), v.gw.history().len()), (1, 1), "rekeys added no handover");
    assert_eq!(v.mn.vpn_counter("reestablishments"), 0);
}

#[test]
fn vpn_rekey_aging_sas_during_a_transfer() {
    // The GW seals ~6000 packets of 8 MiB and ages; the MN sends few ACKs
    // (GRO at its TUN device coalesces), and its outbound SA is replaced
    // by each of the GW's rekeys before it ages. Then a UDP stream MN ->
    // CN alone ages the MN's.
    const LIMIT: u64 = 600;
    let v = vpn_with(&format!("[esp]\nrekey_after_packets = {LIMIT}\n"));
    let first = hip_spis(&v);
    const TOTAL: usize = 8 << 20;
    let (srv, cli) = tcp_transfer(&v, TOTAL, 5);
    let (sent, recv, stop) = udp_stream(&v.t.cn.name, &v.t.mn_ns.name);
    let (up_sent, up_recv) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (stop_up, stop_sink) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (r, s2) = (up_recv.clone(), stop_sink.clone());
    let sink = in_netns(&v.t.cn.name, move || {
        let sock = std::net::UdpSocket::bind("10.1.1.10:5001").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 64];
        while !s2.load(Ordering::Relaxed) {
            if sock.recv(&mut buf).is_ok() {
                r.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let (s, s3) = (up_sent.clone(), stop_up.clone());
    let source = in_netns(&v.t.mn_ns.name, move || {
        let sock = std::net::UdpSocket::bind("10.2.0.5:0").unwrap();
        while !s3.load(Ordering::Relaxed) {
            let _ = sock.send_to(&[7u8; 8], "10.1.1.10:5001");
            s.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let want = cli.join().unwrap();
    assert_eq!(srv.join().unwrap(), (TOTAL, want), "TCP transfer across the aging rekeys");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mn_aged = || v.mn.counter_of("sa list", "rekeys_started") >= 1;
    assert!(wait_until(5, mn_aged), "the MN's outbound SA never aged into a rekey");
    std::thread::sleep(Duration::from_millis(300));
    stop_up.store(true, Ordering::Relaxed);
    let _ = source.join();
    // What is still in flight arrives.
    std::thread::sleep(Duration::from_millis(200));
    stop_sink.store(true, Ordering::Relaxed);
    let _ = sink.join();
    let esp = |p: &Proxy, name: &str| p.counter_of("sa list", name);
    let hip = |p: &Proxy, name: &str| p.counter_of("assoc stats", name);
    let started = esp(&v.gw, "rekeys_started") + esp(&v.mn, "rekeys_started");
    assert!(esp(&v.gw, "rekeys_started") >= 2, "the GW's outbound SA never aged into a rekey: {started}");
    assert!(wait_until(5, || hip(&v.mn, "rekeys") == hip(&v.gw, "rekeys")), "the two ends disagree");
    let crossed = hip(&v.mn, "drop_rekey_collision") + hip(&v.gw, "drop_rekey_collision");
    let done = hip(&v.gw, "rekeys");
    eprintln!(
        "aging rekeys: started mn {} gw {}, completed {done}, crossed {crossed}",
        esp(&v.mn, "rekeys_started"),
        esp(&v.gw, "rekeys_started")
    );
    assert_eq!(done + crossed, started, "a started rekey did not complete");
    assert!(wait_until(3, || v.mn.vpn_counter("rekeys") == done && v.gw.vpn_counter("rekeys") == done));
    let (s, r) = (sent.load(Ordering::Relaxed), recv.load(Ordering::Relaxed));
    let (us, ur) = (up_sent.load(Ordering::Relaxed), up_recv.load(Ordering::Relaxed));
    eprintln!("UDP during the transfer: CN -> MN sent {s}, received {r}; MN -> CN sent {us}, received {ur}");
    assert!(s - r <= 10 && us - ur <= 10, "UDP lost across the aging rekeys");
    no_esp_lost_to_a_missing_sa(&v);
    // The pair the last rekey left, on both ends; the stream still flows.
    let last = rekeyed_from(&v, first, COA_A);
    assert_eq!(hip_spis(&v), last);
    assert!(ping_ok(&v.t.cn, "10.2.0.5"), "CN -> MN after the rekeys");
    assert!(v.mn.history().is_empty() && v.gw.history().is_empty(), "aging rekeys are no handovers");
}
