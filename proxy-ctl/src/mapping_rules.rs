//! What makes a substitute-address mapping acceptable (pure: unit-tested
//! without a datapath).

use std::net::IpAddr;

use crate::config::Config;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("{0} is not in a substitute pool (configured: {1})")]
    OutsidePool(IpAddr, String),
    #[error("substitute {substitute} and peer {peer} are of different IP families (no NAT46/64 in pass-through mode)")]
    FamilyMismatch { substitute: IpAddr, peer: IpAddr },
    #[error("{0} already has a mapping (delete it first)")]
    Duplicate(IpAddr),
    #[error("no mapping for {0}")]
    NotFound(IpAddr),
    #[error("the mapping table is full ({0} entries)")]
    TableFull(u32),
    #[error("peer {0} is not a usable unicast address")]
    BadPeer(IpAddr),
    #[error("the proxy has no WAN address for {0} peers ([nat] wan_v4 / wan_v6)")]
    NoWanAddress(&'static str),
}

/// Whether a mapping to `peer` is a HIP mapping: the peer is a HIT
/// (ORCHIDv2, RFC 7343) and the proxy's ESP path runs (`[hip] role =
/// "proxy"` with `[esp]`), which translates any substitute family onto it.
pub fn is_hip_mapping(cfg: &Config, peer: IpAddr) -> bool {
    let proxy_esp = cfg.esp.is_some() && cfg.hip.as_ref().is_some_and(|h| h.role == crate::hip::HipRole::Proxy);
    proxy_esp && matches!(peer, IpAddr::V6(h) if proxy_proto::hip::crypto::Hit::from(h).is_orchid())
}

pub fn check_new(cfg: &Config, substitute: IpAddr, peer: IpAddr) -> Result<(), MappingError> {
    let pool = if substitute.is_ipv4() { cfg.pool.v4 } else { cfg.pool.v6 };
    if !pool.is_some_and(|p| p.contains(substitute)) {
        let configured: Vec<String> = [cfg.pool.v4, cfg.pool.v6].iter().flatten().map(|p| p.to_string()).collect();
        let configured = if configured.is_empty() { "none".to_owned() } else { configured.join(", ") };
        return Err(MappingError::OutsidePool(substitute, configured));
    }
    if is_hip_mapping(cfg, peer) {
        return Ok(());
    }
    if substitute.is_ipv4() != peer.is_ipv4() {
        return Err(MappingError::FamilyMismatch { substitute, peer });
    }
    if peer.is_unspecified() || peer.is_multicast() || peer.is_loopback() {
        return Err(MappingError::BadPeer(peer));
    }
    if let IpAddr::V4(v4) = peer
        && v4.is_broadcast()
    {
        return Err(MappingError::BadPeer(peer));
    }
    match peer {
        IpAddr::V4(_) if cfg.nat.wan_v4.is_none() => Err(MappingError::NoWanAddress("IPv4")),
        IpAddr::V6(_) if cfg.nat.wan_v6.is_none() => Err(MappingError::NoWanAddress("IPv6")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(crate::config::test_support::SAMPLE, Path::new("t")).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn accepts_in_pool_same_family() {
        assert_eq!(check_new(&cfg(), ip("100.64.0.9"), ip("198.51.100.1")), Ok(()));
        assert_eq!(check_new(&cfg(), ip("fd00:64::9"), ip("2001:db8:1::1")), Ok(()));
    }

    #[test]
    fn rejects_with_a_reason() {
        let c = cfg();
        assert!(matches!(check_new(&c, ip("100.64.1.9"), ip("198.51.100.1")), Err(MappingError::OutsidePool(..))));
        assert!(matches!(check_new(&c, ip("100.64.0.9"), ip("2001:db8::5")), Err(MappingError::FamilyMismatch { .. })));
        assert_eq!(check_new(&c, ip("100.64.0.9"), ip("0.0.0.0")), Err(MappingError::BadPeer(ip("0.0.0.0"))));
        assert_eq!(check_new(&c, ip("100.64.0.9"), ip("224.0.0.1")), Err(MappingError::BadPeer(ip("224.0.0.1"))));
        let msg = check_new(&c, ip("10.0.0.1"), ip("198.51.100.1")).unwrap_err().to_string();
        assert!(msg.contains("100.64.0.0/24") && msg.contains("fd00:64::/96"), "{msg}");
    }

    /// A HIT as peer: a HIP mapping (any substitute family) only when the
    /// proxy's ESP path runs; otherwise the usual family rule.
    #[test]
    fn hit_peer_is_a_hip_mapping_with_the_proxy_esp_path() {
        let hit = ip("2001:22:ac91:592b:269b:501e:c50d:88f2");
        assert!(!is_hip_mapping(&cfg(), hit));
        assert!(matches!(check_new(&cfg(), ip("100.64.0.9"), hit), Err(MappingError::FamilyMismatch { .. })));
        let text = format!(
            "{}\n[hip]\nrole = \"proxy\"\nidentities = [\"/x.pem\"]\n[esp]\ntun = \"hipp0\"\n",
            crate::config::test_support::SAMPLE
        );
        let c = Config::parse(&text, Path::new("t")).unwrap();
        assert!(is_hip_mapping(&c, hit));
        assert!(!is_hip_mapping(&c, ip("2001:db8::5")), "not an ORCHID");
        assert_eq!(check_new(&c, ip("100.64.0.9"), hit), Ok(()));
        assert!(matches!(check_new(&c, ip("10.0.0.1"), hit), Err(MappingError::OutsidePool(..))));
    }
}
