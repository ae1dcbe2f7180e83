//! The `[vpn.ha]`, `[vpn.gw]` and `[vpn.mn]` configuration sections (the
//! mobile-VPN roles of seed 004). Keys are hex strings; errors name the key.

use std::net::Ipv4Addr;

use proxy_proto::{
    esp::{EspCipher, Transform},
    vpn::auth::{AuthAlgorithm, MnHaKey},
};
use serde::Deserialize;

use crate::net::Prefix;

/// The ESP transform of the MN <-> GW tunnel (AES-128-GCM, 20-byte KEYMAT
/// per direction: key then salt, RFC 4106 §8.1).
pub const TRANSFORM: Transform = Transform::Aes128Gcm16;
/// Default UDP port of the re-establishment handshake at the GW.
pub const DEFAULT_REESTABLISH_PORT: u16 = 4501;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnSection {
    pub ha: Option<HaSection>,
    pub gw: Option<GwSection>,
    pub mn: Option<MnSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaSection {
    /// The home agent's address (Home Agent field; source of IP-in-IP).
    pub address: Ipv4Addr,
    /// IP-in-IP in eBPF: `tc_ipip_encap` on TC egress of this interface
    /// (toward the GW); the home prefix is routed out of it via the first
    /// gateway. Absent: the userspace path through the TUN device `tun`.
    pub encap_dev: Option<String>,
    /// TUN device the home addresses are routed into (userspace IP-in-IP).
    #[serde(default = "default_ha_tun")]
    pub tun: String,
    /// Home addresses routed into the TUN device.
    pub home_prefix: Prefix,
    /// Sources inside these prefixes registered directly, not through a GW.
    #[serde(default)]
    pub private: Vec<Prefix>,
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: u16,
    #[serde(default, rename = "gateway")]
    pub gateways: Vec<HaGateway>,
    #[serde(default, rename = "node")]
    pub nodes: Vec<HaNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaGateway {
    /// The GW's address inside the private network.
    pub inner: Ipv4Addr,
    pub siu_key_id: u32,
    /// Hex, at least 32 bytes (SIU.md).
    pub siu_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaNode {
    pub home: Ipv4Addr,
    /// Mobility security association (RFC 5944 §1.6).
    pub spi: u32,
    #[serde(default)]
    pub algorithm: MnHaAlgorithm,
    /// Hex.
    pub key: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MnHaAlgorithm {
    #[default]
    HmacSha256,
    HmacMd5,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GwSection {
    /// The GW's address inside the private network (SIU destination).
    pub inner: Ipv4Addr,
    /// The GW's public address (outer source of ESP, re-establishment port).
    pub public: Ipv4Addr,
    /// Interface toward the private network: IP-in-IP packets from it (the
    /// HA's traffic for the MNs) are routed into the TUN device (policy
    /// rule `iif inner_dev ipproto 4 lookup table`).
    pub inner_dev: String,
    #[serde(default = "default_gw_tun")]
    pub tun: String,
    /// Routing table of that rule (one default route into the TUN device).
    #[serde(default = "default_table")]
    pub table: u32,
    /// Return-routability check of new care-of addresses (on by default).
    #[serde(default = "yes")]
    pub return_routability: bool,
    #[serde(default = "default_rr_timeout_ms")]
    pub rr_timeout_ms: u64,
    #[serde(default = "default_reestablish_port")]
    pub reestablish_port: u16,
    #[serde(default, rename = "home_agent")]
    pub home_agents: Vec<GwHomeAgent>,
    #[serde(default, rename = "node")]
    pub nodes: Vec<GwNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GwHomeAgent {
    pub address: Ipv4Addr,
    pub siu_key_id: u32,
    pub siu_key: String,
}

/// A mobile node's static SA bundle at the GW.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GwNode {
    pub home: Ipv4Addr,
    /// Where the outbound SA points at start.
    pub care_of: Ipv4Addr,
    /// SPI of the MN -> GW SA (our inbound).
    pub spi_in: u32,
    /// SPI of the GW -> MN SA.
    pub spi_out: u32,
    /// KEYMAT hex (20 bytes) of each direction.
    pub key_in: String,
    pub key_out: String,
    /// Pre-shared key for re-establishing the VPN (hex).
    pub psk: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnSection {
    pub home: Ipv4Addr,
    pub home_agent: Ipv4Addr,
    /// The GW's public address.
    pub gateway: Ipv4Addr,
    #[serde(default = "default_mn_tun")]
    pub tun: String,
    /// Prefixes reached through the VPN.
    pub routes: Vec<Prefix>,
    /// Interfaces whose IPv4 addresses are care-of addresses (empty: any
    /// interface but loopback and the TUN device).
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// SPI of the GW -> MN SA (our inbound) and of the MN -> GW SA.
    pub spi_in: u32,
    pub spi_out: u32,
    pub key_in: String,
    pub key_out: String,
    pub psk: String,
    pub mn_ha_spi: u32,
    #[serde(default)]
    pub mn_ha_algorithm: MnHaAlgorithm,
    pub mn_ha_key: String,
    #[serde(default = "default_lifetime")]
    pub lifetime: u16,
    /// First retransmission timeout of a Registration Request.
    #[serde(default = "default_retransmit_ms")]
    pub retransmit_ms: u64,
    #[serde(default = "default_max_retransmissions")]
    pub max_retransmissions: u32,
    /// false: every move re-establishes the VPN (the slow reference path).
    #[serde(default = "yes")]
    pub fast_handover: bool,
    #[serde(default = "default_reestablish_port")]
    pub reestablish_port: u16,
}

fn default_ha_tun() -> String {
    "havpn0".into()
}
fn default_gw_tun() -> String {
    "gwvpn0".into()
}
fn default_mn_tun() -> String {
    "mnvpn0".into()
}
fn default_max_lifetime() -> u16 {
    1800
}
fn default_lifetime() -> u16 {
    1800
}
fn default_table() -> u32 {
    434
}
fn default_rr_timeout_ms() -> u64 {
    3000
}
fn default_reestablish_port() -> u16 {
    DEFAULT_REESTABLISH_PORT
}
fn default_retransmit_ms() -> u64 {
    2000
}
fn default_max_retransmissions() -> u32 {
    4
}
fn yes() -> bool {
    true
}

/// Decodes a hex key, naming the key on error.
pub fn hex_key(name: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.trim()).map_err(|e| format!("{name}: not hex ({e})"))
}

/// An ESP cipher of [`TRANSFORM`] from a hex KEYMAT.
pub fn esp_cipher(name: &str, s: &str) -> Result<EspCipher, String> {
    EspCipher::new(TRANSFORM, &hex_key(name, s)?).map_err(|e| format!("{name}: {e}"))
}

pub fn mn_ha_key(name: &str, spi: u32, alg: MnHaAlgorithm, key: &str) -> Result<MnHaKey, String> {
    let alg = match alg {
        MnHaAlgorithm::HmacSha256 => AuthAlgorithm::HmacSha256,
        MnHaAlgorithm::HmacMd5 => AuthAlgorithm::HmacMd5,
    };
    MnHaKey::new(spi, alg, &hex_key(name, key)?).map_err(|e| format!("{name}: {e}"))
}

impl VpnSection {
    /// "ha", "gw", "mn" (or "" with no role).
    pub fn role(&self) -> &'static str {
        if self.ha.is_some() {
            "ha"
        } else if self.gw.is_some() {
            "gw"
        } else if self.mn.is_some() {
            "mn"
        } else {
            ""
        }
    }

    /// Checks every key now so the daemon never fails later on one.
    pub fn validate(&self) -> Result<(), String> {
        let roles = [self.ha.is_some(), self.gw.is_some(), self.mn.is_some()];
        if roles.iter().filter(|r| **r).count() > 1 {
            return Err("[vpn]: configure one of [vpn.ha], [vpn.gw], [vpn.mn] per daemon".into());
        }
        if let Some(h) = &self.ha {
            if h.gateways.is_empty() && h.private.is_empty() {
                return Err("[vpn.ha] needs a [[vpn.ha.gateway]] or `private` prefixes".into());
            }
            for g in &h.gateways {
                if hex_key("[vpn.ha.gateway] siu_key", &g.siu_key)?.len() < 32 {
                    return Err("[vpn.ha.gateway] siu_key: at least 32 bytes (SIU.md)".into());
                }
            }
            for n in &h.nodes {
                mn_ha_key("[vpn.ha.node] key", n.spi, n.algorithm, &n.key)?;
            }
            if !h.home_prefix.addr.is_ipv4() {
                return Err("[vpn.ha] home_prefix: IPv4 only (Mobile IPv4)".into());
            }
        }
        if let Some(g) = &self.gw {
            for h in &g.home_agents {
                if hex_key("[vpn.gw.home_agent] siu_key", &h.siu_key)?.len() < 32 {
                    return Err("[vpn.gw.home_agent] siu_key: at least 32 bytes (SIU.md)".into());
                }
            }
            for n in &g.nodes {
                esp_cipher("[vpn.gw.node] key_in", &n.key_in)?;
                esp_cipher("[vpn.gw.node] key_out", &n.key_out)?;
                hex_key("[vpn.gw.node] psk", &n.psk)?;
            }
            if g.table == 0 || g.table >= 252 && g.table <= 255 {
                return Err(format!("[vpn.gw] table = {}: pick a free routing table (not 0, 252-255)", g.table));
            }
        }
        if let Some(m) = &self.mn {
            esp_cipher("[vpn.mn] key_in", &m.key_in)?;
            esp_cipher("[vpn.mn] key_out", &m.key_out)?;
            hex_key("[vpn.mn] psk", &m.psk)?;
            mn_ha_key("[vpn.mn] mn_ha_key", m.mn_ha_spi, m.mn_ha_algorithm, &m.mn_ha_key)?;
            if m.retransmit_ms == 0 {
                return Err("[vpn.mn] retransmit_ms must be at least 1".into());
            }
            if m.routes.iter().any(|p| !p.addr.is_ipv4()) {
                return Err("[vpn.mn] routes: IPv4 prefixes only".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY20: &str = "000102030405060708090a0b0c0d0e0f10111213";

    fn mn(extra: &str) -> Result<(), String> {
        let text = format!(
            "[mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = [\"10.1.0.0/16\"]\n\
             spi_in = 4096\nspi_out = 8192\nkey_in = \"{KEY20}\"\nkey_out = \"{KEY20}\"\npsk = \"0102\"\n\
             mn_ha_spi = 2147483664\nmn_ha_key = \"0102\"\n{extra}"
        );
        let v: VpnSection = toml::from_str(&text).map_err(|e| e.to_string())?;
        v.validate()
    }

    #[test]
    fn mn_section_validates_keys_by_name() {
        mn("").unwrap();
        assert!(mn("retransmit_ms = 0").unwrap_err().contains("retransmit_ms"));
        let bad = mn("").and_then(|_| {
            let v: VpnSection = toml::from_str(&format!(
                "[mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = []\n\
                 spi_in = 1\nspi_out = 2\nkey_in = \"zz\"\nkey_out = \"{KEY20}\"\npsk = \"01\"\n\
                 mn_ha_spi = 2147483664\nmn_ha_key = \"01\"\n"
            ))
            .map_err(|e| e.to_string())?;
            v.validate()
        });
        assert!(bad.unwrap_err().contains("key_in"));
        assert!(mn("frobnicate = 1").unwrap_err().contains("frobnicate"));
    }
}
