//! The only aya code: load the eBPF object, pin its maps, attach the XDP
//! programs, and typed access to the maps.

mod bpffs;
mod dns_steer;
mod host_xdp;
pub mod ipip;
mod loader;
mod sysctl;
mod tables;
mod xsk;

pub use bpffs::ensure_bpffs;
pub use host_xdp::{HostXdp, HostXdpCounters};
pub use loader::{Datapath, DatapathError, attach_xdp_pass};
pub use tables::{FlowRecord, TableError};
