//! The CLI <-> daemon protocol: one JSON request per line on the daemon's
//! Unix socket, one JSON response line back. `--json` on the CLI prints the
//! response as it came, so scripts see exactly what the daemon holds.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    MappingAdd {
        substitute: IpAddr,
        peer: IpAddr,
    },
    MappingDel {
        substitute: IpAddr,
    },
    MappingList,
    NatList,
    Stats,
    /// Mobile VPN (`proxy-ctl vpn ...`).
    VpnBindings,
    VpnBundles,
    VpnHistory,
    VpnStats,
    /// Start a HIP base exchange and wait for ESTABLISHED.
    AssocConnect {
        hit: std::net::Ipv6Addr,
        locators: Vec<IpAddr>,
    },
    /// CLOSE a HIP association.
    AssocClose {
        hit: std::net::Ipv6Addr,
    },
    AssocList,
    /// Rekey a HIP association by UPDATE (new SPIs and ESP keys): with a
    /// new Diffie-Hellman, or with `keymat` drawn from the current KEYMAT.
    AssocRekey {
        hit: std::net::Ipv6Addr,
        #[serde(default)]
        keymat: bool,
    },
    /// HIP packet counters and drops by reason.
    HipStats,
    /// Rendezvous registrations (granted by an `rvs`, held by a `host`).
    RvsList,
    SaAdd {
        sa: crate::esp::SaSpec,
    },
    SaDel {
        spi: u32,
        direction: crate::esp::Direction,
    },
    /// Move an SA's outer addresses (no rekey).
    SaMove {
        spi: u32,
        direction: crate::esp::Direction,
        local: IpAddr,
        peer: IpAddr,
    },
    /// `keys`: include each SA's Wireshark `esp_sa` line.
    SaList {
        keys: bool,
    },
    /// The proxy's translator: flows legacy host <-> HIT and counters.
    EspFlows,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error {
        message: String,
    },
    Mappings {
        mappings: Vec<MappingInfo>,
    },
    Flows {
        flows: Vec<FlowInfo>,
    },
    Stats {
        counters: Vec<CounterInfo>,
        mappings: u64,
        mappings_max: u32,
        flows: u64,
        flows_max: u32,
        /// The DNS role's own counters (empty when it does not run).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dns: Vec<CounterInfo>,
    },
    Assocs {
        assocs: Vec<AssocEntry>,
    },
    Assoc {
        assoc: AssocEntry,
    },
    HipStats {
        local_hits: Vec<std::net::Ipv6Addr>,
        r1: Vec<R1Info>,
        counters: Vec<CounterInfo>,
    },
    Registrations {
        registrations: Vec<RegistrationEntry>,
    },
    Sas {
        sas: Vec<crate::esp::SaInfo>,
        counters: Vec<CounterInfo>,
    },
    EspFlows {
        flows: Vec<EspFlowInfo>,
        counters: Vec<CounterInfo>,
        /// What the translator maps: substitute -> (our HIT, peer HIT).
        #[serde(default)]
        mappings: Vec<EspMappingInfo>,
    },
    VpnBindings {
        bindings: Vec<crate::vpn::view::BindingInfo>,
    },
    VpnBundles {
        role: String,
        bundles: Vec<crate::vpn::view::BundleInfo>,
    },
    VpnHistory {
        role: String,
        handovers: Vec<crate::vpn::view::HandoverInfo>,
    },
    VpnStats {
        role: String,
        counters: Vec<crate::vpn::view::VpnCounter>,
    },
}

/// One HIP association as `assoc list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AssocEntry {
    pub local_hit: std::net::Ipv6Addr,
    pub peer_hit: std::net::Ipv6Addr,
    pub local_locator: IpAddr,
    pub peer_locator: IpAddr,
    /// RFC 7401 §4.4 state name, e.g. "ESTABLISHED".
    pub state: String,
    pub initiator: bool,
    /// Our SPI (inbound ESP), 0 before keys exist.
    pub spi_in: u32,
    /// The peer's SPI (outbound ESP), 0 before R2.
    pub spi_out: u32,
    /// ESP transform suite ID (RFC 7402 §5.1.2) and name, once chosen.
    pub esp_transform: Option<u16>,
    pub esp_transform_name: Option<String>,
    pub age_secs: u64,
    pub state_secs: u64,
}

