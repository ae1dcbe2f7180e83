//! HIP glue of the control plane that is not a daemon driver: the `[hip]`
//! configuration section and Host Identity files.

pub mod config;
pub mod identity;

pub use config::{HipPeer, HipRole, HipSection, Mobility};
