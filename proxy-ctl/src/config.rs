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
    /// Static mappings installed at start-up (pass-through mode).
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<StaticMapping>,
    /// The mobile-VPN roles: `[vpn.ha]`, `[vpn.gw]` or `[vpn.mn]`.
    pub vpn: Option<crate::vpn::config::VpnSection>,
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
        if self.dns.is_some() && self.datapath.is_none() {
            return Err("[dns] needs a [datapath] to map substitute addresses".into());
        }
        if self.dns.is_some() && self.pool.v4.is_none() && self.pool.v6.is_none() {
            return Err("[dns] needs a [pool] to hand out substitute addresses".into());
        }
        if self.pool.v4.is_some() && n.wan_v4.is_none() {
            return Err("[pool] v4 is set but [nat] wan_v4 is not".into());
        }
        if self.pool.v6.is_some() && n.wan_v6.is_none() {
            return Err("[pool] v6 is set but [nat] wan_v6 is not".into());
        }
        if let Some(v) = &self.vpn {
            v.validate()?;
        }
        Ok(())
    }
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
    fn dns_section() {
        let with = |d: &str| Config::parse(&format!("{GOOD}\n[dns]\n{d}"), Path::new("t"));
        let c = with("listen = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"").unwrap();
        let d = c.dns.unwrap();
        assert_eq!((d.non_hip.as_str(), d.max_ttl), ("pass", 300));
        let e = with("listen = \"10.1.0.1:53\"\nupstream = \"192.0.2.53:53\"\nnon_hip = \"drop\"").unwrap_err();
        assert!(e.to_string().contains("non_hip"), "{e}");
        let e = with("listen = \"10.1.0.1\"\nupstream = \"192.0.2.53:53\"").unwrap_err();
        assert!(format!("{:#}", anyhow::Error::from(e)).contains("listen"));
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
