//! The proxy's translator (RFC 7401 §1 and the seed's steps F–K): legacy
//! hosts reach HIP hosts through substitute addresses the DNS role handed
//! out; the proxy port-NATs their packets onto its own HIT toward the
//! peer's HIT, so every legacy host talking to one HIP host shares that
//! host's one BEET SA pair (RFC 7402 §3), and translates the replies back
//! with the substitute as source.
//!
//! Sans-IO and shared: no clock (`now_secs` comes in), no sockets, no
//! allocation per packet; the TUN slow path and the AF_XDP workers call
//! the same [`Translator`] from any thread (it is `Send + Sync`, the flow
//! table is sharded by peer HIT and port).
//!
//! ```text
//!  legacy host                 Translator::outbound              BEET SA
//!  L:p -> S:d   (IPv4 or IPv6) ----------------------> HIT_l:n -> HIT_p:d  (IPv6)
//!  L:p <- S:d                  <---------------------- HIT_l:n <- HIT_p:d
//!                               Translator::inbound
//! ```
//!
//! - the control plane maps each substitute S to (local HIT, peer HIT)
//!   ([`Translator::map_substitute`]) when the DNS role hands it out;
//! - the IP header is rebuilt in the other family where needed (RFC 7915
//!   §4.1/§5.1 for the fields), the transport checksum is rebased on the new
//!   pseudo-header, TCP, UDP and ICMP/ICMPv6 echo are carried (see [`l4`]);
//! - NAT port n = the legacy port when free (RFC 4787 REQ-1 port
//!   preservation), else the next free one, unique per (peer HIT, remote
//!   port); flows time out as RFC 5382/4787/5508 say ([`flows`]); the
//!   table is bounded and a full table is a counted [`Drop`];
//! - TCP SYNs get their MSS lowered to what fits the SA (optional);
//! - ICMPv6 errors from the HIP side about a flow go back to the legacy
//!   host as ICMP errors about its own packet ([`icmp_error`]);
//! - a TCP super-packet (GSO, up to 64 KiB) translates like any packet:
//!   the checksum fix is incremental, so it must carry a full checksum.
//!
//! Every refusal is a [`Drop`], counted in [`TranslatorCounters`].

mod drop;
pub mod flows;
mod icmp_error;
pub mod ip;
pub mod l4;

#[cfg(test)]
mod tests;

use core::net::{IpAddr, Ipv6Addr};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use drop::Counters;
pub use drop::{Drop, TranslatorCounters};
pub use flows::Timeouts;
use flows::{Flow, HipKey, LegacyKey, Shard};
use l4::{Endpoints, Kind};

/// Shards of the flow table (a power of two).
const SHARDS: usize = 16;

/// How the translator is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatorConfig {
    /// Bound on the flows alive at once.
    pub max_flows: usize,
    pub timeouts: Timeouts,
    /// NAT ports to pick from when the legacy port is taken (inclusive).
    pub nat_ports: (u16, u16),
    /// Lower the MSS option of TCP SYNs, both ways, to this.
    pub mss_clamp: Option<u16>,
}

impl Default for TranslatorConfig {
    fn default() -> Self {
        TranslatorConfig { max_flows: 65536, timeouts: Timeouts::default(), nat_ports: (1024, 65535), mss_clamp: None }
    }
}

/// What a substitute stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub local_hit: Ipv6Addr,
    pub peer_hit: Ipv6Addr,
}

/// One flow, as `proxy-ctl` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInfo {
    /// "tcp", "udp" or "icmp".
    pub protocol: &'static str,
    pub legacy: IpAddr,
    pub legacy_port: u16,
    pub substitute: IpAddr,
    pub remote_port: u16,
    pub local_hit: Ipv6Addr,
    pub peer_hit: Ipv6Addr,
    pub nat_port: u16,
    /// TCP state name ("-" for others).
    pub state: &'static str,
    pub created_secs: u64,
    pub last_seen_secs: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

/// The port NAT between legacy hosts and HITs. See the module doc.
#[derive(Debug)]
pub struct Translator {
    cfg: TranslatorConfig,
    mappings: RwLock<HashMap<IpAddr, Mapping>>,
    shards: [Mutex<Shard>; SHARDS],
    active: AtomicUsize,
    /// IPv4 Identification of translated packets (RFC 6864: unique per
    /// source/destination/protocol while in flight; a counter is).
    ident: AtomicU16,
    counters: Counters,
}

