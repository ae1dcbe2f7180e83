//! ESP in the daemon: the SA store every role shares, and the data paths
//! that move packets through it.
//!
//! - [`spec`]: an SA as config, CLI and HIP driver describe it.
//! - [`table`]: the SA store and the in-process API (install a pair, move
//!   outer addresses, remove, list, export keys).
//! - [`counters`]: engine-wide counters.
//! - [`host`]: the `host`/`mn` data path: a TUN device for local
//!   applications, ESP on raw IP protocol 50 sockets.

pub mod counters;
pub mod host;
pub mod spec;
pub mod table;

pub use spec::{Direction, ModeName, SaSpec, ValidSa};
pub use table::{SaError, SaInfo, SaTable};
