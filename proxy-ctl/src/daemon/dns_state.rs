//! What the DNS role shares with the control socket: the substitutes it
//! handed out (for `mapping list`) and its counters (for `stats`).

use std::{collections::BTreeMap, net::IpAddr, time::Instant};

use proxy_proto::dns::{FailReason, Locator, MappingEvent};

use crate::control::CounterInfo;

/// A substitute handed out by the DNS role.
#[derive(Debug, Clone)]
pub struct DnsMapping {
    /// The name the legacy host asked.
    pub name: String,
    /// The HIP host's HIT.
    pub hit: [u8; 16],
    pub locators: Vec<Locator>,
    /// When the pool may free it (unless flows pin it).
    pub expiry: Instant,
    /// Live NAT flows at the last refresh.
    pub flows: u32,
}

/// The DNS role's counters; names are what `proxy-ctl stats` shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct DnsCounters {
    pub queries_udp: u64,
    pub queries_tcp: u64,
    pub queries_malformed: u64,
    pub answered_substitute: u64,
    pub answered_substitute_cached: u64,
    pub passed: u64,
    pub refused: u64,
    pub servfail: u64,
    pub servfail_upstream_timeout: u64,
    pub servfail_upstream_error: u64,
    pub servfail_malformed_upstream: u64,
    pub servfail_pool_exhausted: u64,
    pub servfail_other: u64,
    pub upstream_answers_dropped: u64,
    pub upstream_send_errors: u64,
    pub mappings_installed: u64,
    pub mappings_expired: u64,
}

impl DnsCounters {
    pub fn list(&self) -> Vec<CounterInfo> {
        let c = |name: &str, value: u64| CounterInfo { name: format!("dns_{name}"), value };
        vec![
            c("queries_udp", self.queries_udp),
            c("queries_tcp", self.queries_tcp),
            c("queries_malformed", self.queries_malformed),
            c("answered_substitute", self.answered_substitute),
            c("answered_substitute_cached", self.answered_substitute_cached),
            c("passed", self.passed),
            c("refused", self.refused),
            c("servfail", self.servfail),
            c("servfail_upstream_timeout", self.servfail_upstream_timeout),
            c("servfail_upstream_error", self.servfail_upstream_error),
            c("servfail_malformed_upstream", self.servfail_malformed_upstream),
            c("servfail_pool_exhausted", self.servfail_pool_exhausted),
            c("servfail_other", self.servfail_other),
            c("upstream_answers_dropped", self.upstream_answers_dropped),
            c("upstream_send_errors", self.upstream_send_errors),
            c("mappings_installed", self.mappings_installed),
            c("mappings_expired", self.mappings_expired),
        ]
    }

    /// Count one SERVFAIL by its reason.
    pub fn servfail(&mut self, reason: &FailReason) {
        self.servfail += 1;
        match reason {
            FailReason::UpstreamTimeout => self.servfail_upstream_timeout += 1,
            FailReason::UpstreamRcode(_) => self.servfail_upstream_error += 1,
            FailReason::MalformedUpstream | FailReason::MalformedHip(_) | FailReason::UnsupportedHit(_) => {
                self.servfail_malformed_upstream += 1
            }
            FailReason::Pool(proxy_proto::dns::PoolError::Exhausted(_)) => self.servfail_pool_exhausted += 1,
            _ => self.servfail_other += 1,
        }
    }
}

/// The DNS role's shared state.
#[derive(Debug, Default)]
pub struct DnsState {
    pub mappings: BTreeMap<IpAddr, DnsMapping>,
    pub counters: DnsCounters,
    /// HIT -> the locator the HIP association uses now (seed step H.1:
    /// the host's real address, not its rendezvous server's; follows
    /// UPDATEs). Fed by `hip_mapping`.
    pub active: std::collections::HashMap<[u8; 16], IpAddr>,
}

impl DnsState {
    /// A substitute was (re)handed out: remember it, keeping the later expiry.
    pub fn mapped(&mut self, m: &MappingEvent) {
        let e = self.mappings.entry(m.substitute).or_insert_with(|| DnsMapping {
            name: m.name.to_ascii(),
            hit: m.hit,
            locators: m.locators.clone(),
            expiry: m.expiry,
            flows: 0,
        });
        e.name = m.name.to_ascii();
        e.locators = m.locators.clone();
        e.expiry = e.expiry.max(m.expiry);
    }
}

/// A HIT in the IPv6 address notation ORCHIDs are written in (RFC 7343).
pub fn hit_text(hit: &[u8; 16]) -> String {
    std::net::Ipv6Addr::from(*hit).to_string()
}

/// A locator for humans: an address, or "rvs NAME (ADDR, ...)".
pub fn locator_text(l: &Locator) -> String {
    match l {
        Locator::Address(a) => a.to_string(),
        Locator::RendezvousServer { name, addresses } => {
            let a: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
            format!("rvs {} ({})", name.to_ascii(), a.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hickory_proto::rr::Name;
    use proxy_proto::dns::{Family, HostIdentity, PkAlgorithm, PoolError};

    use super::*;

    fn event(expiry: Instant) -> MappingEvent {
        MappingEvent {
            name: Name::from_ascii("hip.example.").unwrap(),
            hit: [0x20, 0x01, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x78],
            host_identity: HostIdentity { algorithm: PkAlgorithm::Rsa, public_key: vec![3, 1, 0, 1] },
            locators: vec![
                Locator::Address("192.0.2.10".parse().unwrap()),
                Locator::RendezvousServer {
                    name: Name::from_ascii("rvs.example.").unwrap(),
                    addresses: vec!["192.0.2.53".parse().unwrap(), "2001:db8::53".parse().unwrap()],
                },
            ],
            substitute: "100.64.0.1".parse().unwrap(),
            expiry,
        }
    }

    #[test]
    fn a_repeated_mapping_keeps_the_later_expiry() {
        let t0 = Instant::now();
        let mut st = DnsState::default();
        st.mapped(&event(t0 + Duration::from_secs(300)));
        st.mapped(&event(t0 + Duration::from_secs(60)));
        let m = &st.mappings[&"100.64.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(m.expiry, t0 + Duration::from_secs(300));
        assert_eq!(m.name, "hip.example.");
        assert_eq!(hit_text(&m.hit), "2001:10::78");
        let shown: Vec<String> = m.locators.iter().map(locator_text).collect();
        assert_eq!(shown, ["192.0.2.10", "rvs rvs.example. (192.0.2.53, 2001:db8::53)"]);
    }

    #[test]
    fn servfail_counted_by_cause() {
        let mut c = DnsCounters::default();
        c.servfail(&FailReason::UpstreamTimeout);
        c.servfail(&FailReason::Pool(PoolError::Exhausted(Family::V4)));
        c.servfail(&FailReason::MalformedUpstream);
        c.servfail(&FailReason::ChainTooLong);
        let list = c.list();
        let get = |n: &str| list.iter().find(|c| c.name == n).unwrap().value;
        assert_eq!(get("dns_servfail"), 4);
        assert_eq!(get("dns_servfail_upstream_timeout"), 1);
        assert_eq!(get("dns_servfail_pool_exhausted"), 1);
        assert_eq!(get("dns_servfail_malformed_upstream"), 1);
        assert_eq!(get("dns_servfail_other"), 1);
    }
}
