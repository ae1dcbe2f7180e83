//! The configured static host table (`[[dns.host]]`) as the DNS core's
//! [`StaticHost`] entries: the proxy answers these names itself.

use std::collections::HashMap;

use hickory_proto::rr::Name;
use proxy_proto::dns::{HipRdata, HipTextError, StaticHost, StaticHostError};

use crate::config::DnsHost;

/// Why a `[[dns.host]]` entry is unusable.
#[derive(Debug, thiserror::Error)]
pub enum DnsHostError {
    #[error("name: {0}")]
    Name(String),
    #[error("hip_rr: {0}")]
    HipRr(#[from] HipTextError),
    #[error("rendezvous name {0:?}: not a domain name")]
    RendezvousName(String),
    #[error(transparent)]
    Host(#[from] StaticHostError),
}

fn fqdn(name: &str) -> Result<Name, ()> {
    let mut n = Name::from_ascii(name).map_err(|_| ())?;
    // The configuration has no origin: every name is absolute.
    n.set_fqdn(true);
    Ok(n)
}

/// One entry, checked: its name (absolute, lower case) and the host.
pub fn static_host(h: &DnsHost) -> Result<(Name, StaticHost), DnsHostError> {
    let name = fqdn(&h.name).map_err(|()| DnsHostError::Name(h.name.clone()))?.to_lowercase();
    let rdata: HipRdata = h.hip_rr.parse()?;
    let rendezvous = h
        .rendezvous
        .iter()
        .map(|r| {
            fqdn(&r.name).map(|n| (n, r.addresses.clone())).map_err(|()| DnsHostError::RendezvousName(r.name.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let host = StaticHost::from_hip_rdata(&rdata, &h.addresses, &rendezvous, h.ttl)?;
    Ok((name, host))
}

/// The whole table, for the DNS core's configuration.
pub fn table(hosts: &[DnsHost]) -> Result<HashMap<Name, StaticHost>, DnsHostError> {
    hosts.iter().map(static_host).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DnsRendezvous;

    const RR: &str = "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

    fn host(rr: &str) -> DnsHost {
        DnsHost { name: "Www.Example".into(), hip_rr: rr.into(), addresses: vec![], rendezvous: vec![], ttl: 60 }
    }

    #[test]
    fn entries_checked_with_the_field_named() {
        let mut h = host(RR);
        h.addresses.push("192.0.2.7".parse().unwrap());
        let (name, sh) = static_host(&h).unwrap();
        assert_eq!(name.to_ascii(), "www.example.");
        assert_eq!(sh.hit[..4], [0x20, 0x01, 0x00, 0x10]);
        assert_eq!(sh.ttl, 60);

        let e = static_host(&host(RR)).unwrap_err();
        assert!(e.to_string().contains("without locator"), "{e}");
        let e = static_host(&host("2 XYZ AAAA")).unwrap_err();
        assert!(e.to_string().starts_with("hip_rr:"), "{e}");
        let mut h = host(&format!("{RR} rvs.example."));
        let e = static_host(&h).unwrap_err();
        assert!(e.to_string().contains("rvs.example."), "{e}");
        h.rendezvous.push(DnsRendezvous { name: "rvs.example".into(), addresses: vec!["192.0.2.53".parse().unwrap()] });
        assert_eq!(static_host(&h).unwrap().1.locators.len(), 1);
    }
}
