//! ESP in the daemon: the SA store every role shares, and the data paths
//! that move packets through it.
//!
//! - [`spec`]: an SA as config, CLI and HIP driver describe it.
//! - [`table`]: the SA store and the in-process API (install a pair, move
//!   outer addresses, remove, list, export keys).
//! - [`counters`]: engine-wide counters.
//! - [`host`]: the `host`/`mn` data path: a TUN device for local
//!   applications, ESP on raw IP protocol 50 sockets.
//! - [`afxdp`]: the proxy's fast path: AF_XDP workers, one per queue,
//!   sealing and opening the flows `xdp_proxy` steers to them.
//! - [`tunnel_hook`]: what the mobile VPN's roles decide per opened tunnel
//!   packet (Mobile IP messages to their control plane, IP-in-IP strip).

pub mod afxdp;
pub mod counters;
pub mod host;
pub mod spec;
pub mod table;
pub mod tunnel_hook;

pub use spec::{Direction, ModeName, SaSpec, ValidSa};
pub use table::{SaError, SaInfo, SaTable};
