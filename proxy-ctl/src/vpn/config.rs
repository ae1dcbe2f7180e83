//! The `[vpn.ha]`, `[vpn.gw]` and `[vpn.mn]` configuration sections (the
//! mobile-VPN roles of seed 004). Keys are hex strings; errors name the key.
//!
//! The MN <-> GW SAs come from a HIP base exchange (the MN names the GW's
//! HIT, the GW admits MN HITs; both need `[hip]` identities) or are static
//! (SPIs and keys on both sides, for testing).

use std::net::{Ipv4Addr, Ipv6Addr};

use proxy_proto::{
    esp::{EspCipher, Transform},
    vpn::auth::{AuthAlgorithm, MnHaKey},
};
use serde::Deserialize;

use crate::net::Prefix;

/// The ESP transform of the MN <-> GW tunnel (AES-128-GCM, 20-byte KEYMAT
/// per direction: key then salt, RFC 4106 §8.1). The TUN MTUs are computed
/// for its overhead, so a base exchange offers only this one.
pub const TRANSFORM: Transform = Transform::Aes128Gcm16;

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
    /// Bytes the GW sends to a registered care-of address before the
    /// check has verified it (credit-based authorization, SIU.md); 0: the
    /// SA moves only once the echo is back.
    #[serde(default = "default_rr_credit_bytes")]
    pub rr_credit_bytes: u64,
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

/// A mobile node the GW serves: admitted by its HIT (SAs from a base
/// exchange it initiates), or with a static SA bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GwNode {
    pub home: Ipv4Addr,
    /// The MN's HIT: only base exchanges from admitted HITs are answered.
    pub hit: Option<Ipv6Addr>,
    /// Static bundle: where the outbound SA points at start.
    pub care_of: Option<Ipv4Addr>,
    /// Static bundle: SPI of the MN -> GW SA (our inbound).
    pub spi_in: Option<u32>,
    /// Static bundle: SPI of the GW -> MN SA.
    pub spi_out: Option<u32>,
    /// Static bundle: KEYMAT hex (20 bytes) of each direction.
    pub key_in: Option<String>,
    pub key_out: Option<String>,
}

/// A static SA pair, checked: (SPI, KEYMAT) per direction.
#[derive(Debug, Clone)]
pub struct StaticPair {
    pub spi_in: u32,
    pub spi_out: u32,
    pub key_in: Vec<u8>,
    pub key_out: Vec<u8>,
}

/// Either a HIT or all four static fields; `what` names the section.
fn static_pair(
    what: &str,
    hit: Option<Ipv6Addr>,
    spis: (Option<u32>, Option<u32>),
    keys: (Option<&String>, Option<&String>),
) -> Result<Option<StaticPair>, String> {
    let given = [spis.0.is_some(), spis.1.is_some(), keys.0.is_some(), keys.1.is_some()];
    if let Some(h) = hit {
        if !proxy_proto::hip::crypto::Hit::from(h).is_orchid() {
            return Err(format!("{what} hit = {h}: not an ORCHIDv2 HIT (2001:20::/28)"));
        }
        if given.iter().any(|g| *g) {
            return Err(format!(
                "{what}: give a hit (SAs from a HIP base exchange) or static spi_in/spi_out/key_in/key_out, not both"
            ));
        }
        return Ok(None);
    }
    let (Some(spi_in), Some(spi_out), Some(ki), Some(ko)) = (spis.0, spis.1, keys.0, keys.1) else {
        return Err(format!("{what}: needs a hit (HIP base exchange) or all of spi_in, spi_out, key_in, key_out"));
    };
    esp_cipher(&format!("{what} key_in"), ki)?;
    esp_cipher(&format!("{what} key_out"), ko)?;
    Ok(Some(StaticPair {
        spi_in,
        spi_out,
        key_in: hex_key(&format!("{what} key_in"), ki)?,
        key_out: hex_key(&format!("{what} key_out"), ko)?,
    }))
}

