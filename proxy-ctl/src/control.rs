//! The CLI <-> daemon protocol: one JSON request per line on the daemon's
//! Unix socket, one JSON response line back. `--json` on the CLI prints the
//! response as it came, so scripts see exactly what the daemon holds.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    MappingAdd { substitute: IpAddr, peer: IpAddr },
    MappingDel { substitute: IpAddr },
    MappingList,
    NatList,
    Stats,
    /// Mobile VPN (`proxy-ctl vpn ...`).
    VpnBindings,
    VpnBundles,
    VpnHistory,
    VpnStats,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error { message: String },
    Mappings { mappings: Vec<MappingInfo> },
    Flows { flows: Vec<FlowInfo> },
    Stats { counters: Vec<CounterInfo>, mappings: u64, mappings_max: u32, flows: u64, flows_max: u32 },
    VpnBindings { bindings: Vec<crate::vpn::view::BindingInfo> },
    VpnBundles { role: String, bundles: Vec<crate::vpn::view::BundleInfo> },
    VpnHistory { role: String, handovers: Vec<crate::vpn::view::HandoverInfo> },
    VpnStats { role: String, counters: Vec<crate::vpn::view::VpnCounter> },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MappingInfo {
    pub substitute: IpAddr,
    pub peer: IpAddr,
    /// Live NAT flows through this mapping.
    pub flows: u64,
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
