//! What the DNS side tells the HIP side: a name resolved to a HIP host and
//! the substitute address standing for it.

use std::net::IpAddr;
use std::time::Instant;

use hickory_proto::rr::Name;

use super::hip_rr::{HipRdata, PkAlgorithm};
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

impl StaticHost {
    /// A static host from its HIP RR (as written in the configuration,
    /// RFC 8005 §6 presentation format) and its configured addresses. The
    /// rendezvous servers named in the RR become locators with the
    /// addresses given for them in `rendezvous_addresses` (the static table
    /// answers without upstream queries, so it cannot resolve them).
    pub fn from_hip_rdata(
        rdata: &HipRdata,
        addresses: &[IpAddr],
        rendezvous_addresses: &[(Name, Vec<IpAddr>)],
        ttl: u32,
    ) -> Result<Self, StaticHostError> {
        let hit = rdata.hit128().ok_or(StaticHostError::UnsupportedHit(rdata.hit.len()))?;
        let mut locators: Vec<Locator> = addresses.iter().copied().map(Locator::Address).collect();
        for name in &rdata.rendezvous_servers {
            let resolved = rendezvous_addresses
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a.clone())
                .ok_or_else(|| StaticHostError::UnresolvedRendezvousServer(name.to_ascii()))?;
            locators.push(Locator::RendezvousServer { name: name.clone(), addresses: resolved });
        }
        if locators.is_empty() {
            return Err(StaticHostError::NoLocator);
        }
        Ok(Self {
            hit,
            host_identity: HostIdentity { algorithm: rdata.pk_algorithm, public_key: rdata.public_key.clone() },
            locators,
            ttl,
        })
    }
}

/// Why a static host table entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticHostError {
    /// The HIT is not 128 bits (RFC 7343 ORCHID).
    #[error("HIT of {0} bytes, not an ORCHID")]
    UnsupportedHit(usize),
    /// A rendezvous server of the RR has no configured address.
    #[error("rendezvous server {0} has no configured address")]
    UnresolvedRendezvousServer(String),
    /// Neither address nor rendezvous server.
    #[error("static host without locator")]
    NoLocator,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

    #[test]
    fn static_host_from_configured_hip_rr() {
        let rr: HipRdata = format!("2 200100107B1A74DF365639CC39F1D578 {KEY} rvs.example.com.").parse().unwrap();
        let rvs = Name::from_ascii("rvs.example.com.").unwrap();
        let rvs_addr: IpAddr = "192.0.2.53".parse().unwrap();
        let host = StaticHost::from_hip_rdata(&rr, &[], &[(rvs.clone(), vec![rvs_addr])], 600).unwrap();
        assert_eq!(host.hit[..2], [0x20, 0x01]);
        assert_eq!(host.host_identity.algorithm, PkAlgorithm::Rsa);
        assert_eq!(host.host_identity.public_key, rr.public_key);
        assert_eq!(host.locators, vec![Locator::RendezvousServer { name: rvs, addresses: vec![rvs_addr] }]);
        assert_eq!(
            StaticHost::from_hip_rdata(&rr, &[], &[], 600),
            Err(StaticHostError::UnresolvedRendezvousServer("rvs.example.com.".into()))
        );
        let mut short = rr.clone();
        short.hit.truncate(8);
        short.rendezvous_servers.clear();
        assert_eq!(StaticHost::from_hip_rdata(&short, &[rvs_addr], &[], 600), Err(StaticHostError::UnsupportedHit(8)));
        let mut bare = rr;
        bare.rendezvous_servers.clear();
        assert_eq!(StaticHost::from_hip_rdata(&bare, &[], &[], 600), Err(StaticHostError::NoLocator));
    }
}