impl GwNode {
    /// The static pair (None: admitted by HIT). Checked by `validate`.
    pub fn static_pair(&self) -> Result<Option<(Ipv4Addr, StaticPair)>, String> {
        let what = format!("[[vpn.gw.node]] {}", self.home);
        let p =
            static_pair(&what, self.hit, (self.spi_in, self.spi_out), (self.key_in.as_ref(), self.key_out.as_ref()))?;
        match (p, self.care_of) {
            (Some(p), Some(c)) => Ok(Some((c, p))),
            (Some(_), None) => Err(format!("{what}: a static bundle needs care_of")),
            (None, Some(_)) => Err(format!("{what}: care_of is for static bundles (HIP learns it)")),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnSection {
    pub home: Ipv4Addr,
    pub home_agent: Ipv4Addr,
    /// The GW's public address (its HIP locator).
    pub gateway: Ipv4Addr,
    /// The GW's HIT: the SAs come from a HIP base exchange with it, also
    /// when the VPN is re-established. Absent: static SAs below.
    pub gateway_hit: Option<Ipv6Addr>,
    #[serde(default = "default_mn_tun")]
    pub tun: String,
    /// Prefixes reached through the VPN.
    pub routes: Vec<Prefix>,
    /// Interfaces whose IPv4 addresses are care-of addresses (empty: any
    /// interface but loopback and the TUN device).
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Static SAs: SPI of the GW -> MN SA (our inbound) and of the MN -> GW
    /// SA, KEYMAT hex of each.
    pub spi_in: Option<u32>,
    pub spi_out: Option<u32>,
    pub key_in: Option<String>,
    pub key_out: Option<String>,
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
}

impl MnSection {
    /// The static pair (None: a base exchange with `gateway_hit`).
    pub fn static_pair(&self) -> Result<Option<StaticPair>, String> {
        static_pair(
            "[vpn.mn]",
            self.gateway_hit,
            (self.spi_in, self.spi_out),
            (self.key_in.as_ref(), self.key_out.as_ref()),
        )
    }
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
fn default_rr_credit_bytes() -> u64 {
    proxy_proto::vpn::gateway::DEFAULT_RR_CREDIT
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
            let mut homes = std::collections::HashSet::new();
            for n in &g.nodes {
                n.static_pair()?;
                if !homes.insert(n.home) {
                    return Err(format!("[[vpn.gw.node]] home = {}: listed twice", n.home));
                }
            }
            if g.table == 0 || g.table >= 252 && g.table <= 255 {
                return Err(format!("[vpn.gw] table = {}: pick a free routing table (not 0, 252-255)", g.table));
            }
        }
        if let Some(m) = &self.mn {
            m.static_pair()?;
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

    /// Whether the role runs the ESP host data path on its own TUN device
    /// (the node and the gateway; not the home agent).
    pub fn runs_esp_path(&self) -> bool {
        self.ha.is_none() && (self.gw.is_some() || self.mn.is_some())
    }

    /// HITs the GW admits (empty for other roles).
    pub fn admitted_hits(&self) -> Vec<Ipv6Addr> {
        self.gw.iter().flat_map(|g| g.nodes.iter().filter_map(|n| n.hit)).collect()
    }

    /// Whether this role runs HIP base exchanges for its SAs.
    pub fn uses_hip(&self) -> bool {
        !self.admitted_hits().is_empty() || self.mn.as_ref().is_some_and(|m| m.gateway_hit.is_some())
    }

    /// What the role needs of `[hip]`, checked against the config.
    pub fn validate_hip(&self, hip: Option<&crate::hip::HipSection>) -> Result<(), String> {
        if !self.uses_hip() {
            return Ok(());
        }
        let role = self.role();
        let Some(h) = hip else {
            return Err(format!(
                "[vpn.{role}]: a HIT is configured, so a [hip] section with an identity is needed (proxy-ctl identity new)"
            ));
        };
        let ours = TRANSFORM.suite_id().unwrap_or_default();
        if h.esp_transforms.as_ref().is_some_and(|t| t != &[ours]) {
            return Err(format!(
                "[hip] esp_transforms: the VPN tunnel runs AES-128-GCM only; set [{ours}] or leave it out"
            ));
        }
        if self.gw.is_some() {
            if h.role != crate::hip::HipRole::Host {
                return Err("[hip] role: the VPN gateway answers base exchanges, so role = \"host\"".into());
            }
            if h.allowed_peers.is_some() {
                return Err(
                    "[hip] allowed_peers: the VPN gateway admits the HITs of [[vpn.gw.node]]; leave it out".into()
                );
            }
        }
        if let (Some(m), Some(peers)) = (&self.mn, &h.allowed_peers)
            && let Some(gw) = m.gateway_hit
            && !peers.contains(&gw)
        {
            return Err(format!("[hip] allowed_peers: must include the gateway's HIT {gw} ([vpn.mn] gateway_hit)"));
        }
        Ok(())
    }

    /// The `[hip]` settings the role implies: only the tunnel's transform;
    /// at the GW only the admitted MN HITs as peers; at the MN only its
    /// gateway, unless `allowed_peers` says more. HIP mobility is off: the
    /// VPN's own handover (Mobile IP registration, SIU) moves the
    /// association's SAs; an RFC 8046 UPDATE besides it would only spend
    /// signatures on both ends in the middle of every handover (and race
    /// the fallback's fresh base exchange). The driver tells the HIP core
    /// where the association went (`HipHandle::note_moved`).
    pub fn adjust_hip(&self, h: &mut crate::hip::HipSection) {
        if !self.uses_hip() {
            return;
        }
        h.mobility = crate::hip::Mobility::Off;
        h.esp_transforms = TRANSFORM.suite_id().map(|id| vec![id]);
        if self.gw.is_some() {
            h.allowed_peers = Some(self.admitted_hits());
        }
        if let Some(gw) = self.mn.as_ref().and_then(|m| m.gateway_hit)
            && h.allowed_peers.is_none()
        {
            h.allowed_peers = Some(vec![gw]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY20: &str = "000102030405060708090a0b0c0d0e0f10111213";

    fn mn(extra: &str) -> Result<(), String> {
        let text = format!(
            "[mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = [\"10.1.0.0/16\"]\n\
             spi_in = 4096\nspi_out = 8192\nkey_in = \"{KEY20}\"\nkey_out = \"{KEY20}\"\n\
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
                 spi_in = 1\nspi_out = 2\nkey_in = \"zz\"\nkey_out = \"{KEY20}\"\n\
                 mn_ha_spi = 2147483664\nmn_ha_key = \"01\"\n"
            ))
            .map_err(|e| e.to_string())?;
            v.validate()
        });
        assert!(bad.unwrap_err().contains("key_in"));
        assert!(mn("frobnicate = 1").unwrap_err().contains("frobnicate"));
    }

    const HIT: &str = "2001:2a:1:2:3:4:5:6";

    fn parse(text: &str) -> Result<VpnSection, String> {
        let v: VpnSection = toml::from_str(text).map_err(|e| e.to_string())?;
        v.validate()?;
        Ok(v)
    }

    #[test]
    fn hip_or_static_never_both_and_hip_needs_a_hip_section() {
        let mn = |extra: &str| {
            parse(&format!(
                "[mn]\nhome = \"10.2.0.5\"\nhome_agent = \"10.1.0.1\"\ngateway = \"192.0.2.1\"\nroutes = []\n\
                 mn_ha_spi = 2147483664\nmn_ha_key = \"01\"\n{extra}"
            ))
        };
        let v = mn(&format!("gateway_hit = \"{HIT}\"")).unwrap();
        assert!(v.uses_hip());
        assert!(v.validate_hip(None).unwrap_err().contains("[hip]"));
        let mut h: crate::hip::HipSection = toml::from_str("identities = [\"/k.pem\"]").unwrap();
        assert_eq!(h.mobility, crate::hip::Mobility::Update, "the [hip] default");
        v.adjust_hip(&mut h);
        assert_eq!(h.allowed_peers, Some(vec![HIT.parse::<Ipv6Addr>().unwrap()]), "the MN talks HIP to its GW only");
        assert_eq!(h.mobility, crate::hip::Mobility::Off, "the VPN moves the association, not RFC 8046 UPDATEs");
        h.allowed_peers = Some(vec!["2001:2a::9".parse().unwrap()]);
        assert!(v.validate_hip(Some(&h)).unwrap_err().contains("gateway's HIT"));
        assert!(mn(&format!("gateway_hit = \"{HIT}\"\nspi_in = 4096")).unwrap_err().contains("not both"));
        assert!(mn("gateway_hit = \"2001:db8::1\"").unwrap_err().contains("ORCHID"));
        assert!(mn("spi_in = 4096").unwrap_err().contains("spi_out"));
        let gw = |node: &str| {
            parse(&format!(
                "[gw]\ninner = \"10.1.0.254\"\npublic = \"192.0.2.1\"\ninner_dev = \"in0\"\n[[gw.node]]\nhome = \"10.2.0.5\"\n{node}"
            ))
        };
        let v = gw(&format!("hit = \"{HIT}\"")).unwrap();
        assert_eq!(v.admitted_hits(), vec![HIT.parse::<Ipv6Addr>().unwrap()]);
        let mut h: crate::hip::HipSection = toml::from_str("identities = [\"/k.pem\"]").unwrap();
        v.validate_hip(Some(&h)).unwrap();
        v.adjust_hip(&mut h);
        assert_eq!((h.allowed_peers.clone().unwrap().len(), h.esp_transforms.clone()), (1, Some(vec![13])));
        assert_eq!(h.mobility, crate::hip::Mobility::Off);
        h.esp_transforms = Some(vec![8]);
        assert!(v.validate_hip(Some(&h)).unwrap_err().contains("esp_transforms"));
        h.esp_transforms = None;
        h.role = crate::hip::HipRole::Proxy;
        assert!(v.validate_hip(Some(&h)).unwrap_err().contains("role"));
        assert!(gw(&format!("hit = \"{HIT}\"\ncare_of = \"198.51.100.23\"")).unwrap_err().contains("care_of"));
        assert!(gw("").unwrap_err().contains("needs a hit"));
        let st = format!(
            "care_of = \"198.51.100.23\"\nspi_in = 4096\nspi_out = 8192\nkey_in = \"{KEY20}\"\nkey_out = \"{KEY20}\""
        );
        let v = gw(&st).unwrap();
        assert!(!v.uses_hip());
        assert!(gw(&st.replace("care_of = \"198.51.100.23\"\n", "")).unwrap_err().contains("care_of"));
    }
}
