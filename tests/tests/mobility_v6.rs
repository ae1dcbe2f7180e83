//! Issue 6, IPv6 locators: the `host` role's address watcher sees IPv6
//! addresses (rtnetlink RTM_NEWADDR / RTM_DELADDR of both families) and
//! announces a new one only once duplicate address detection is over
//! (RFC 4862 §5.4: a tentative address is not used), never a link-local
//! one or its own HIT.
//!
//! ```text
//!  [a] e0 fd00:61:1::2 ── [r] ─┬─ fd00:61:3::2 e0 [h] (old network)
//!                              └─ fd00:61:4::2 e1 [h] (new network, DAD on)
//! ```

use std::path::{Path, PathBuf};

use integration_tests::{Netns, Proxy, identity, unique, wait_until};
use serde_json::Value;

const A6: &str = "fd00:61:1::2";
const H6: &str = "fd00:61:3::2";
const H6_NEW: &str = "fd00:61:4::2";

struct Node {
    // The daemon drops before its namespace.
    p: Proxy,
    ns: Netns,
    hit: String,
}

struct Topo {
    a: Node,
    h: Node,
    _r: Netns,
    dir: PathBuf,
}

impl Drop for Topo {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- a ---\n{}\n--- h ---\n{}", self.a.p.log(), self.h.p.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(key: &Path, hit: &str, peer: Option<(&str, &str)>) -> String {
    let peer = peer.map(|(h, l)| format!("[[hip.peer]]\nhit = \"{h}\"\nlocators = [\"{l}\"]\n")).unwrap_or_default();
    format!("[hip]\nidentities = [\"{}\"]\n{peer}\n[esp]\ntun = \"hip0\"\ntun_addrs = [\"{hit}/28\"]\n", key.display())
}

fn topo() -> Topo {
    let dir = PathBuf::from("/tmp").join(unique("mv6-"));
    std::fs::create_dir_all(&dir).unwrap();
    let r = Netns::new("r");
    let a = Netns::new("a");
    let h = Netns::new("h");
    r.forwarding();
    r.veth("e1", &a, "e0");
    r.veth("e3", &h, "e0");
    r.veth("e4", &h, "e1");
    for (dev, net) in [("e1", 1), ("e3", 3), ("e4", 4)] {
        r.addr(dev, &format!("fd00:61:{net}::1/64"));
    }
    a.addr("e0", &format!("{A6}/64"));
    h.addr("e0", &format!("{H6}/64"));
    a.route("default via fd00:61:1::1");
    h.route("default via fd00:61:3::1");
    let (ka, ha) = identity(&dir, "a");
    let (kh, hh) = identity(&dir, "h");
    let ph = Proxy::start_config(&h, &config(&kh, &hh, None));
    let pa = Proxy::start_config(&a, &config(&ka, &ha, Some((&hh, H6))));
    Topo { a: Node { p: pa, ns: a, hit: ha }, h: Node { p: ph, ns: h, hit: hh }, _r: r, dir }
}

fn assoc(n: &Node, peer: &Node) -> Value {
    let v = n.p.ctl_json("assoc list");
    v["assocs"].as_array().unwrap().iter().find(|a| a["peer_hit"] == peer.hit.as_str()).cloned().unwrap_or(Value::Null)
}

#[test]
fn mobility_ipv6_locator_announced_after_dad() {
    let t = topo();
    t.a.ns.sh(&format!("ping -6 -c 2 -i 0.2 -W 3 {}", t.h.hit));
    assert_eq!(assoc(&t.a, &t.h)["peer_locator"], H6);
    // The new address with duplicate address detection (about 1 s): the
    // host must not announce it while it is tentative.
    t.h.ns.sh(&format!(
        "ip addr add {H6_NEW}/64 dev e1 && ip -6 route replace default via fd00:61:4::1 dev e1 \
         && ip addr del {H6}/64 dev e0"
    ));
    let mut saw_tentative = false;
    assert!(
        wait_until(10, || {
            // The peer's view first, then the flag: moved while still
            // tentative would mean the tentative address was announced.
            let moved = assoc(&t.a, &t.h)["peer_locator"] == H6_NEW;
            let tentative = t.h.ns.sh(&format!("ip -6 addr show dev e1 to {H6_NEW}")).contains("tentative");
            assert!(!(moved && tentative), "{H6_NEW} announced during DAD");
            saw_tentative |= tentative;
            moved
        }),
        "the peer never moved to {H6_NEW}: {}",
        t.a.p.ctl_json("assoc list")
    );
    assert!(saw_tentative, "DAD was over before the first look: the test did not check it");
    // The host's side uses the new address (not its link-local one, not
    // its HIT), the peer verified it, and data flows there.
    assert_eq!(assoc(&t.h, &t.a)["local_locator"], H6_NEW);
    assert_eq!(t.a.p.counter_of("assoc stats", "locators_verified"), 1);
    t.a.ns.sh(&format!("ping -6 -c 3 -i 0.2 -W 3 {}", t.h.hit));
    let sas = t.a.p.ctl_json("sa list");
    assert!(sas["sas"].as_array().unwrap().iter().all(|s| s["peer"] == H6_NEW), "{sas}");
    assert_eq!(t.h.p.counter_of("assoc stats", "locator_announcements"), 1);
}
