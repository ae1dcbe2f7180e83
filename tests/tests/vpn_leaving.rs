//! Issue 7: what the home agent still sends to the care-of address the MN
//! has left, from the GW's sight of the MN's Registration Request at its
//! new address until the SIU moves the SA, is held by the GW's ESP engine
//! and sent to the new address with the move (esp/table/leaving.rs),
//! instead of being sealed to an address the MN no longer takes ESP at.
//! Topology and helpers: vpn.rs.

use std::sync::atomic::Ordering;

use integration_tests::{Proxy, wait_until};

use super::*;

#[test]
fn vpn_gateway_sends_what_the_home_agent_sent_to_the_address_left_to_the_new_one() {
    // The HA does not take the MN's first Registration Request from the
    // new address (nftables), so for a whole retransmission timeout it
    // goes on sending to the address the MN left. The GW, which saw that
    // request, holds those packets (16: the engine's bound per address)
    // and sends them with the SA move the retransmitted request brings.
    let v = vpn(Keying::hip, true, 300, 3);
    let spis = hip_spis(&v);
    let (sent, _, got, stop) = udp_stream_numbered(&v.t.cn.name, &v.t.mn_ns.name);
    assert!(wait_until(5, || got.lock().unwrap().len() > 100), "UDP before the move");
    let esp = |p: &Proxy, n: &str| p.counter_of("sa list", n);
    assert_eq!((esp(&v.gw, "held_moving"), esp(&v.gw, "held")), (0, 0));
    v.t.ha_ns.sh("nft add table ip t && nft add chain ip t in '{ type filter hook input priority 0; }' && nft add rule ip t in udp dport 434 drop");
    let at_move = sent.load(Ordering::Relaxed);
    move_to(&v.t.mn_ns, "eth_a", "eth_b", COA_B, "203.0.113.1");
    assert!(wait_until(1, || esp(&v.gw, "held_moving") == 1), "nothing held for {COA_A}:\n{}", v.gw.log());
    v.t.ha_ns.sh("nft delete table ip t");
    // The retransmission (300 ms) registers; the SA moves, the held go.
    assert!(wait_until(3, || v.gw.bundle().0 == COA_B), "the SA did not move:\n{}", v.gw.log());
    assert!(wait_until(2, || got.lock().unwrap().len() as u64 > at_move + 100), "UDP did not resume");
    stop.store(true, Ordering::Relaxed);
    let [held, released, dropped] = v.gw.counters_of("sa list", ["held", "released", "drop_no_sa"]);
    // Of the first 100 packets sent after the move began, the MN got the
    // few sent before `ip` removed its address, and the held ones; the
    // rest went past the bound, dropped and counted (without the hold:
    // only the first few).
    let window: Vec<u64> = got.lock().unwrap().range(at_move..at_move + 100).copied().collect();
    eprintln!("held {held}, released {released}, drop_no_sa {dropped}; received of the 100 after the move: {window:?}");
    assert!((16..=17).contains(&held) && released == held, "held {held}, released {released}");
    assert!(dropped > 50, "the HA sent to {COA_A} for the whole timeout: {dropped} dropped");
    assert!((16..=40).contains(&window.len()), "the held packets did not reach the MN: {window:?}");
    assert_eq!(v.mn.history().last().unwrap()["kind"], "fast");
    assert_eq!(hip_spis(&v), spis, "no re-keying");
}
