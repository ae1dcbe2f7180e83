//! Every map of the datapath (names and sizes: proxy_common::maps). The
//! state maps are pinned by name, so mappings and NAT flows survive a
//! daemon restart.

use crate::packet::Scratch;
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray},
};
use proxy_common::{
    Addr16,
    config::DatapathConfig,
    counters::Counter,
    maps::{NAT_FLOWS_MAX, SUBSTITUTES_MAX},
    nat::{FlowEntry, FlowKey, Mapping, ReplyKey},
};

#[map]
pub static SUBSTITUTES: HashMap<Addr16, Mapping> = HashMap::pinned(SUBSTITUTES_MAX, 0);

#[map]
pub static NAT_FLOWS: HashMap<FlowKey, FlowEntry> = HashMap::pinned(NAT_FLOWS_MAX, 0);

#[map]
pub static NAT_REPLIES: HashMap<ReplyKey, FlowKey> = HashMap::pinned(NAT_FLOWS_MAX, 0);

#[map]
pub static CONFIG: Array<DatapathConfig> = Array::pinned(1, 0);

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(Counter::COUNT, 0);

/// Per-CPU scratch space (one entry): XDP runs to completion on a CPU, so
/// one slot per CPU is never shared.
#[map]
pub static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub fn count(c: Counter) {
    if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
        // Per-CPU slot: no other CPU writes it, a plain add is enough.
        unsafe { *p += 1 };
    }
}

/// The XDP verdict of a handler: its action, or a counted drop.
#[inline(always)]
pub fn verdict(r: Result<u32, Counter>) -> u32 {
    match r {
        Ok(action) => action,
        Err(reason) => {
            count(reason);
            aya_ebpf::bindings::xdp_action::XDP_DROP
        }
    }
}
