//! The legacy side of every proxy topology:
//!
//! ```text
//!  legacy[0] 10.1.0.11 fd01::11 ─┐
//!                                ├─ sw (bridge) ─ lan0 [proxy] wan0 ─ srv0 far end 192.0.2.10
//!  legacy[1] 10.1.0.12 fd01::12 ─┘   10.1.0.1 fd01::1      192.0.2.1            2001:db8::10
//!                                                          2001:db8::1
//! ```
//! The far end has no route back to 10.1.0.0/24 or fd01::/64: what reaches
//! it from a legacy host was translated by the proxy.

use crate::Netns;

pub const PROXY_LAN_V4: &str = "10.1.0.1";
pub const PROXY_LAN_V6: &str = "fd01::1";
pub const PROXY_WAN_V4: &str = "192.0.2.1";
pub const PROXY_WAN_V6: &str = "2001:db8::1";
pub const FAR_V4: &str = "192.0.2.10";
pub const FAR_V6: &str = "2001:db8::10";

/// The namespaces and links above, the proxy forwarding, no daemon yet.
pub struct LegacyLan {
    pub legacy: [Netns; 2],
    pub proxy: Netns,
    pub far: Netns,
    pub sw: Netns,
}

impl LegacyLan {
    /// `tag` starts every namespace's role name (they stay unique anyway;
    /// the tag tells which test left one behind).
    pub fn build(tag: &str) -> LegacyLan {
        let sw = Netns::new(&format!("{tag}s"));
        let proxy = Netns::new(&format!("{tag}p"));
        let far = Netns::new(&format!("{tag}v"));
        let legacy = [Netns::new(&format!("{tag}a")), Netns::new(&format!("{tag}b"))];
        sw.sh("ip link add sw type bridge && ip link set sw up");
        for (i, l) in legacy.iter().enumerate() {
            let port = format!("port{i}");
            l.veth("eth0", &sw, &port);
            sw.sh(&format!("ip link set {port} master sw"));
            l.addr("eth0", &format!("10.1.0.1{}/24", i + 1));
            l.addr("eth0", &format!("fd01::1{}/64", i + 1));
            l.route(&format!("default via {PROXY_LAN_V4}"));
            l.route(&format!("default via {PROXY_LAN_V6}"));
        }
        proxy.veth("lan0", &sw, "uplink");
        sw.sh("ip link set uplink master sw");
        proxy.addr("lan0", &format!("{PROXY_LAN_V4}/24"));
        proxy.addr("lan0", &format!("{PROXY_LAN_V6}/64"));
        proxy.veth("wan0", &far, "srv0");
        proxy.addr("wan0", &format!("{PROXY_WAN_V4}/24"));
        proxy.addr("wan0", &format!("{PROXY_WAN_V6}/64"));
        far.addr("srv0", &format!("{FAR_V4}/24"));
        far.addr("srv0", &format!("{FAR_V6}/64"));
        proxy.forwarding();
        LegacyLan { legacy, proxy, far, sw }
    }
}
