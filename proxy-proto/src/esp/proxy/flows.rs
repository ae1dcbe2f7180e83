//! The flow table of the port NAT: one entry per legacy 5-tuple toward a
//! substitute, each with a NAT port (the legacy port when free, RFC 4787
//! REQ-1's port preservation) unique among the flows to the same peer HIT
//! and remote port, so the peer's replies name their flow.
//!
//! Idle timeouts as the XDP NAT (RFC 5382 REQ-5 for TCP, RFC 4787 REQ-5
//! for UDP, RFC 5508 for ICMP echo); the table is bounded and a full table
//! refuses new flows (a counted drop), existing flows go on.
//!
//! Sharded by (peer HIT, remote port): both directions know them before
//! the lookup (outbound from the substitute's mapping and the destination
//! port, inbound from the source HIT and port), so a flow and its reverse
//! entry live under one lock, and that pair is also the domain in which a
//! NAT port must be unique, so each shard allocates on its own. Flows to
//! different ports of one HIP host do not contend.

use core::net::{IpAddr, Ipv6Addr};
use std::collections::HashMap;

use super::l4::{Kind, flags};

/// Idle timeouts in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_established: u64,
    pub tcp_transitory: u64,
    pub tcp_closed: u64,
    pub udp: u64,
    pub icmp: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp_established: 7440, tcp_transitory: 240, tcp_closed: 10, udp: 300, icmp: 60 }
    }
}

/// TCP state bits seen on a flow (as `proxy_common::nat::tcp_state`).
pub mod tcp_state {
    pub const SYN_OUT: u8 = 1 << 0;
    pub const SYN_IN: u8 = 1 << 1;
    pub const FIN_OUT: u8 = 1 << 2;
    pub const FIN_IN: u8 = 1 << 3;
    pub const RST: u8 = 1 << 4;
    pub const ESTABLISHED: u8 = 1 << 5;
}

/// The legacy side of a flow: what an outbound packet is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyKey {
    pub kind: Kind,
    pub legacy: IpAddr,
    pub legacy_port: u16,
    pub substitute: IpAddr,
    pub remote_port: u16,
}

/// The HIP side of a flow: what a reply is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HipKey {
    pub kind: Kind,
    pub peer_hit: Ipv6Addr,
    pub remote_port: u16,
    pub nat_port: u16,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub legacy: LegacyKey,
    pub local_hit: Ipv6Addr,
    pub peer_hit: Ipv6Addr,
    pub nat_port: u16,
    pub tcp_state: u8,
    pub created: u64,
    pub last_seen: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

impl Flow {
    pub fn hip_key(&self) -> HipKey {
        HipKey {
            kind: self.legacy.kind,
            peer_hit: self.peer_hit,
            remote_port: self.legacy.remote_port,
            nat_port: self.nat_port,
        }
    }

    /// Track the TCP state from a segment's flags (RFC 5382 §5).
    pub fn see_tcp(&mut self, tcp_flags: u8, outbound: bool) {
        use tcp_state::*;
        let s = &mut self.tcp_state;
        if tcp_flags & flags::RST != 0 {
            *s |= RST;
        }
        if tcp_flags & flags::SYN != 0 {
            *s |= if outbound { SYN_OUT } else { SYN_IN };
        }
        if tcp_flags & flags::FIN != 0 {
            *s |= if outbound { FIN_OUT } else { FIN_IN };
        }
        if *s & SYN_OUT != 0 && *s & SYN_IN != 0 && tcp_flags & flags::ACK != 0 && tcp_flags & flags::SYN == 0 {
            *s |= ESTABLISHED;
        }
    }

    pub fn idle_timeout(&self, t: &Timeouts) -> u64 {
        use tcp_state::*;
        match self.legacy.kind {
            Kind::Tcp => {
                let s = self.tcp_state;
                if s & RST != 0 || (s & FIN_OUT != 0 && s & FIN_IN != 0) {
                    t.tcp_closed
                } else if s & ESTABLISHED != 0 && s & (FIN_OUT | FIN_IN) == 0 {
                    t.tcp_established
                } else {
                    t.tcp_transitory
                }
            }
            Kind::Udp => t.udp,
            Kind::Echo => t.icmp,
        }
    }

    /// A short name of the TCP state, as `proxy-ctl` lists it.
    pub fn state_name(&self) -> &'static str {
        use tcp_state::*;
        let s = self.tcp_state;
        match self.legacy.kind {
            Kind::Tcp if s & RST != 0 => "reset",
            Kind::Tcp if s & FIN_OUT != 0 && s & FIN_IN != 0 => "closed",
            Kind::Tcp if s & (FIN_OUT | FIN_IN) != 0 => "closing",
            Kind::Tcp if s & ESTABLISHED != 0 => "established",
            Kind::Tcp if s & SYN_IN != 0 => "syn-received",
            Kind::Tcp => "syn-sent",
            _ => "-",
        }
    }
}

/// One shard: flows by legacy key, and the reverse index.
#[derive(Debug, Default)]
pub struct Shard {
    pub by_legacy: HashMap<LegacyKey, Flow>,
    pub by_hip: HashMap<HipKey, LegacyKey>,
    /// Where the next search for a free NAT port starts.
    cursor: u16,
}

impl Shard {
    /// A NAT port for a new flow of `key` toward `peer_hit`: the legacy
    /// port if free, else the next free one in `range`.
    pub fn allocate_port(&mut self, key: &LegacyKey, peer_hit: Ipv6Addr, range: (u16, u16)) -> Option<u16> {
        let free = |p: u16, s: &Shard| {
            !s.by_hip.contains_key(&HipKey { kind: key.kind, peer_hit, remote_port: key.remote_port, nat_port: p })
        };
        if free(key.legacy_port, self) {
            return Some(key.legacy_port);
        }
        let (lo, hi) = range;
        let span = u32::from(hi - lo) + 1;
        let start = self.cursor.clamp(lo, hi);
        for i in 0..span {
            let p = lo + ((u32::from(start - lo) + i) % span) as u16;
            if free(p, self) {
                self.cursor = if p == hi { lo } else { p + 1 };
                return Some(p);
            }
        }
        None
    }

    pub fn insert(&mut self, flow: Flow) {
        self.by_hip.insert(flow.hip_key(), flow.legacy);
        self.by_legacy.insert(flow.legacy, flow);
    }

    /// Remove flows for which `gone` holds; returns how many.
    pub fn remove_where(&mut self, mut gone: impl FnMut(&Flow) -> bool) -> usize {
        let mut n = 0;
        let by_hip = &mut self.by_hip;
        self.by_legacy.retain(|_, f| {
            if gone(f) {
                by_hip.remove(&f.hip_key());
                n += 1;
                false
            } else {
                true
            }
        });
        n
    }
}
