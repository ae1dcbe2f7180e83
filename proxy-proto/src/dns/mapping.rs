//! What the DNS side tells the HIP side: a name resolved to a HIP host and
//! the substitute address standing for it.

use std::net::IpAddr;
use std::time::Instant;

use hickory_proto::rr::Name;

use super::hip_rr::PkAlgorithm;
use super::pool::Hit;

/// A Host Identity as the HIP RR carries it (RFC 8005 §5): the public key
/// in the DNS format of its algorithm (RFC 3110 for RSA, RFC 6605 for
/// ECDSA, ...). The HIP side converts it to a HOST_ID parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    /// PK algorithm, IPSECKEY registry numbering.
    pub algorithm: PkAlgorithm,
    /// Public key bytes.
    pub public_key: Vec<u8>,
}

/// Where a HIP host can be reached (RFC 8005 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// An address of the host itself (its A/AAAA records).
    Address(IpAddr),
    /// A rendezvous server (RFC 8004) and the addresses it resolved to.
    RendezvousServer {
        /// The rendezvous server's name from the HIP RR.
        name: Name,
        /// Its A and AAAA addresses.
        addresses: Vec<IpAddr>,
    },
}

/// A substitute was handed to a legacy host for a HIP host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingEvent {
    /// The name the legacy host asked for.
    pub name: Name,
    /// The HIP host's HIT.
    pub hit: Hit,
    /// The HIP host's Host Identity.
    pub host_identity: HostIdentity,
    /// Its locators: own addresses first, then rendezvous servers in the
    /// HIP RR's order of preference.
    pub locators: Vec<Locator>,
    /// The substitute address in the answer.
    pub substitute: IpAddr,
    /// When the pool may free the substitute unless flows pin it.
    pub expiry: Instant,
}

/// An entry of the configured static host table: answered without
/// upstream queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticHost {
    /// The host's HIT.
    pub hit: Hit,
    /// The host's Host Identity.
    pub host_identity: HostIdentity,
    /// Its locators.
    pub locators: Vec<Locator>,
    /// TTL of the answers, further bounded by the configured maximum.
    pub ttl: u32,
}
