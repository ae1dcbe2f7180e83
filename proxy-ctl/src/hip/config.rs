//! The `[hip]` section: which identities, which role, what to offer, how
//! patient to be, and a static table of peers (HIT -> locators).

use std::{
    net::{IpAddr, Ipv6Addr},
    path::PathBuf,
    time::Duration,
};

use proxy_proto::esp::Transform;
use proxy_proto::hip::assoc::registration::lifetime_value;
use proxy_proto::hip::assoc::{CreditConfig, HostConfig, RegistrarConfig};
use proxy_proto::hip::crypto::{DhGroupId, DhGroupPreference, HipCipher, Hit};
use serde::Deserialize;

/// What the daemon does with HIP.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HipRole {
    /// A native HIP host: Responder and Initiator for its own HIT.
    #[default]
    Host,
    /// The proxy: Initiator on behalf of legacy hosts; does not answer I1s.
    Proxy,
    /// A rendezvous server (RFC 8004): a host that also accepts
    /// registrations (RFC 8003) and relays I1s to registered HITs.
    Rvs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HipSection {
    #[serde(default)]
    pub role: HipRole,
    /// Private key files (PKCS#8 PEM, `proxy-ctl identity new`); the
    /// first one initiates.
    pub identities: Vec<PathBuf>,
    /// Our own addresses (locators). Empty: the kernel's source address
    /// selection toward each peer.
    #[serde(default)]
    pub locators: Vec<IpAddr>,
    /// Puzzle difficulty #K of our R1s (RFC 7401 §4.1.2).
    #[serde(default = "d_k")]
    pub puzzle_k: u8,
    /// #K while more than `load_threshold` I1s arrive per second.
    #[serde(default = "d_k_load")]
    pub puzzle_k_under_load: u8,
    #[serde(default = "d_load")]
    pub load_threshold: u32,
    /// Hardest puzzle we solve as Initiator.
    #[serde(default = "d_max_k")]
    pub max_puzzle_k: u8,
    /// New R1 generation (R1_COUNTER) every this many seconds.
    #[serde(default = "d_rotate")]
    pub r1_rotate_secs: u64,
    /// First retransmission of I1/I2/CLOSE, doubled each time.
    #[serde(default = "d_rexmit")]
    pub retransmit_ms: u64,
    #[serde(default = "d_max_rexmit")]
    pub max_retransmits: u32,
    /// DH group IDs in order of preference (RFC 7401 §5.2.7; 7 = P-256,
    /// 8 = P-384, 9 = P-521, 3 = MODP-1536, 11 = MODP-2048, 4 = MODP-3072).
    #[serde(default)]
    pub dh_groups: Option<Vec<u8>>,
    /// HIP_CIPHER IDs (1 = NULL, 2 = AES-128-CBC, 4 = AES-256-CBC).
    #[serde(default)]
    pub hip_ciphers: Option<Vec<u16>>,
    /// ESP transform suite IDs (RFC 7402: 13 = AES-128-GCM, 8 = AES-128-CBC
    /// + HMAC-SHA-256, 9 = AES-256-CBC + HMAC-SHA-256, 7 = NULL + HMAC-SHA-256).
    #[serde(default)]
    pub esp_transforms: Option<Vec<u16>>,
    /// Only these peer HITs may associate (absent: anyone).
    #[serde(default)]
    pub allowed_peers: Option<Vec<Ipv6Addr>>,
    /// How long `assoc connect` waits for ESTABLISHED.
    #[serde(default = "d_connect")]
    pub connect_timeout_secs: u64,
    /// Static peer table.
    #[serde(default, rename = "peer")]
    pub peers: Vec<HipPeer>,
    /// `rvs` role: HITs that may register (absent: any host that
    /// completes a base exchange; list them in production).
    #[serde(default)]
    pub rvs_allowed: Option<Vec<Ipv6Addr>>,
    /// `rvs` role: shortest and longest registration lifetime granted, seconds.
    #[serde(default = "d_rvs_min")]
    pub rvs_min_lifetime_secs: u64,
    #[serde(default = "d_rvs_max")]
    pub rvs_max_lifetime_secs: u64,
    /// `host` role: register with this rendezvous server at start.
    #[serde(default)]
    pub rendezvous: Option<Rendezvous>,
    /// `host` role: what to do when our addresses change (rtnetlink).
    #[serde(default)]
    pub mobility: Mobility,
    /// Credit-based authorization (RFC 8046 §3.3.2, §5.5): when a peer
    /// announces a new locator, send it data there while the address
    /// check runs, up to the bytes it sent us recently (aged by 7/8 every
    /// 5 s). Off: no data to a locator before its echo verifies.
    #[serde(default)]
    pub credit_based_authorization: bool,
}

