//! What an SA is made of, as the config (`[[sa]]`), the CLI (`sa add`) and
//! the HIP driver give it: SPI, direction, mode, transform, key, outer
//! addresses (locators) and, in BEET, the inner addresses (HITs or LSIs).

use std::{fmt, net::IpAddr, str::FromStr};

use proxy_proto::esp::{Mode, Transform};
use serde::{Deserialize, Serialize};

/// Direction of one SA, seen from this host (RFC 4303 §3.4: inbound SAs are
/// found by the SPI we chose, outbound ones by what we send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(format!("direction {s:?}: expected \"in\" or \"out\"")),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
        })
    }
}

/// BEET or tunnel, by name (serde and CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    #[default]
    Beet,
    Tunnel,
}

impl ModeName {
    pub fn mode(self) -> Mode {
        match self {
            ModeName::Beet => Mode::Beet,
            ModeName::Tunnel => Mode::Tunnel,
        }
    }
}

impl FromStr for ModeName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "beet" => Ok(ModeName::Beet),
            "tunnel" => Ok(ModeName::Tunnel),
            _ => Err(format!("mode {s:?}: expected \"beet\" or \"tunnel\"")),
        }
    }
}

/// Transform names in config and CLI, with their HIP suite IDs (RFC 7402
/// §5.1.2) accepted as well.
pub const TRANSFORM_NAMES: [(&str, Transform); 5] = [
    ("null-hmac-sha256", Transform::NullHmacSha256),
    ("aes128-cbc-hmac-sha256", Transform::Aes128CbcHmacSha256),
    ("aes256-cbc-hmac-sha256", Transform::Aes256CbcHmacSha256),
    ("aes128-gcm16", Transform::Aes128Gcm16),
    ("aes256-gcm16", Transform::Aes256Gcm16),
];

pub fn transform_name(t: Transform) -> &'static str {
    TRANSFORM_NAMES.iter().find(|(_, x)| *x == t).map(|(n, _)| *n).unwrap_or("?")
}

pub fn parse_transform(s: &str) -> Result<Transform, String> {
    if let Some((_, t)) = TRANSFORM_NAMES.iter().find(|(n, _)| *n == s) {
        return Ok(*t);
    }
    if let Some(t) = s.parse::<u16>().ok().and_then(Transform::from_suite_id) {
        return Ok(t);
    }
    let names: Vec<&str> = TRANSFORM_NAMES.iter().map(|(n, _)| *n).collect();
    Err(format!("transform {s:?}: expected one of {} or a suite ID 7, 8, 9, 13", names.join(", ")))
}

/// One SA direction, as configured or requested. Keys are hex.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaSpec {
    pub spi: u32,
    pub direction: Direction,
    #[serde(default)]
    pub mode: ModeName,
    /// Transform name or HIP suite ID (see [`TRANSFORM_NAMES`]).
    #[serde(default = "default_transform")]
    pub transform: String,
    /// Encryption key (GCM salt last) then integrity key, hex; the length
    /// the transform draws from KEYMAT (RFC 7402 §7).
    pub key: String,
    /// Our outer address (locator). Informational for inbound SAs.
    pub local: IpAddr,
    /// The peer's outer address. Inbound packets must come from it unless
    /// `wildcard_source` is set.
    pub peer: IpAddr,
    /// BEET: our inner address (HIT or LSI). Tunnel: unused.
    pub inner_local: Option<IpAddr>,
    /// BEET: the peer's inner address. Tunnel outbound: absent means the
    /// default SA for every packet the tunnel interface carries.
    pub inner_peer: Option<IpAddr>,
    /// Inbound tunnel SAs only: accept the SA from any outer source (a VPN
    /// gateway whose mobile nodes move); each such packet is counted.
    #[serde(default)]
    pub wildcard_source: bool,
}

fn default_transform() -> String {
    "aes128-gcm16".into()
}

impl fmt::Debug for SaSpec {
    // Never print keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaSpec")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("mode", &self.mode)
            .field("transform", &self.transform)
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("inner_local", &self.inner_local)
            .field("inner_peer", &self.inner_peer)
            .finish_non_exhaustive()
    }
}

