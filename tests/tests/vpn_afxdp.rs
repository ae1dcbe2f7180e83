//! Issues 5 and 7 together: the mobile VPN's gateway and node receive ESP
//! on AF_XDP sockets (`[esp] host_datapath = "af_xdp"`). `xdp_host` steers
//! the tunnel's inbound SPIs to the receive workers, which open the frames
//! with the role's tunnel hook, as the raw-socket receiver does: at the GW
//! that includes accepting the MN's Registration Request from a care-of
//! address the SA does not name yet (seed 004 step 3). Topology and
//! helpers: vpn.rs.

use std::{sync::atomic::Ordering, time::Duration};

use integration_tests::{Proxy, wait_until};

use super::*;

/// No interface list: the GW attaches to every Ethernet interface that is
/// up (in0 and out0), the MN to its `[vpn.mn] interfaces` (eth_a, eth_b).
/// Real-time threads, as `bench handover` runs them.
const AF_XDP: &str = "[scheduling]\nrealtime_priority = 5\n[esp]\nhost_datapath = \"af_xdp\"\n";

fn esp(p: &Proxy, name: &str) -> u64 {
    p.counter_of("sa list", name)
}

/// (ESP packets received, of those on AF_XDP), one snapshot: the stream
/// goes on while we read.
fn received(p: &Proxy) -> (u64, u64) {
    let [esp, xsk] = p.counters_of("sa list", ["esp_rx", "xsk_rx"]);
    (esp, xsk)
}

#[test]
fn vpn_gateway_and_mobile_node_receive_esp_on_af_xdp_across_handovers() {
    let v = vpn_with(AF_XDP);
    assert!(v.gw.log().contains(r#"interfaces=["in0", "out0"]"#), "{}", v.gw.log());
    assert!(v.mn.log().contains(r#"interfaces=["eth_a", "eth_b"]"#), "{}", v.mn.log());
    // The receive workers are real-time like the raw socket's esp-rx.
    for d in [&v.gw, &v.mn] {
        let threads = thread_policies(d.pid().unwrap());
        let worker = |n: &str| n.strip_prefix("esp-xsk").is_some_and(|q| q.parse::<u32>().is_ok());
        let xsk: Vec<_> = threads.iter().filter(|(n, ..)| worker(n)).collect();
        assert!(!xsk.is_empty() && xsk.iter().all(|(_, p, r)| (*p, *r) == (1, 5)), "{threads:?}");
    }
    let spis = hip_spis(&v);
    // The MN's own traffic toward the CN gives the GW ESP to receive
    // besides the registrations.
    assert!(ping_ok(&v.t.mn_ns, "10.1.1.10"), "MN -> CN before any move");
    let (sent, recv, stop) = udp_stream(&v.t.cn.name, &v.t.mn_ns.name);
    std::thread::sleep(Duration::from_millis(300));
    let before = [received(&v.gw), received(&v.mn)];
    for (from, to, addr, router) in
        [("eth_a", "eth_b", COA_B, "203.0.113.1"), ("eth_b", "eth_a", COA_A, "198.51.100.1")]
    {
        let r0 = recv.load(Ordering::Relaxed);
        move_to(&v.t.mn_ns, from, to, addr, router);
        assert!(wait_until(5, || v.ha.binding().as_deref() == Some(addr)), "HA binding did not move to {addr}");
        assert!(wait_until(3, || recv.load(Ordering::Relaxed) > r0 + 100), "UDP did not resume at {addr}");
        assert!(ping_ok(&v.t.mn_ns, "10.1.1.10"), "MN -> CN at {addr}");
        assert_eq!(hip_spis(&v), spis, "no re-keying");
        assert_eq!(v.gw.bundle(), (addr.to_string(), spis.1, spis.0));
    }
    stop.store(true, Ordering::Relaxed);
    let after = [received(&v.gw), received(&v.mn)];
    let [(gw_esp, gw_xsk), (mn_esp, mn_xsk)] = [0, 1].map(|i| (after[i].0 - before[i].0, after[i].1 - before[i].1));
    eprintln!(
        "across the moves: GW received {gw_esp} ESP packets, {gw_xsk} on AF_XDP; MN {mn_esp}, {mn_xsk} on AF_XDP; \
         UDP sent {}, received {}",
        sent.load(Ordering::Relaxed),
        recv.load(Ordering::Relaxed)
    );
    // Both Registration Requests from the new care-of addresses (and the
    // echoes, the pings) came through the GW's socket and its hook.
    assert!(gw_xsk >= 6, "GW: {gw_xsk} of {gw_esp} ESP packets on AF_XDP");
    assert!(v.gw.vpn_counter("wildcard_source_accepted") >= 2);
    // The stream on the MN's sockets, on both interfaces; a stray packet
    // on the raw socket is allowed (see hostxdp.rs), steering is not.
    assert!(mn_xsk > 100 && mn_xsk + 2 >= mn_esp, "MN: {mn_xsk} of {mn_esp} ESP packets on AF_XDP");
    assert!(gw_xsk + 2 >= gw_esp, "GW: {gw_xsk} of {gw_esp} ESP packets on AF_XDP");
    for p in [&v.gw, &v.mn] {
        for c in ["drop_unknown_spi", "drop_open", "drop_malformed", "xsk_missing"] {
            assert_eq!(esp(p, c), 0, "{c}: {}", p.ctl_json("sa list"));
        }
    }
    let h = v.mn.history();
    assert!(h.iter().rev().take(2).all(|e| e["kind"] == "fast" && e["first_data_ms"].is_number()), "{h:?}");
}