impl Translator {
    pub fn new(cfg: TranslatorConfig) -> Self {
        Translator {
            cfg,
            mappings: RwLock::new(HashMap::new()),
            shards: Default::default(),
            active: AtomicUsize::new(0),
            ident: AtomicU16::new(1),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &TranslatorConfig {
        &self.cfg
    }

    /// substitute -> (local HIT, peer HIT): set by the control plane when
    /// the DNS role hands the substitute out. Flows of an earlier mapping of
    /// the same substitute to another peer are forgotten.
    pub fn map_substitute(&self, substitute: IpAddr, local_hit: Ipv6Addr, peer_hit: Ipv6Addr) {
        let new = Mapping { local_hit, peer_hit };
        let old = self.write_mappings().insert(substitute, new);
        if old.is_some_and(|o| o != new) {
            self.remove_flows(|f| f.legacy.substitute == substitute);
        }
    }

    /// Forget a substitute and its flows.
    pub fn unmap_substitute(&self, substitute: IpAddr) {
        if self.write_mappings().remove(&substitute).is_some() {
            self.remove_flows(|f| f.legacy.substitute == substitute);
        }
    }

    /// The mapping of `substitute`, if any.
    pub fn mapping(&self, substitute: IpAddr) -> Option<Mapping> {
        self.mappings.read().unwrap_or_else(|e| e.into_inner()).get(&substitute).copied()
    }

    /// Every mapping.
    pub fn mappings(&self) -> Vec<(IpAddr, Mapping)> {
        let mut v: Vec<_> =
            self.mappings.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(s, m)| (*s, *m)).collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }

    /// A legacy host's packet (starting at the IP header) to a substitute
    /// -> the same datagram as an IPv6 packet HIT -> HIT, port-NATed,
    /// written to `out`. Returns its length.
    pub fn outbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Result<usize, Drop> {
        self.try_outbound(pkt, now_secs, out).map_err(|d| self.counters.count(d))
    }

    /// An opened BEET packet (IPv6 HIT -> HIT, starting at the IP header)
    /// -> the legacy host's packet (source = its substitute), written to
    /// `out`. Returns its length.
    pub fn inbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Result<usize, Drop> {
        self.try_inbound(pkt, now_secs, out).map_err(|d| self.counters.count(d))
    }

    pub fn counters(&self) -> TranslatorCounters {
        self.counters.snapshot(self.active.load(Ordering::Relaxed) as u64)
    }

    /// Every flow, sorted by legacy address and port.
    pub fn flows(&self) -> Vec<FlowInfo> {
        let mut v = Vec::new();
        for s in &self.shards {
            let s = lock(s);
            v.extend(s.by_legacy.values().map(|f| FlowInfo {
                protocol: f.legacy.kind.name(),
                legacy: f.legacy.legacy,
                legacy_port: f.legacy.legacy_port,
                substitute: f.legacy.substitute,
                remote_port: f.legacy.remote_port,
                local_hit: f.local_hit,
                peer_hit: f.peer_hit,
                nat_port: f.nat_port,
                state: f.state_name(),
                created_secs: f.created,
                last_seen_secs: f.last_seen,
                packets_out: f.packets_out,
                bytes_out: f.bytes_out,
                packets_in: f.packets_in,
                bytes_in: f.bytes_in,
            }));
        }
        v.sort_by_key(|f| (f.legacy, f.legacy_port, f.substitute, f.remote_port, f.protocol));
        v
    }

    /// Forget flows idle past their timeout; returns how many.
    pub fn expire(&self, now_secs: u64) -> usize {
        let t = self.cfg.timeouts;
        let n = self.remove_flows(|f| now_secs.saturating_sub(f.last_seen) >= f.idle_timeout(&t));
        self.counters.flows_expired.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    fn try_outbound(&self, pkt: &[u8], now: u64, out: &mut [u8]) -> Result<usize, Drop> {
        let h = ip::parse(pkt)?;
        let m = self.mapping(h.dst).ok_or(Drop::NoMapping)?;
        if matches!((h.proto, h.dst), (l4::PROTO_ICMP, IpAddr::V6(_)) | (l4::PROTO_ICMPV6, IpAddr::V4(_))) {
            return Err(Drop::NotTranslatable);
        }
        let l4 = &pkt[h.l4.clone()];
        let seg = l4::parse(h.proto, l4, true)?;
        let key = LegacyKey {
            kind: seg.kind,
            legacy: h.src,
            legacy_port: seg.src_port,
            substitute: h.dst,
            remote_port: seg.dst_port,
        };
        let nat_port = {
            let mut shard = self.shard(m.peer_hit, key.remote_port);
            let stale =
                shard.by_legacy.get(&key).is_some_and(|f| f.peer_hit != m.peer_hit || f.local_hit != m.local_hit);
            if stale {
                let n = shard.remove_where(|f| f.legacy == key);
                self.active.fetch_sub(n, Ordering::Relaxed);
            }
            if !shard.by_legacy.contains_key(&key) {
                // RFC 5382 §3: a TCP flow starts with a SYN; a stray segment
                // gets no NAT port (the peer would only reset it).
                if seg.kind == Kind::Tcp && seg.tcp_flags & (l4::flags::SYN | l4::flags::ACK) != l4::flags::SYN {
                    return Err(Drop::NoFlow);
                }
                self.create(&mut shard, key, m, now)?;
            }
            let f = shard.by_legacy.get_mut(&key).ok_or(Drop::NoFlow)?;
            f.last_seen = now;
            f.packets_out += 1;
            f.bytes_out += l4.len() as u64;
            if seg.kind == Kind::Tcp {
                f.see_tcp(seg.tcp_flags, true);
            }
            f.nat_port
        };
        let dst = IpAddr::V6(m.peer_hit);
        let len = ip::IPV6_HEADER_LEN + l4.len();
        if l4.len() > ip::max_l4_len(dst) || out.len() < len {
            return Err(Drop::NoRoom);
        }
        let hdr = ip::Header {
            src: IpAddr::V6(m.local_hit),
            dst,
            proto: seg.kind.proto(true),
            ttl: h.ttl,
            tos: h.tos,
            l4: ip::IPV6_HEADER_LEN..len,
        };
        ip::emit(out, &hdr, 0);
        let old = Endpoints { src: h.src, dst: h.dst, src_port: seg.src_port, dst_port: seg.dst_port };
        let new = Endpoints { src: IpAddr::V6(m.local_hit), dst, src_port: nat_port, dst_port: seg.dst_port };
        if l4::rewrite(&seg, l4, &mut out[ip::IPV6_HEADER_LEN..len], &old, &new, self.cfg.mss_clamp)? {
            Counters::inc(&self.counters.mss_clamped);
        }
        Counters::inc(&self.counters.outbound);
        Ok(len)
    }

    fn create(&self, shard: &mut Shard, key: LegacyKey, m: Mapping, now: u64) -> Result<(), Drop> {
        if self.active.fetch_add(1, Ordering::Relaxed) >= self.cfg.max_flows {
            self.active.fetch_sub(1, Ordering::Relaxed);
            return Err(Drop::FlowTableFull);
        }
        let Some(nat_port) = shard.allocate_port(&key, m.peer_hit, self.cfg.nat_ports) else {
            self.active.fetch_sub(1, Ordering::Relaxed);
            return Err(Drop::FlowTableFull);
        };
        shard.insert(Flow {
            legacy: key,
            local_hit: m.local_hit,
            peer_hit: m.peer_hit,
            nat_port,
            tcp_state: 0,
            created: now,
            last_seen: now,
            packets_out: 0,
            bytes_out: 0,
            packets_in: 0,
            bytes_in: 0,
        });
        Counters::inc(&self.counters.flows_created);
        Ok(())
    }

    fn try_inbound(&self, pkt: &[u8], now: u64, out: &mut [u8]) -> Result<usize, Drop> {
        let h = ip::parse(pkt)?;
        let (IpAddr::V6(peer_hit), IpAddr::V6(local_hit)) = (h.src, h.dst) else {
            return Err(Drop::NotTranslatable);
        };
        if h.proto == l4::PROTO_ICMP {
            return Err(Drop::NotTranslatable);
        }
        let l4 = &pkt[h.l4.clone()];
        if h.proto == l4::PROTO_ICMPV6 && l4.first().is_some_and(|&t| icmp_error::is_error(t)) {
            return self.inbound_error(&h, l4, out);
        }
        let seg = l4::parse(h.proto, l4, false)?;
        let hip_key = match seg.kind {
            Kind::Echo => HipKey { kind: seg.kind, peer_hit, remote_port: 0, nat_port: seg.src_port },
            _ => HipKey { kind: seg.kind, peer_hit, remote_port: seg.src_port, nat_port: seg.dst_port },
        };
        let key = {
            let mut shard = self.shard(peer_hit, hip_key.remote_port);
            let key = *shard.by_hip.get(&hip_key).ok_or(Drop::NoFlow)?;
            let f = shard.by_legacy.get_mut(&key).ok_or(Drop::NoFlow)?;
            if f.local_hit != local_hit {
                return Err(Drop::NoFlow);
            }
            f.last_seen = now;
            f.packets_in += 1;
            f.bytes_in += l4.len() as u64;
            if seg.kind == Kind::Tcp {
                f.see_tcp(seg.tcp_flags, false);
            }
            key
        };
        let hdr = ip::header_len(key.legacy);
        let len = hdr + l4.len();
        if l4.len() > ip::max_l4_len(key.legacy) || out.len() < len {
            return Err(Drop::NoRoom);
        }
        let ident = self.ident.fetch_add(1, Ordering::Relaxed);
        let proto = seg.kind.proto(key.legacy.is_ipv6());
        let out_hdr = ip::Header { src: key.substitute, dst: key.legacy, proto, ttl: h.ttl, tos: h.tos, l4: hdr..len };
        ip::emit(out, &out_hdr, ident);
        let old = Endpoints { src: h.src, dst: h.dst, src_port: seg.src_port, dst_port: seg.dst_port };
        let new =
            Endpoints { src: key.substitute, dst: key.legacy, src_port: key.remote_port, dst_port: key.legacy_port };
        if l4::rewrite(&seg, l4, &mut out[hdr..len], &old, &new, self.cfg.mss_clamp)? {
            Counters::inc(&self.counters.mss_clamped);
        }
        Counters::inc(&self.counters.inbound);
        Ok(len)
    }

    /// An ICMPv6 error about one of our flows -> the legacy host's error.
    fn inbound_error(&self, h: &ip::Header, l4: &[u8], out: &mut [u8]) -> Result<usize, Drop> {
        let hip_key = icmp_error::inner_key(h, l4)?;
        let key = {
            let shard = self.shard(hip_key.peer_hit, hip_key.remote_port);
            let key = *shard.by_hip.get(&hip_key).ok_or(Drop::NoFlow)?;
            let f = shard.by_legacy.get(&key).ok_or(Drop::NoFlow)?;
            if IpAddr::V6(f.local_hit) != h.dst {
                return Err(Drop::NoFlow);
            }
            key
        };
        let ident = self.ident.fetch_add(1, Ordering::Relaxed);
        let n = icmp_error::translate(h, l4, &key, ident, out)?;
        Counters::inc(&self.counters.icmp_errors);
        Ok(n)
    }

    /// The shard of the flows between `peer_hit`:`remote_port` and us.
    fn shard(&self, peer_hit: Ipv6Addr, remote_port: u16) -> MutexGuard<'_, Shard> {
        let x = u128::from(peer_hit) ^ u128::from(remote_port);
        let h = (x ^ (x >> 64) ^ (x >> 32) ^ (x >> 16) ^ (x >> 8)) as usize;
        lock(&self.shards[h & (SHARDS - 1)])
    }

    fn remove_flows(&self, gone: impl Fn(&Flow) -> bool) -> usize {
        let mut n = 0;
        for s in &self.shards {
            n += lock(s).remove_where(&gone);
        }
        self.active.fetch_sub(n, Ordering::Relaxed);
        n
    }

    fn write_mappings(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Mapping>> {
        self.mappings.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A poisoned shard is still consistent (no operation panics half-way
/// through an update), so keep using it.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
