//! The daemon's TOML configuration (`proxy-ctl run --config FILE`).
//!
//! Every field has a default an operator can live with except the
//! interfaces and the WAN address(es); errors name the offending key.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::net::Prefix;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The XDP substitute-address NAT (the `proxy` role). Absent for roles
    /// that need no XDP datapath of their own.
    pub datapath: Option<DatapathSection>,
    #[serde(default)]
    pub nat: NatSection,
    #[serde(default)]
    pub pool: PoolSection,
    #[serde(default)]
    pub control: ControlSection,
    /// The proxy as the LAN's DNS resolver (absent: no DNS service).
    pub dns: Option<DnsSection>,
    /// HIP: host identities, the base exchange, the static peer table.
    pub hip: Option<crate::hip::HipSection>,
    /// Static mappings installed at start-up (pass-through mode).
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<StaticMapping>,
    /// The mobile-VPN roles: `[vpn.ha]`, `[vpn.gw]` or `[vpn.mn]`.
    pub vpn: Option<crate::vpn::config::VpnSection>,
    /// ESP: the SA store, key export and the host data path (TUN).
    pub esp: Option<EspSection>,
    /// Static SAs installed at start-up (`[[sa]]`, needs `[esp]`).
    #[serde(default, rename = "sa")]
    pub sas: Vec<crate::esp::SaSpec>,
    /// Thread scheduling (`[scheduling]`, src/sched.rs).
    #[serde(default)]
    pub scheduling: SchedulingSection,
}

/// `[scheduling]`: how the threads on the packet and handover path run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulingSection {
    /// SCHED_FIFO priority 1-99 for the ESP host path's send/receive
    /// threads (its AF_XDP receive workers too) and the VPN's `vpn-ha` /
    /// `vpn-gw` / `vpn-mn` threads (absent: the normal
    /// policy). The daemon refuses to start when the kernel will not
    /// grant it.
    pub realtime_priority: Option<u8>,
}

/// `[esp]`: SAs are kept by this daemon; with `tun` set it also runs the
/// host data path (local applications <-> ESP on the wire).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSection {
    /// TUN device for local applications (the `host` and `mn` roles).
    pub tun: Option<String>,
    /// Its MTU: the outer path MTU minus the ESP overhead (outer header,
    /// ESP header, IV, padding, trailer, ICV; BEET saves the inner header).
    #[serde(default = "default_tun_mtu")]
    pub tun_mtu: u32,
    /// Addresses on the TUN device, "ADDRESS/LENGTH": our HIT (the prefix
    /// length routes the HIT space, e.g. /28 for ORCHIDv2) and LSI.
    #[serde(default)]
    pub tun_addrs: Vec<String>,
    /// Extra prefixes routed into the TUN device (tunnel mode).
    #[serde(default)]
    pub tun_routes: Vec<Prefix>,
    /// Debugging: keep this file up to date with Wireshark `esp_sa` lines
    /// for every SA (it holds the keys: mode 0600).
    pub esp_sa_export: Option<PathBuf>,
    /// Proxy role: the engine for established flows. "auto" (default):
    /// the AF_XDP workers when `[datapath]` is there and its interfaces
    /// take AF_XDP sockets, else the TUN path alone; "af_xdp": the same,
    /// but failing to start them is an error; "tun": the TUN path only.
    #[serde(default)]
    pub datapath: EspDatapath,
    /// AF_XDP bind mode: "auto" (zero-copy where the driver can), "copy",
    /// "zerocopy".
    #[serde(default)]
    pub xdp_bind: XdpBind,
    /// Host role (`tun` set, not the proxy) and the VPN's `gw` and `mn`:
    /// how ESP is received. "raw" (default): raw protocol-50 sockets;
    /// "af_xdp": an XDP program on `xdp_interfaces` steers ESP for our
    /// inbound SPIs to AF_XDP sockets, failing to set that up is an error;
    /// "auto": the same, falling back to "raw" with a warning. Sending
    /// stays on the raw socket.
    #[serde(default)]
    pub host_datapath: HostDatapath,
    /// Interfaces `host_datapath` attaches to; default: `[vpn.mn]
    /// interfaces` when set, else every Ethernet interface that is up
    /// (the TUN device and loopback aside).
    #[serde(default)]
    pub xdp_interfaces: Vec<String>,
    /// AF_XDP workers (one per receive queue); default: the LAN/WAN
    /// interfaces' receive queue count.
    pub xdp_queues: Option<u32>,
    /// Proxy role (`[hip] role = "proxy"`): bound on the translator's
    /// flows (legacy host 5-tuples toward HIP hosts); a full table drops
    /// new flows (counted), existing ones go on.
    #[serde(default = "default_proxy_max_flows")]
    pub proxy_max_flows: usize,
    /// Packets sent on an outbound SA before the daemon rekeys it (HIP
    /// UPDATE, RFC 7402 §6.9): well before the 2^32-1 sequence numbers
    /// run out (RFC 4303 §3.3.3). Default 2^32 - 2^24.
    #[serde(default = "default_rekey_after_packets")]
    pub rekey_after_packets: u64,
    /// Where those rekeys take their new keys: `"new_dh"` (a new
    /// Diffie-Hellman in the UPDATEs, RFC 7402 §6.8; the default) or
    /// `"keymat"` (drawn further from the current KEYMAT).
    #[serde(default)]
    pub rekey_keying: RekeyKeyingName,
}

