//! Typed operations on the datapath's maps: mappings, NAT flows, counters.

use std::net::IpAddr;

use aya::maps::MapError;
use proxy_common::{
    counters::Counter,
    ipproto,
    maps::{NAT_FLOWS_MAX, SUBSTITUTES_MAX},
    nat::{FlowEntry, FlowKey, MAPPING_F_ACTIVE, MAPPING_F_HIP, Mapping, ReplyKey},
};

use super::Datapath;
use crate::{
    mapping_rules::MappingError,
    net::{from_addr16, to_addr16},
};

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("map operation failed: {0}")]
    Map(#[from] MapError),
}

/// One NAT flow as read from the maps.
#[derive(Debug, Clone, Copy)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub entry: FlowEntry,
}

const BPF_NOEXIST: u64 = 1;

fn is_errno(e: &MapError, errno: i32) -> bool {
    matches!(e, MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(errno))
}

impl Datapath {
    pub fn mapping_add(&mut self, substitute: IpAddr, peer: IpAddr) -> Result<(), TableError> {
        self.mapping_insert(substitute, Mapping { peer: to_addr16(peer), flags: MAPPING_F_ACTIVE, _pad: 0 })
    }

    /// A substitute that stands for the HIP host `peer_hit`: XDP passes its
    /// packets to the kernel, which routes them into the proxy's ESP path.
    pub fn mapping_add_hip(&mut self, substitute: IpAddr, peer_hit: std::net::Ipv6Addr) -> Result<(), TableError> {
        let value = Mapping { peer: to_addr16(IpAddr::V6(peer_hit)), flags: MAPPING_F_ACTIVE | MAPPING_F_HIP, _pad: 0 };
        self.mapping_insert(substitute, value)
    }

    fn mapping_insert(&mut self, substitute: IpAddr, value: Mapping) -> Result<(), TableError> {
        match self.substitutes.insert(to_addr16(substitute), value, BPF_NOEXIST) {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::EEXIST) => Err(MappingError::Duplicate(substitute).into()),
            Err(e) if is_errno(&e, libc::E2BIG) || is_errno(&e, libc::ENOMEM) => {
                Err(MappingError::TableFull(SUBSTITUTES_MAX).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a mapping and the NAT flows through it (their packets would
    /// otherwise keep going to a peer nobody maps to any more).
    pub fn mapping_del(&mut self, substitute: IpAddr) -> Result<usize, TableError> {
        let key = to_addr16(substitute);
        match self.substitutes.remove(&key) {
            Ok(()) => {}
            Err(e) if is_errno(&e, libc::ENOENT) || matches!(e, MapError::KeyNotFound) => {
                return Err(MappingError::NotFound(substitute).into());
            }
            Err(e) => return Err(e.into()),
        }
        let doomed: Vec<FlowRecord> = self.flows()?.into_iter().filter(|f| f.key.dst == key).collect();
        for f in &doomed {
            self.remove_flow(f);
        }
        Ok(doomed.len())
    }

    pub fn mappings(&self) -> Result<Vec<(IpAddr, Mapping)>, TableError> {
        let mut v = Vec::new();
        for item in self.substitutes.iter() {
            let (k, m) = item?;
            v.push((from_addr16(k), m));
        }
        v.sort_by_key(|(a, _)| *a);
        Ok(v)
    }

    pub fn flows(&self) -> Result<Vec<FlowRecord>, TableError> {
        let mut v = Vec::new();
        for item in self.flows.iter() {
            match item {
                Ok((key, entry)) => v.push(FlowRecord { key, entry }),
                // Deleted by the GC or the datapath between key and value reads.
                Err(MapError::KeyNotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(v)
    }

    /// Remove a flow and the reply key that reserves its proxy port.
    pub fn remove_flow(&mut self, f: &FlowRecord) {
        let peer_port_be = if f.key.proto == ipproto::TCP || f.key.proto == ipproto::UDP { f.key.dport_be } else { 0 };
        let rkey = ReplyKey {
            peer: f.entry.peer,
            peer_port_be,
            nat_port_be: f.entry.nat_port_be,
            proto: f.key.proto,
            _pad: [0; 3],
        };
        // Either may already be gone (a racing delete): nothing to do then.
        let _ = self.replies.remove(&rkey);
        let _ = self.flows.remove(&f.key);
    }

    /// Sum of each counter over all CPUs, in `Counter` order.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>, TableError> {
        let mut v = Vec::with_capacity(Counter::ALL.len());
        for c in Counter::ALL {
            let per_cpu = self.counters.get(&(c as u32), 0)?;
            v.push((c, per_cpu.iter().sum()));
        }
        Ok(v)
    }

    pub const fn flows_max() -> u32 {
        NAT_FLOWS_MAX
    }

    pub const fn mappings_max() -> u32 {
        SUBSTITUTES_MAX
    }
}