/// One registration (RFC 8003) as `rvs list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationEntry {
    /// The client's HIT (we are the registrar) or the registrar's.
    pub hit: std::net::Ipv6Addr,
    /// "registrar" (we granted it) or "client" (we hold it).
    pub side: String,
    /// The peer's current locator (where relayed I1s go, on a registrar).
    pub locator: Option<IpAddr>,
    /// Granted lifetime, seconds (0: not granted yet).
    pub lifetime_secs: u64,
    /// Seconds until it lapses unless refreshed.
    pub remaining_secs: u64,
}

/// The current R1 generation of one local HIT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct R1Info {
    pub hit: std::net::Ipv6Addr,
    pub r1_counter: Option<u64>,
    pub puzzle_k: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MappingInfo {
    pub substitute: IpAddr,
    pub peer: IpAddr,
    /// Live NAT flows through this mapping.
    pub flows: u64,
    /// What the DNS role knows of a substitute it handed out (absent for
    /// mappings added by the CLI or the `[[mapping]]` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsMappingInfo>,
}

/// A substitute handed out by the DNS role: who it stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DnsMappingInfo {
    /// The name the legacy host asked.
    pub name: String,
    /// The HIP host's HIT (IPv6 notation).
    pub hit: String,
    /// Its locators: addresses, then "rvs NAME (ADDR, ...)".
    pub locators: Vec<String>,
    /// The locator in use: the HIP association's peer locator once it is
    /// up (the host's real address even when DNS named its rendezvous
    /// server, RFC 8004), following the host's UPDATEs (RFC 8046).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<IpAddr>,
    /// Seconds until the substitute may be freed (0: expired, kept while
    /// flows use it).
    pub expires_in_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlowInfo {
    pub proto: String,
    pub legacy: IpAddr,
    /// Legacy host's port, or ICMP echo identifier.
    pub legacy_port: u16,
    pub substitute: IpAddr,
    pub port: u16,
    pub peer: IpAddr,
    /// The proxy's port (or ICMP identifier) toward the peer.
    pub nat_port: u16,
    pub state: String,
    pub idle_secs: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

/// One substitute the proxy's translator maps to a HIP host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EspMappingInfo {
    pub substitute: IpAddr,
    pub local_hit: std::net::Ipv6Addr,
    pub peer_hit: std::net::Ipv6Addr,
    /// Where the base exchange goes (from the HIP RR).
    pub locators: Vec<IpAddr>,
}

/// One proxy ESP flow as `esp flows` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EspFlowInfo {
    /// "tcp", "udp" or "icmp" (echo).
    pub protocol: String,
    pub legacy: IpAddr,
    pub legacy_port: u16,
    pub substitute: IpAddr,
    /// The HIP host's port (0 for echo).
    pub remote_port: u16,
    pub local_hit: std::net::Ipv6Addr,
    pub peer_hit: std::net::Ipv6Addr,
    /// Our port (echo identifier) on the HIT side.
    pub nat_port: u16,
    /// TCP state ("-" for others).
    pub state: String,
    pub idle_secs: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CounterInfo {
    pub name: String,
    pub value: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_stable() {
        let r = Request::MappingAdd { substitute: "100.64.0.1".parse().unwrap(), peer: "192.0.2.7".parse().unwrap() };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"mapping_add","substitute":"100.64.0.1","peer":"192.0.2.7"}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let e = serde_json::to_string(&Response::Error { message: "x".into() }).unwrap();
        assert_eq!(e, r#"{"result":"error","message":"x"}"#);
    }
}
