//! The NAT test topology: [`LegacyLan`] (two legacy hosts, the proxy, a
//! server as the far end) with the daemon's XDP NAT on the proxy. The
//! server has no route back to 10.1.0.0/24 or fd01::/64: replies only
//! arrive because the proxy translated the source to its own address.

use integration_tests::{FAR_V4, FAR_V6, LegacyLan, Netns, PROXY_WAN_V4, PROXY_WAN_V6, Proxy, ProxyConfig};

pub const SUB_V4: &str = "100.64.0.10";
pub const SUB_V6: &str = "fd00:64::10";
pub const SERVER_V4: &str = FAR_V4;
pub const SERVER_V6: &str = FAR_V6;
pub const WAN_V4: &str = PROXY_WAN_V4;
pub const WAN_V6: &str = PROXY_WAN_V6;

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
        let LegacyLan { legacy, proxy: pns, far: server, sw } = LegacyLan::build("");
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
