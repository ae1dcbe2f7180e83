//! The HIP proxy's control plane: daemon, CLI, and the glue between the
//! sans-IO protocol cores (proxy-proto) and the eBPF datapath.

pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod datapath;
pub mod dns_hosts;
pub mod esp;
pub mod flow_timeout;
pub mod hip;
pub mod mapping_rules;
pub mod net;
pub mod sched;
pub mod vpn;
