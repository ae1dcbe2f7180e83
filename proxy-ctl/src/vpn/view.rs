//! What a VPN role shows the CLI (`proxy-ctl vpn ...`): the role driver
//! refreshes a [`VpnView`] after each event; the control socket reads it.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A home agent's binding (RFC 5944 §3.8.2.2 binding cache).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BindingInfo {
    pub home_address: Ipv4Addr,
    pub care_of_address: Ipv4Addr,
    /// Granted lifetime, seconds.
    pub lifetime: u16,
    /// Seconds left (`None`: infinite).
    pub remaining_secs: Option<u64>,
    pub via_gateway: Option<Ipv4Addr>,
}

/// An SA bundle (GW: per MN; MN: its own) with its current care-of address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleInfo {
    pub home_address: Ipv4Addr,
    pub care_of_address: Option<Ipv4Addr>,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub packets_in: u64,
    pub packets_out: u64,
    /// How many times the bundle was re-established (new SAs).
    pub generation: u32,
    /// Rekeys by HIP UPDATE since (new SPIs and keys, same bundle).
    #[serde(default)]
    pub rekeys: u32,
}

/// One handover as this role saw it; times in milliseconds since `at_unix_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandoverInfo {
    pub home_address: Ipv4Addr,
    pub from: Option<Ipv4Addr>,
    pub to: Ipv4Addr,
    /// Wall clock of the start (MN: the address event; GW: the SIU or the
    /// re-establishment Init).
    pub at_unix_ms: u64,
    /// "fast" (SAs moved, no re-keying) or "reestablished" (new SAs).
    pub kind: String,
    /// MN: SAs moved.
    pub sas_updated_ms: Option<f64>,
    /// MN: first Registration Request sent.
    pub request_sent_ms: Option<f64>,
    /// MN: Registration Reply (accepted) received; GW: reply forwarded.
    pub registered_ms: Option<f64>,
    /// MN: first data packet received at the new care-of address.
    pub first_data_ms: Option<f64>,
    pub retransmissions: u32,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    /// GW: the return-routability check had verified the new address when
    /// the SA moved (false: it moved on credit, or the check is off).
    pub rr_verified: Option<bool>,
}

impl Default for HandoverInfo {
    fn default() -> Self {
        Self {
            home_address: Ipv4Addr::UNSPECIFIED,
            from: None,
            to: Ipv4Addr::UNSPECIFIED,
            at_unix_ms: 0,
            kind: String::new(),
            sas_updated_ms: None,
            request_sent_ms: None,
            registered_ms: None,
            first_data_ms: None,
            retransmissions: 0,
            inbound_spi: 0,
            outbound_spi: 0,
            rr_verified: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VpnCounter {
    pub name: String,
    pub value: u64,
}

/// The role's state as the CLI sees it.
#[derive(Debug, Clone, Default)]
pub struct VpnView {
    pub role: &'static str,
    pub bindings: Vec<BindingInfo>,
    pub bundles: Vec<BundleInfo>,
    pub history: Vec<HandoverInfo>,
    pub counters: Vec<VpnCounter>,
}

/// Most handovers kept in the history.
pub const HISTORY_MAX: usize = 256;

impl VpnView {
    pub fn push_history(&mut self, h: HandoverInfo) {
        if self.history.len() == HISTORY_MAX {
            self.history.remove(0);
        }
        self.history.push(h);
    }
}

/// Counters as (name, value) rows, from `Debug`-free field lists.
#[macro_export]
macro_rules! vpn_counters {
    ($src:expr; $($field:ident),* $(,)?) => {
        vec![$($crate::vpn::view::VpnCounter { name: stringify!($field).into(), value: $src.$field }),*]
    };
}