/// How a `host` follows its own address changes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mobility {
    /// UPDATE with LOCATOR_SET to every peer and the RVS (RFC 8046).
    #[default]
    Update,
    /// A fresh base exchange from the new address (what a host without
    /// mobility support does; the `move` benchmark's reference).
    Rebex,
    /// Do nothing.
    Off,
}

/// `[hip.rendezvous]`: the rendezvous server a host registers with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rendezvous {
    /// Its HIT.
    pub hit: Ipv6Addr,
    /// Its address.
    pub address: IpAddr,
    /// The registration lifetime to ask for, seconds (RFC 8003 §4.1).
    #[serde(default = "d_reg_lifetime")]
    pub lifetime_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HipPeer {
    pub hit: Ipv6Addr,
    pub locators: Vec<IpAddr>,
}

fn d_k() -> u8 {
    1
}
fn d_k_load() -> u8 {
    10
}
fn d_load() -> u32 {
    100
}
fn d_max_k() -> u8 {
    28
}
fn d_rotate() -> u64 {
    60
}
fn d_rexmit() -> u64 {
    500
}
fn d_max_rexmit() -> u32 {
    5
}
fn d_connect() -> u64 {
    10
}
fn d_rvs_min() -> u64 {
    16
}
fn d_rvs_max() -> u64 {
    3600
}
fn d_reg_lifetime() -> u64 {
    600
}