/// `[esp] rekey_keying`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RekeyKeyingName {
    #[default]
    NewDh,
    Keymat,
}

impl RekeyKeyingName {
    pub fn keying(self) -> proxy_proto::hip::assoc::RekeyKeying {
        match self {
            RekeyKeyingName::NewDh => proxy_proto::hip::assoc::RekeyKeying::NewDh,
            RekeyKeyingName::Keymat => proxy_proto::hip::assoc::RekeyKeying::Keymat,
        }
    }
}

fn default_rekey_after_packets() -> u64 {
    u64::from(proxy_proto::esp::sa::DEFAULT_SOFT_LIMIT)
}

/// The largest `rekey_after_packets`: the last sequence number before the
/// hard limit.
pub const MAX_REKEY_AFTER_PACKETS: u64 = u32::MAX as u64 - 1;

fn default_proxy_max_flows() -> usize {
    65536
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EspDatapath {
    #[default]
    Auto,
    AfXdp,
    Tun,
}

/// `[esp] host_datapath`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HostDatapath {
    Auto,
    AfXdp,
    #[default]
    Raw,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum XdpBind {
    #[default]
    Auto,
    Copy,
    Zerocopy,
}

fn default_tun_mtu() -> u32 {
    1400
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatapathSection {
    /// LAN-facing interface (legacy hosts).
    pub lan: String,
    /// WAN-facing interface (peers); may be the same as `lan`.
    pub wan: String,
    /// bpffs directory where the maps are pinned.
    #[serde(default = "default_pin_dir")]
    pub pin_dir: PathBuf,
    /// Forward straight from XDP (FIB lookup + redirect) instead of via
    /// the kernel's forwarding path.
    #[serde(default = "yes")]
    pub redirect: bool,
    /// Let the daemon set ip_forward / IPv6 forwarding and accept_local on
    /// its interfaces (see docs/DATAPATH.md); each change is logged.
    #[serde(default = "yes")]
    pub manage_sysctls: bool,
    /// XDP attach mode: "native" (driver), "skb" (generic) or "auto".
    #[serde(default)]
    pub xdp_mode: XdpMode,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    #[default]
    Auto,
    Native,
    Skb,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatSection {
    /// The proxy's own address toward IPv4 peers (translated source).
    pub wan_v4: Option<Ipv4Addr>,
    /// The proxy's own address toward IPv6 peers.
    pub wan_v6: Option<Ipv6Addr>,
    /// Proxy ports for translated flows. Keep them outside the kernel's
    /// `ip_local_port_range` (default 32768-60999) so the proxy's own
    /// connections never collide with translated ones.
    pub port_min: u16,
    pub port_max: u16,
    /// Idle timeouts, seconds (RFC 5382 §5: established TCP >= 2h4m;
    /// RFC 4787 REQ-5: UDP >= 2 min, 5 min recommended).
    pub tcp_established_secs: u64,
    pub tcp_transitory_secs: u64,
    pub tcp_closed_secs: u64,
    pub udp_secs: u64,
    pub icmp_secs: u64,
    /// How often the garbage collector walks the flow table.
    pub gc_interval_secs: u64,
}

impl Default for NatSection {
    fn default() -> Self {
        NatSection {
            wan_v4: None,
            wan_v6: None,
            port_min: 61000,
            port_max: 65535,
            tcp_established_secs: 7440,
            tcp_transitory_secs: 240,
            tcp_closed_secs: 10,
            udp_secs: 300,
            icmp_secs: 60,
            gc_interval_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// IPv4 substitute addresses, e.g. "100.64.0.0/16".
    pub v4: Option<Prefix>,
    /// IPv6 substitute addresses, e.g. "fd00:64::/96".
    pub v6: Option<Prefix>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Unix socket the CLI talks to.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection { socket: default_socket() }
    }
}

/// The proxy answers the LAN's DNS queries itself: names with a HIP RR
/// (RFC 8005) get a substitute address from the pool, mapped in the
/// datapath to the HIP host's address; other names pass through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Where legacy hosts send their queries (UDP and TCP), e.g. "10.1.0.1:53".
    pub listen: std::net::SocketAddr,
    /// The upstream resolver.
    pub upstream: std::net::SocketAddr,
    /// Names without HIP RR: "pass" the upstream answer or "refuse".
    #[serde(default = "default_non_hip")]
    pub non_hip: String,
    /// Upper bound of the TTL of substitute answers, seconds.
    #[serde(default = "default_max_ttl")]
    pub max_ttl: u32,
    /// A second address to listen on, of the other family than `listen`
    /// (dual-stack LANs), e.g. "[fd01::1]:53".
    pub listen_v6: Option<std::net::SocketAddr>,
    /// Steer the LAN's queries to any resolver address (UDP and TCP port
    /// 53 arriving on `[datapath] lan`) to this resolver; the answers go
    /// back from the address the legacy host asked (TC programs on the LAN
    /// interface). Needs concrete listen addresses.
    #[serde(default)]
    pub intercept: bool,
    /// Shortest life of a substitute mapping, whatever the TTL, seconds: a
    /// TTL of 0 must not free the substitute before the host connects.
    #[serde(default = "default_min_mapping_secs")]
    pub min_mapping_secs: u64,
    /// How long an upstream query may take before the client gets
    /// SERVFAIL, milliseconds.
    #[serde(default = "default_upstream_timeout_ms")]
    pub upstream_timeout_ms: u64,
    /// A/AAAA answers kept for their TTL (substitute answers only while
    /// their mapping lives), at most this many; 0: every query goes
    /// upstream.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    /// Static host table (`[[dns.host]]`): answered by the proxy itself,
    /// no upstream query.
    #[serde(default, rename = "host")]
    pub hosts: Vec<DnsHost>,
}

/// One entry of the static host table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsHost {
    /// The name, e.g. "hip-host.example".
    pub name: String,
    /// The host's HIP RR in RFC 8005 §6 presentation form: "ALG HIT KEY
    /// [RVS ...]", e.g. "2 2001001... AwEAA... rvs.example.", as in a zone
    /// file. Gives the HIT, the Host Identity and the rendezvous servers.
    pub hip_rr: String,
    /// The host's own addresses (locators).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Addresses of the rendezvous servers the RR names.
    #[serde(default)]
    pub rendezvous: Vec<DnsRendezvous>,
    /// TTL of the answers, seconds (bounded by `max_ttl`).
    #[serde(default = "default_max_ttl")]
    pub ttl: u32,
}

/// A rendezvous server of a static host and its addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRendezvous {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

fn default_cache_size() -> usize {
    10_000
}

fn default_min_mapping_secs() -> u64 {
    60
}

fn default_upstream_timeout_ms() -> u64 {
    5000
}

fn default_non_hip() -> String {
    "pass".into()
}

fn default_max_ttl() -> u32 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMapping {
    pub substitute: IpAddr,
    pub peer: IpAddr,
}

pub const DEFAULT_SOCKET: &str = "/run/hipproxy/proxy.sock";

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

fn default_pin_dir() -> PathBuf {
    PathBuf::from("/sys/fs/bpf/hipproxy")
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("config {path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        cfg.validate().map_err(|what| ConfigError::Invalid { path: path.into(), what })?;
        Ok(cfg)
    }

    /// The `[datapath]` section, or an error naming it for features that need it.
    pub fn datapath_section(&self) -> Result<&DatapathSection, String> {
        self.datapath.as_ref().ok_or_else(|| "no [datapath] section: this daemon runs no XDP datapath".into())
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(p) = self.scheduling.realtime_priority
            && !(1..=crate::sched::MAX_PRIORITY).contains(&p)
        {
            return Err(format!("[scheduling] realtime_priority = {p}: expected 1..=99"));
        }
        let n = &self.nat;
        if self.datapath.is_some() && n.wan_v4.is_none() && n.wan_v6.is_none() {
            return Err("[nat] needs wan_v4 and/or wan_v6: the proxy's own address toward peers".into());
        }
        if n.port_min == 0 || n.port_min > n.port_max {
            return Err(format!(
                "[nat] port_min {} / port_max {}: need 1 <= port_min <= port_max",
                n.port_min, n.port_max
            ));
        }
        if n.gc_interval_secs == 0 {
            return Err("[nat] gc_interval_secs must be at least 1".into());
        }
        if let Some(p) = &self.pool.v4
            && !p.addr.is_ipv4()
        {
            return Err(format!("[pool] v4 = {p} is not an IPv4 prefix"));
        }
        if let Some(p) = &self.pool.v6
            && !p.addr.is_ipv6()
        {
            return Err(format!("[pool] v6 = {p} is not an IPv6 prefix"));
        }
        if let Some(d) = &self.dns
            && d.non_hip != "pass"
            && d.non_hip != "refuse"
        {
            return Err(format!("[dns] non_hip = {:?}: expected \"pass\" or \"refuse\"", d.non_hip));
        }
        if let Some(d) = &self.dns {
            validate_dns(d)?;
        }
        if self.dns.is_some() && self.datapath.is_none() {
            return Err("[dns] needs a [datapath] to map substitute addresses".into());
        }
        if self.dns.is_some() && self.pool.v4.is_none() && self.pool.v6.is_none() {
            return Err("[dns] needs a [pool] to hand out substitute addresses".into());
        }
        if let Some(h) = &self.hip {
            h.validate()?;
        }
        if self.pool.v4.is_some() && n.wan_v4.is_none() {
            return Err("[pool] v4 is set but [nat] wan_v4 is not".into());
        }
        if self.pool.v6.is_some() && n.wan_v6.is_none() {
            return Err("[pool] v6 is set but [nat] wan_v6 is not".into());
        }
        if let Some(v) = &self.vpn {
            v.validate()?;
            v.validate_hip(self.hip.as_ref())?;
        }
        self.validate_esp()
    }

    fn validate_esp(&self) -> Result<(), String> {
        if !self.sas.is_empty() && self.esp.is_none() {
            return Err("[[sa]] needs an [esp] section".into());
        }
        for (i, sa) in self.sas.iter().enumerate() {
            sa.validate().map_err(|e| format!("[[sa]] #{}: {e}", i + 1))?;
        }
        let Some(e) = &self.esp else { return Ok(()) };
        if !(576..=1900).contains(&e.tun_mtu) {
            return Err(format!("[esp] tun_mtu = {}: expected 576..=1900", e.tun_mtu));
        }
        for a in &e.tun_addrs {
            let ok = a.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<IpAddr>()
                    .is_ok_and(|ip| len.parse::<u8>().is_ok_and(|l| l <= if ip.is_ipv4() { 32 } else { 128 }))
            });
            if !ok {
                return Err(format!("[esp] tun_addrs: {a:?} is not ADDRESS/LENGTH"));
            }
        }
        if e.tun.is_none() && (!e.tun_addrs.is_empty() || !e.tun_routes.is_empty()) {
            return Err("[esp] tun_addrs / tun_routes need tun".into());
        }
        if let Some(q) = e.xdp_queues
            && !(1..=crate::esp::afxdp::WAN_SLOT).contains(&q)
        {
            return Err(format!("[esp] xdp_queues = {q}: expected 1..={}", crate::esp::afxdp::WAN_SLOT));
        }
        // The VPN's gateway and node run the host data path on their own
        // TUN device ([vpn.gw] / [vpn.mn] tun).
        let vpn_path = self.vpn.as_ref().is_some_and(crate::vpn::config::VpnSection::runs_esp_path);
        if e.host_datapath != HostDatapath::Raw && e.tun.is_none() && !vpn_path {
            return Err("[esp] host_datapath: the AF_XDP receive path is the host data path's, it needs tun \
                        (or the [vpn.gw] / [vpn.mn] role)"
                .into());
        }
        if e.datapath == EspDatapath::AfXdp {
            match &self.datapath {
                None => return Err("[esp] datapath = \"af_xdp\" needs a [datapath] section (lan, wan)".into()),
                Some(d) if d.lan == d.wan => {
                    return Err("[esp] datapath = \"af_xdp\" needs distinct [datapath] lan and wan interfaces".into());
                }
                _ => {}
            }
        }
        if self.hip.as_ref().is_some_and(|h| h.role == crate::hip::HipRole::Proxy) {
            if e.tun.is_none() {
                return Err("[esp] tun: the proxy role (`[hip] role = \"proxy\"`) needs a TUN device \
                            for the substitute pools"
                    .into());
            }
            if self.pool.v4.is_none() && self.pool.v6.is_none() {
                return Err("[esp] with `[hip] role = \"proxy\"` needs a [pool] of substitute addresses".into());
            }
        }
        if !(1..=MAX_REKEY_AFTER_PACKETS).contains(&e.rekey_after_packets) {
            return Err(format!(
                "[esp] rekey_after_packets = {}: expected 1..={MAX_REKEY_AFTER_PACKETS}",
                e.rekey_after_packets
            ));
        }
        if e.proxy_max_flows == 0 {
            return Err("[esp] proxy_max_flows must be at least 1".into());
        }
        Ok(())
    }
}

