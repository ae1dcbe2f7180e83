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
