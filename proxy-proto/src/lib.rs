//! Sans-IO protocol cores: every state machine here takes bytes, events and
//! the current time, and returns bytes to send, actions and timers. No
//! sockets, no tokio, no clock reads, no BPF: those live in `proxy-ctl`.
#![forbid(unsafe_code)]

pub mod checksum;
/// DNS interception: the HIP resource record (RFC 8005) and the rewrite core.
pub mod dns;
/// ESP (RFC 4303) in BEET mode (RFC 7402): transforms, anti-replay, SAs.
pub mod esp;
/// HIPv2 (RFC 7401): packet format, crypto, association state machines.
pub mod hip;
/// Byte offsets of the fixed IPv4, IPv6, TCP and UDP header fields.
pub mod ip_fields;
/// Mobile VPN: Mobile IPv4 (RFC 5944), the security information update.
pub mod vpn;
