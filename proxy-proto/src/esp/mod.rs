//! ESP (RFC 4303) in BEET mode (RFC 7402 §3, draft-nikander-esp-beet-mode)
//! for HIP, and the pieces the datapath needs around it.
//!
//! Everything here works in place in the caller's buffer and allocates
//! nothing per packet: the AF_XDP workers hand a frame in, get a range of it
//! back.
//!
//! - [`packet`]: the ESP header view and the trailer (RFC 4303 §2).
//! - [`transform`]: the HIP ESP_TRANSFORM suites (RFC 7402 §5.1.2) and their
//!   key sizes (RFC 7402 §7).
//! - [`cipher`]: a keyed transform that seals and opens one packet.
//! - [`replay`]: the anti-replay sliding window (RFC 4303 §3.4.3, App. A).
//! - [`sa`]: outbound and inbound security associations with counters.
//! - [`beet`]: BEET encapsulation, inner header rebuild, checksum rebase.
//! - [`tunnel`]: tunnel mode (RFC 4303 §3.1.2), the whole inner packet.
//! - [`outer`]: Ethernet and outer IP headers of ESP frames (AF_XDP).
//! - [`proxy`]: the proxy's port NAT legacy host <-> HIT (the translator).
//! - [`wireshark`]: the `esp_sa` UAT line, to decrypt captures.

pub mod beet;
pub mod cipher;
pub mod error;
pub mod gro;
pub mod gso;
pub mod outer;
pub mod packet;
pub mod proxy;
pub mod replay;
pub mod sa;
pub mod transform;
pub mod tunnel;
pub mod wireshark;

#[cfg(test)]
mod thirdparty_tests;

pub use cipher::EspCipher;
pub use error::{DropReason, KeyError, SealError};
pub use packet::{Packet, Repr, Trailer};
pub use replay::ReplayWindow;
pub use sa::{InboundSa, Mode, Opened, OutboundSa, SaEvent};
pub use transform::Transform;
pub use wireshark::wireshark_esp_sa_line;