fn validate_dns(d: &DnsSection) -> Result<(), String> {
    if let Some(v6) = d.listen_v6
        && (!v6.is_ipv6() || d.listen.is_ipv6())
    {
        return Err(format!("[dns] listen_v6 = {v6}: needs an IPv6 address with an IPv4 `listen`"));
    }
    if d.intercept {
        for a in std::iter::once(d.listen).chain(d.listen_v6) {
            if a.ip().is_unspecified() {
                return Err(format!("[dns] intercept needs a concrete listen address, not {a}"));
            }
        }
    }
    if d.upstream_timeout_ms == 0 {
        return Err("[dns] upstream_timeout_ms must be at least 1".into());
    }
    for (i, h) in d.hosts.iter().enumerate() {
        crate::dns_hosts::static_host(h).map_err(|e| format!("[[dns.host]] #{} ({}): {e}", i + 1, h.name))?;
    }
    Ok(())
}

/// A complete configuration for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod test_support {
    pub const SAMPLE: &str = r#"
        [datapath]
        lan = "eth0"
        wan = "eth1"
        [nat]
        wan_v4 = "192.0.2.1"
        wan_v6 = "2001:db8::1"
        port_min = 61000
        port_max = 65535
        tcp_established_secs = 7440
        tcp_transitory_secs = 240
        tcp_closed_secs = 10
        udp_secs = 300
        icmp_secs = 60
        gc_interval_secs = 5
        [pool]
        v4 = "100.64.0.0/24"
        v6 = "fd00:64::/96"
        [[mapping]]
        substitute = "100.64.0.1"
        peer = "198.51.100.7"
    "#;
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_support::SAMPLE as GOOD;

    #[test]
    fn realtime_priority_must_be_a_sched_fifo_priority() {
        let with = |p: &str| Config::parse(&format!("[scheduling]\nrealtime_priority = {p}\n"), Path::new("t"));
        assert_eq!(with("10").unwrap().scheduling.realtime_priority, Some(10));
        for bad in ["0", "100"] {
            let e = with(bad).unwrap_err().to_string() + &format!("{:?}", with(bad).unwrap_err());
            assert!(e.contains("expected 1..=99"), "{bad}: {e}");
        }
        assert!(with("300").is_err(), "not a u8");
        assert!(Config::parse("[scheduling]\nrealtime = 5\n", Path::new("t")).is_err(), "unknown key");
        assert_eq!(Config::parse("", Path::new("t")).unwrap().scheduling.realtime_priority, None);
    }

    #[test]
    fn dns_section() {
        let with = |d: &str| Config::parse(&format!("{GOOD}\n[dns]\n{d}"), Path::new("t"));
        let c = with("listen = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"").unwrap();
        let d = c.dns.unwrap();
        assert_eq!((d.non_hip.as_str(), d.max_ttl), ("pass", 300));
        let e = with("listen = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"\nnon_hip = \"drop\"").unwrap_err();
        assert!(e.to_string().contains("non_hip"), "{e}");
        let e = with("listen = \"10.1.0.1\"\nupstream = \"192.0.2.53:53\"").unwrap_err();
        assert!(format!("{:#}", anyhow::Error::from(e)).contains("listen"));
        let e = with("listen = \"0.0.0.0:53\"\nupstream = \"192.0.2.53:53\"\nintercept = true").unwrap_err();
        assert!(e.to_string().contains("intercept"), "{e}");
        let e =
            with("listen = \"10.1.0.1:53\"\nlisten_v6 = \"10.1.0.2:53\"\nupstream = \"192.0.2.53:53\"").unwrap_err();
        assert!(e.to_string().contains("listen_v6"), "{e}");
        let c = with(
            "listen = \"10.1.0.1:53\"\nlisten_v6 = \"[fd01::1]:53\"\nupstream = \"192.0.2.53:53\"\nintercept = true",
        )
        .unwrap();
        assert!(c.dns.unwrap().intercept);
        let e = with("listen = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"\n[[dns.host]]\nname = \"a.example\"\nhip_rr = \"2 00 AA\"")
            .unwrap_err();
        assert!(e.to_string().contains("[[dns.host]] #1 (a.example)"), "{e}");
    }

    #[test]
    fn datapath_is_optional() {
        let c = Config::parse("[control]\nsocket = \"/tmp/x.sock\"\n", Path::new("t")).unwrap();
        assert!(c.datapath.is_none());
        assert!(c.datapath_section().unwrap_err().contains("[datapath]"));
        let e = Config::parse("[dns]\nlisten = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"\n", Path::new("t"));
        assert!(e.unwrap_err().to_string().contains("[datapath]"));
    }

    #[test]
    fn esp_section_and_static_sas() {
        let sa = r#"
            [[sa]]
            spi = 0x1001
            direction = "out"
            key = "000102030405060708090a0b0c0d0e0f10111213"
            local = "192.0.2.1"
            peer = "192.0.2.2"
            inner_local = "2001:20::1"
            inner_peer = "2001:20::2"
        "#;
        let esp = "[esp]\ntun = \"hip0\"\ntun_addrs = [\"2001:20::1/28\"]\n";
        let c = Config::parse(&format!("{esp}{sa}"), Path::new("t")).unwrap();
        assert_eq!((c.sas.len(), c.esp.unwrap().tun_mtu), (1, 1400));
        let e = Config::parse(sa, Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("[esp]"), "{e}");
        let e = Config::parse(&format!("{esp}{}", sa.replace("0x1001", "7")), Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("[[sa]] #1: spi 7"), "{e}");
        let e = Config::parse(&esp.replace("/28", ""), Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("tun_addrs"), "{e}");
        let e = Config::parse("[esp]\nxdp_queues = 0\n", Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("xdp_queues"), "{e}");
        let e = Config::parse("[esp]\ndatapath = \"af_xdp\"\n", Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("[datapath]"), "{e}");
        let e = Config::parse("[esp]\ndatapath = \"fast\"\n", Path::new("t")).unwrap_err();
        let e = format!("{:#}", anyhow::Error::from(e));
        assert!(e.contains("af_xdp"), "{e}");
        let c = Config::parse("[esp]\ndatapath = \"tun\"\nxdp_bind = \"copy\"\n", Path::new("t")).unwrap();
        assert_eq!(c.esp.map(|e| (e.datapath, e.xdp_bind)), Some((EspDatapath::Tun, XdpBind::Copy)));
        let c = Config::parse(&format!("{esp}host_datapath = \"af_xdp\"\nxdp_interfaces = [\"e0\"]\n"), Path::new("t"));
        let e = c.unwrap().esp.unwrap();
        assert_eq!((e.host_datapath, e.xdp_interfaces), (HostDatapath::AfXdp, vec!["e0".to_string()]));
        let e = Config::parse("[esp]\nhost_datapath = \"auto\"\n", Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("needs tun"), "{e}");
        // The VPN's node runs the host data path on its own TUN device.
        let (k20, k32) = ("ab".repeat(20), "cd".repeat(32));
        let mn = format!(
            "[vpn.mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\n\
             routes = [\"10.1.0.0/16\"]\nspi_in = 8192\nspi_out = 4096\nkey_in = \"{k20}\"\nkey_out = \"{k20}\"\n\
             mn_ha_spi = 2147483664\nmn_ha_key = \"{k32}\"\n"
        );
        let c = Config::parse(&format!("[esp]\nhost_datapath = \"af_xdp\"\n{mn}"), Path::new("t"));
        assert_eq!(c.map(|c| c.esp.unwrap().host_datapath).map_err(|e| e.to_string()), Ok(HostDatapath::AfXdp));
        assert_eq!(Config::parse(esp, Path::new("t")).unwrap().esp.unwrap().host_datapath, HostDatapath::Raw);
        let c = Config::parse("[esp]\nrekey_after_packets = 2000\n", Path::new("t")).unwrap();
        assert_eq!(c.esp.map(|e| (e.rekey_after_packets, e.rekey_keying)), Some((2000, RekeyKeyingName::NewDh)));
        let c = Config::parse("[esp]\nrekey_keying = \"keymat\"\n", Path::new("t")).unwrap();
        assert_eq!(c.esp.map(|e| e.rekey_keying), Some(RekeyKeyingName::Keymat));
        assert!(Config::parse("[esp]\nrekey_keying = \"dh\"\n", Path::new("t")).is_err());
        let c = Config::parse("[esp]\n", Path::new("t")).unwrap();
        assert_eq!(c.esp.map(|e| e.rekey_after_packets), Some(u64::from(u32::MAX - (1 << 24))));
        for bad in ["0", "4294967295"] {
            let e = Config::parse(&format!("[esp]\nrekey_after_packets = {bad}\n"), Path::new("t")).unwrap_err();
            assert!(e.to_string().contains("rekey_after_packets"), "{e}");
        }
        let e = Config::parse("[esp]\ntun_mtu = 100\n", Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("tun_mtu"), "{e}");
    }

    #[test]
    fn proxy_role_esp_needs_tun_and_pool() {
        let hip = "[hip]\nrole = \"proxy\"\nidentities = [\"/x.pem\"]\n";
        let e = Config::parse(&format!("{hip}[esp]\n"), Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("[esp] tun") && e.contains("proxy"), "{e}");
        let e = Config::parse(&format!("{hip}[esp]\ntun = \"hipp0\"\n"), Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("[pool]"), "{e}");
        let ok =
            format!("{hip}[esp]\ntun = \"hipp0\"\n[pool]\nv6 = \"fd00:64::/96\"\n[nat]\nwan_v6 = \"2001:db8::1\"\n");
        let c = Config::parse(&ok, Path::new("t")).unwrap();
        assert_eq!(c.esp.as_ref().unwrap().proxy_max_flows, 65536);
        let zero = ok.replace("tun = \"hipp0\"", "tun = \"hipp0\"\nproxy_max_flows = 0");
        let e = Config::parse(&zero, Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("proxy_max_flows"), "{e}");
        // The host role needs no pool.
        let host = "[hip]\nidentities = [\"/x.pem\"]\n[esp]\ntun = \"hip0\"\n";
        assert!(Config::parse(host, Path::new("t")).is_ok());
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c =
            Config::parse("[datapath]\nlan = \"a\"\nwan = \"a\"\n[nat]\nwan_v6 = \"2001:db8::1\"\n", Path::new("t"))
                .unwrap();
        assert_eq!((c.nat.port_min, c.nat.port_max, c.nat.udp_secs), (61000, 65535, 300));
    }

    #[test]
    fn parses_and_defaults() {
        let c = Config::parse(GOOD, Path::new("t.toml")).unwrap();
        let d = c.datapath.as_ref().unwrap();
        assert_eq!(d.pin_dir, PathBuf::from("/sys/fs/bpf/hipproxy"));
        assert!(d.redirect);
        assert_eq!(c.mappings.len(), 1);
        assert_eq!(c.control.socket, PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn rejects_bad_input_with_the_key_named() {
        let full = |e: ConfigError| format!("{:#}", anyhow::Error::from(e));
        let bad = GOOD.replace("port_min = 61000", "port_min = 70000");
        assert!(full(Config::parse(&bad, Path::new("t.toml")).unwrap_err()).contains("port_min"));
        let bad = GOOD.replace("lan = \"eth0\"", "lan = \"eth0\"\nfrobnicate = 1");
        assert!(full(Config::parse(&bad, Path::new("t.toml")).unwrap_err()).contains("frobnicate"));
        let bad = GOOD.replace("v4 = \"100.64.0.0/24\"", "v4 = \"fd00::/64\"");
        assert!(Config::parse(&bad, Path::new("t.toml")).unwrap_err().to_string().contains("not an IPv4"));
        let bad = GOOD.replace("wan_v4 = \"192.0.2.1\"", "");
        assert!(Config::parse(&bad, Path::new("t.toml")).unwrap_err().to_string().contains("wan_v4"));
    }
}
