//! The NAT test topology:
//!
//! ```text
//!  legacy1 10.1.0.11 fd01::11 ─┐
//!                              ├─ sw (bridge) ─ lan0 [proxy] wan0 ─ srv0 server 192.0.2.10
//!  legacy2 10.1.0.12 fd01::12 ─┘   10.1.0.1 fd01::1      192.0.2.1          2001:db8::10
//!                                                        2001:db8::1
//! ```
//! The server has no route back to 10.1.0.0/24 or fd01::/64: replies only
//! arrive because the proxy translated the source to its own address.

use integration_tests::{Netns, Proxy, ProxyConfig};

pub const SUB_V4: &str = "100.64.0.10";
pub const SUB_V6: &str = "fd00:64::10";
pub const SERVER_V4: &str = "192.0.2.10";
pub const SERVER_V6: &str = "2001:db8::10";
pub const WAN_V4: &str = "192.0.2.1";
pub const WAN_V6: &str = "2001:db8::1";

pub struct Topo {
    // Field order is drop order: the daemon first, then the namespaces.
    pub proxy: Proxy,
    pub legacy: [Netns; 2],
    pub server: Netns,
    pub _pns: Netns,
    pub _sw: Netns,
}

impl Topo {
    pub fn new(redirect: bool) -> Topo {
        Topo::with_udp_timeout(redirect, 300)
    }

    pub fn with_udp_timeout(redirect: bool, udp_secs: u64) -> Topo {
        Topo::with(redirect, udp_secs, "")
    }

    /// `extra`: more TOML for the daemon's config (e.g. a [dns] section).
    pub fn with(redirect: bool, udp_secs: u64, extra: &str) -> Topo {
        Topo::with_pools(redirect, udp_secs, extra, "100.64.0.0/24", "fd00:64::/96")
    }

    /// As [`Topo::with`], with other substitute pools (they must hold
    /// SUB_V4 and SUB_V6).
    pub fn with_pools(redirect: bool, udp_secs: u64, extra: &str, pool_v4: &str, pool_v6: &str) -> Topo {
        let sw = Netns::new("s");
        let pns = Netns::new("p");
        let server = Netns::new("v");
        let legacy = [Netns::new("a"), Netns::new("b")];
        sw.sh("ip link add sw type bridge && ip link set sw up");
        for (i, l) in legacy.iter().enumerate() {
            let port = format!("port{i}");
            l.veth("eth0", &sw, &port);
            sw.sh(&format!("ip link set {port} master sw"));
            l.addr("eth0", &format!("10.1.0.1{}/24", i + 1));
            l.addr("eth0", &format!("fd01::1{}/64", i + 1));
            l.route("default via 10.1.0.1");
            l.route("default via fd01::1");
        }
        pns.veth("lan0", &sw, "uplink");
        sw.sh("ip link set uplink master sw");
        pns.addr("lan0", "10.1.0.1/24");
        pns.addr("lan0", "fd01::1/64");
        pns.veth("wan0", &server, "srv0");
        pns.addr("wan0", &format!("{WAN_V4}/24"));
        pns.addr("wan0", &format!("{WAN_V6}/64"));
        server.addr("srv0", &format!("{SERVER_V4}/24"));
        server.addr("srv0", &format!("{SERVER_V6}/64"));
        pns.forwarding();
        let proxy = Proxy::start(
            &pns,
            &ProxyConfig {
                lan: "lan0".into(),
                wan: "wan0".into(),
                wan_v4: WAN_V4.into(),
                wan_v6: WAN_V6.into(),
                pool_v4: pool_v4.into(),
                pool_v6: pool_v6.into(),
                redirect,
                udp_secs,
                extra: extra.to_owned(),
            },
        );
        // Frames XDP redirects into lan0/wan0 arrive on these peers.
        proxy.xdp_pass(&sw, "uplink");
        proxy.xdp_pass(&server, "srv0");
        let t = Topo { proxy, legacy, server, _pns: pns, _sw: sw };
        t.map(SUB_V4, SERVER_V4);
        t.map(SUB_V6, SERVER_V6);
        t
    }

    pub fn map(&self, sub: &str, peer: &str) {
        let (ok, _, err) = self.proxy.ctl(&format!("mapping add {sub} {peer}"));
        assert!(ok, "mapping add {sub} {peer}: {err}");
    }
}