/// A spec checked and decoded: what the SA table installs.
#[derive(Clone)]
pub struct ValidSa {
    pub spec: SaSpec,
    pub transform: Transform,
    pub key: Vec<u8>,
    /// Installed by a HIP association (`sa list` shows the origin).
    pub from_hip: bool,
    /// That association's peer HIT, when the inner peer is not it (the
    /// VPN's tunnel SAs): whom to rekey with when the SA ages.
    pub hip_peer: Option<IpAddr>,
}

impl SaSpec {
    /// Check every rule a spec must follow; errors name the field.
    pub fn validate(&self) -> Result<ValidSa, String> {
        let spi = self.spi;
        // RFC 4303 §2.1: SPIs 1-255 are reserved by IANA, 0 is local use only.
        if spi < 256 {
            return Err(format!("spi {spi}: values 0-255 are reserved (RFC 4303 §2.1)"));
        }
        let transform = parse_transform(&self.transform)?;
        let key = hex::decode(&self.key).map_err(|e| format!("spi {spi:#x}: key is not hex: {e}"))?;
        if key.len() != transform.key_len() {
            return Err(format!(
                "spi {spi:#x}: key has {} bytes, transform {} needs {}",
                key.len(),
                transform_name(transform),
                transform.key_len()
            ));
        }
        if self.local.is_ipv4() != self.peer.is_ipv4() {
            return Err(format!("spi {spi:#x}: local {} and peer {} differ in family", self.local, self.peer));
        }
        match self.mode {
            ModeName::Beet => {
                let (Some(l), Some(p)) = (self.inner_local, self.inner_peer) else {
                    return Err(format!("spi {spi:#x}: mode beet needs inner_local and inner_peer (the HITs)"));
                };
                if l.is_ipv4() != p.is_ipv4() {
                    return Err(format!("spi {spi:#x}: inner_local {l} and inner_peer {p} differ in family"));
                }
                if self.wildcard_source {
                    return Err(format!("spi {spi:#x}: wildcard_source is for inbound tunnel SAs only"));
                }
            }
            ModeName::Tunnel => {
                if self.wildcard_source && self.direction == Direction::Out {
                    return Err(format!("spi {spi:#x}: wildcard_source is for inbound tunnel SAs only"));
                }
            }
        }
        Ok(ValidSa { spec: self.clone(), transform, key, from_hip: false, hip_peer: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SaSpec {
        SaSpec {
            spi: 0x1000,
            direction: Direction::Out,
            mode: ModeName::Beet,
            transform: "aes128-gcm16".into(),
            key: "00".repeat(20),
            local: "192.0.2.1".parse().unwrap(),
            peer: "192.0.2.2".parse().unwrap(),
            inner_local: Some("2001:20::1".parse().unwrap()),
            inner_peer: Some("2001:20::2".parse().unwrap()),
            wildcard_source: false,
        }
    }

    #[test]
    fn valid_spec_and_suite_ids() {
        assert_eq!(spec().validate().unwrap().transform, Transform::Aes128Gcm16);
        let s = SaSpec { transform: "8".into(), key: "11".repeat(48), ..spec() };
        assert_eq!(s.validate().unwrap().transform, Transform::Aes128CbcHmacSha256);
    }

    #[test]
    fn errors_name_the_field() {
        let e = |s: SaSpec| s.validate().err().unwrap();
        assert!(e(SaSpec { spi: 7, ..spec() }).contains("reserved"));
        assert!(e(SaSpec { key: "zz".into(), ..spec() }).contains("not hex"));
        assert!(e(SaSpec { key: "00".into(), ..spec() }).contains("needs 20"));
        assert!(e(SaSpec { transform: "des".into(), ..spec() }).contains("expected one of"));
        assert!(e(SaSpec { inner_peer: None, ..spec() }).contains("inner_peer"));
        assert!(e(SaSpec { peer: "2001:db8::1".parse().unwrap(), ..spec() }).contains("family"));
        assert!(e(SaSpec { wildcard_source: true, ..spec() }).contains("wildcard_source"));
    }

    #[test]
    fn debug_hides_the_key() {
        let s = SaSpec { key: "deadbeef".repeat(5), ..spec() };
        assert!(!format!("{s:?}").contains("deadbeef"));
    }
}
