//! Creating a NAT flow: pick a free proxy port and record both directions.
//!
//! The port is reserved by inserting the reply key with BPF_NOEXIST, which
//! is atomic across CPUs: two flows can never get the same (peer, peer
//! port, proxy port, protocol). Ports only need to be unique per peer
//! address/port (endpoint-dependent mapping), so one proxy address serves
//! far more than 64k flows.

use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_get_prandom_u32, helpers::bpf_ktime_get_ns};
use proxy_common::{
    Addr16,
    config::DatapathConfig,
    counters::Counter,
    nat::{FlowEntry, FlowKey, ReplyKey},
};

use crate::maps::{NAT_FLOWS, NAT_REPLIES, count};

/// Random probes before giving up: with a port range of n and k ports in
/// use toward one peer endpoint, all probes fail with probability
/// (k/n)^16, negligible until the range is nearly full.
const PORT_PROBES: u32 = 16;
const EEXIST: i32 = 17;

/// Returns the new flow's entry, or null after counting why there is none
/// (the caller then drops the packet). Not inlined: own stack frame.
#[inline(never)]
pub fn create(key: &FlowKey, peer: &Addr16, cfg: &DatapathConfig) -> *mut FlowEntry {
    match try_create(key, peer, cfg) {
        Ok(e) => e,
        Err(reason) => {
            count(reason);
            core::ptr::null_mut()
        }
    }
}

#[inline(always)]
fn try_create(key: &FlowKey, peer: &Addr16, cfg: &DatapathConfig) -> Result<*mut FlowEntry, Counter> {
    let range = cfg.port_range();
    if range == 0 {
        return Err(Counter::DropPortsExhausted);
    }
    let mut rkey = ReplyKey { peer: *peer, peer_port_be: key.dport_be, nat_port_be: 0, proto: key.proto, _pad: [0; 3] };
    let mut reserved = false;
    let mut i = 0;
    while i < PORT_PROBES {
        let port = cfg.port_min as u32 + unsafe { bpf_get_prandom_u32() } % range;
        rkey.nat_port_be = (port as u16).to_be();
        match NAT_REPLIES.insert(&rkey, key, BPF_NOEXIST as u64) {
            Ok(()) => {
                reserved = true;
                break;
            }
            Err(e) if e == -EEXIST => {}
            Err(_) => return Err(Counter::DropFlowTableFull),
        }
        i += 1;
    }
    if !reserved {
        return Err(Counter::DropPortsExhausted);
    }
    let now = unsafe { bpf_ktime_get_ns() };
    let entry = FlowEntry {
        peer: *peer,
        nat_port_be: rkey.nat_port_be,
        tcp_state: 0,
        _pad: [0; 5],
        created_ns: now,
        last_seen_ns: now,
        packets_out: 0,
        bytes_out: 0,
        packets_in: 0,
        bytes_in: 0,
    };
    match NAT_FLOWS.insert(key, &entry, BPF_NOEXIST as u64) {
        Ok(()) => count(Counter::NatFlowCreated),
        // Another CPU created the same flow a moment ago: use theirs.
        Err(e) if e == -EEXIST => {
            let _ = NAT_REPLIES.remove(&rkey);
        }
        Err(_) => {
            let _ = NAT_REPLIES.remove(&rkey);
            return Err(Counter::DropFlowTableFull);
        }
    }
    NAT_FLOWS.get_ptr_mut(key).ok_or(Counter::DropFlowTableFull)
}
