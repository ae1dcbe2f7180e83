//! The HIPv2 association layer (RFC 7401 §4.4), sans-IO in the quinn
//! style: a [`HipHost`] takes packets with [`HipHost::handle_packet`]
//! (bytes, addresses, `now`), commands ([`HipHost::initiate`],
//! [`HipHost::close`]) and timeouts ([`HipHost::handle_timeout`]), and
//! hands back packets ([`HipHost::poll_transmit`]), the next deadline
//! ([`HipHost::poll_timeout`]) and [`Event`]s ([`HipHost::poll_event`]).
//! No sockets, no clock reads, randomness injected.
//!
//! - [`config`]: what a host offers (DH groups, ciphers, ESP transforms,
//!   puzzle difficulty, timers).
//! - [`local`]: a local Host Identity with its HIT and HOST_ID parameter.
//! - [`responder`]: pre-computed, stateless R1s and the I2 cookie check
//!   (§4.1.1, §6.8, §6.9).
//! - [`association`]: the per-peer state (§4.4.2).
//! - [`host`]: the table of associations keyed by (local HIT, peer HIT),
//!   packet routing, the packet handlers.
//! - [`counters`]: rejected packets by reason.
//! - [`event`]: what the driver learns (ESTABLISHED with the ESP keys).

pub mod association;
pub mod config;
pub mod counters;
pub mod credit;
pub mod event;
mod handlers;
pub mod host;
pub mod local;
mod moved;
pub mod registration;
pub mod responder;
mod seal;
mod update_state;

pub use association::{AssocInfo, State};
pub use config::HostConfig;
pub use counters::{Counters, DropReason};
pub use credit::{Credit, CreditConfig};
pub use event::{Established, Event, FailReason, RekeyStep, Rekeyed, Transmit};
pub use host::{HipHost, InitiateError, RekeyKeying};
pub use local::LocalIdentity;
pub use registration::{RegistrarConfig, RegistrationInfo};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod thirdparty_tests;

#[cfg(test)]
mod mobility_tests;

#[cfg(test)]
mod cba_tests;

#[cfg(test)]
mod ahead_tests;

#[cfg(test)]
mod rekey_tests;