impl HipSection {
    /// Check what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.identities.is_empty() {
            return Err("[hip] identities: at least one key file is needed (proxy-ctl identity new)".into());
        }
        if self.puzzle_k > self.max_puzzle_k {
            return Err(format!("[hip] puzzle_k {} exceeds max_puzzle_k {}", self.puzzle_k, self.max_puzzle_k));
        }
        if self.retransmit_ms == 0 || self.r1_rotate_secs == 0 {
            return Err("[hip] retransmit_ms and r1_rotate_secs must be at least 1".into());
        }
        self.host_config()?;
        if self.role == HipRole::Rvs && self.rvs_min_lifetime_secs > self.rvs_max_lifetime_secs {
            return Err(format!(
                "[hip] rvs_min_lifetime_secs {} exceeds rvs_max_lifetime_secs {}",
                self.rvs_min_lifetime_secs, self.rvs_max_lifetime_secs
            ));
        }
        if let Some(r) = &self.rendezvous {
            if self.role != HipRole::Host {
                return Err("[hip.rendezvous] is for role = \"host\"".into());
            }
            if !Hit::from(r.hit).is_orchid() {
                return Err(format!("[hip.rendezvous] hit = {}: not an ORCHIDv2 HIT (2001:20::/28)", r.hit));
            }
            if r.lifetime_secs == 0 {
                return Err("[hip.rendezvous] lifetime_secs must be at least 1".into());
            }
        }
        for h in self.rvs_allowed.iter().flatten() {
            if !Hit::from(*h).is_orchid() {
                return Err(format!("[hip] rvs_allowed: {h} is not an ORCHIDv2 HIT (2001:20::/28)"));
            }
        }
        for p in &self.peers {
            if !Hit::from(p.hit).is_orchid() {
                return Err(format!("[[hip.peer]] hit = {}: not an ORCHIDv2 HIT (2001:20::/28)", p.hit));
            }
            if p.locators.is_empty() {
                return Err(format!("[[hip.peer]] hit = {}: locators is empty", p.hit));
            }
        }
        Ok(())
    }

    /// The sans-IO core's settings.
    pub fn host_config(&self) -> Result<HostConfig, String> {
        let mut c = HostConfig {
            puzzle_k: self.puzzle_k,
            puzzle_k_under_load: self.puzzle_k_under_load,
            load_threshold: self.load_threshold,
            max_puzzle_k: self.max_puzzle_k,
            r1_rotate: Duration::from_secs(self.r1_rotate_secs),
            retransmit_initial: Duration::from_millis(self.retransmit_ms),
            max_retransmits: self.max_retransmits,
            responder: self.role != HipRole::Proxy,
            registrar: (self.role == HipRole::Rvs).then(|| RegistrarConfig {
                allowed: self.rvs_allowed.as_ref().map(|l| l.iter().map(|&h| Hit::from(h)).collect()),
                min_lifetime: lifetime_value(Duration::from_secs(self.rvs_min_lifetime_secs)),
                max_lifetime: lifetime_value(Duration::from_secs(self.rvs_max_lifetime_secs)),
            }),
            credit: self.credit_based_authorization.then(CreditConfig::default),
            ..HostConfig::default()
        };
        if let Some(g) = &self.dh_groups {
            let groups = g
                .iter()
                .map(|&id| DhGroupId::from_u8(id).map_err(|_| format!("[hip] dh_groups: unknown DH group {id}")))
                .collect::<Result<Vec<_>, _>>()?;
            if groups.is_empty() {
                return Err("[hip] dh_groups is empty".into());
            }
            c.dh_groups = DhGroupPreference(groups);
        }
        if let Some(l) = &self.hip_ciphers {
            c.hip_ciphers = l
                .iter()
                .map(|&id| HipCipher::from_u16(id).map_err(|_| format!("[hip] hip_ciphers: unknown cipher {id}")))
                .collect::<Result<_, _>>()?;
            if c.hip_ciphers.is_empty() {
                return Err("[hip] hip_ciphers is empty".into());
            }
        }
        if let Some(l) = &self.esp_transforms {
            c.esp_transforms = l
                .iter()
                .map(|&id| {
                    Transform::from_suite_id(id).ok_or_else(|| format!("[hip] esp_transforms: unknown suite {id}"))
                })
                .collect::<Result<_, _>>()?;
            if c.esp_transforms.is_empty() {
                return Err("[hip] esp_transforms is empty".into());
            }
        }
        Ok(c)
    }

    /// The static locators of a peer.
    pub fn peer_locators(&self, hit: Ipv6Addr) -> Vec<IpAddr> {
        self.peers.iter().filter(|p| p.hit == hit).flat_map(|p| p.locators.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<HipSection, String> {
        let s: HipSection =
            toml::from_str(&format!("identities = [\"/k.pem\"]\n{extra}")).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn defaults_and_errors() {
        let s = parse("").unwrap();
        assert_eq!((s.role, s.puzzle_k, s.retransmit_ms), (HipRole::Host, 1, 500));
        assert_eq!(s.host_config().unwrap().credit, None, "strict address checks by default");
        let cba = parse("credit_based_authorization = true").unwrap();
        assert_eq!(cba.host_config().unwrap().credit, Some(CreditConfig::default()));
        assert!(parse("dh_groups = [7, 99]").unwrap_err().contains("dh_groups"));
        assert!(parse("esp_transforms = [13, 2]").unwrap_err().contains("esp_transforms"));
        assert!(parse("puzzle_k = 30").unwrap_err().contains("puzzle_k"));
        assert!(parse("role = \"router\"").unwrap_err().contains("role"));
        let rvs = parse("role = \"rvs\"\nrvs_allowed = [\"2001:20::1\"]\nrvs_min_lifetime_secs = 16").unwrap();
        let c = rvs.host_config().unwrap();
        assert!(c.responder && c.registrar.as_ref().unwrap().min_lifetime == 96);
        assert!(parse("role = \"rvs\"\nrvs_allowed = [\"fd00::1\"]").unwrap_err().contains("rvs_allowed"));
        assert!(parse("role = \"rvs\"\nrvs_min_lifetime_secs = 99\nrvs_max_lifetime_secs = 9").is_err());
        let h = parse("[rendezvous]\nhit = \"2001:20::1\"\naddress = \"10.0.0.1\"").unwrap();
        assert_eq!(h.rendezvous.unwrap().lifetime_secs, 600);
        assert!(parse("role = \"proxy\"\n[rendezvous]\nhit = \"2001:20::1\"\naddress = \"10.0.0.1\"").is_err());
        assert!(parse("[rendezvous]\nhit = \"fd00::1\"\naddress = \"10.0.0.1\"").unwrap_err().contains("rendezvous"));
        assert!(parse("[[peer]]\nhit = \"2001:db8::1\"\nlocators = [\"10.0.0.1\"]").unwrap_err().contains("ORCHID"));
        let s =
            parse("role = \"proxy\"\n[[peer]]\nhit = \"2001:20::1\"\nlocators = [\"10.0.0.1\", \"fd00::1\"]").unwrap();
        assert_eq!(s.peer_locators("2001:20::1".parse().unwrap()).len(), 2);
        assert!(!s.host_config().unwrap().responder);
    }
}
