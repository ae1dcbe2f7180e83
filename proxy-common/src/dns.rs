//! DNS steering (issue 3): queries a legacy host sends to any resolver
//! address are steered to the proxy's own resolver by the TC programs on
//! the LAN interface, and the answers go back from the address the host
//! asked. Ports are stored in network byte order, as in the packet.

use crate::Addr16;

/// `DnsSteerConfig::flags`: IPv4 queries are steered to `resolver_v4`.
pub const STEER_F_V4: u32 = 1 << 0;
/// `DnsSteerConfig::flags`: IPv6 queries are steered to `resolver_v6`.
pub const STEER_F_V6: u32 = 1 << 1;

/// The DNS port (RFC 1035 §4.2), network byte order.
pub const DNS_PORT_BE: u16 = 53u16.to_be();

/// One entry of `DNS_STEER_CONFIG`: where the daemon's resolver listens.
/// All zero (no flag): nothing is steered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsSteerConfig {
    /// The resolver's IPv4 address (IPv4-mapped).
    pub resolver_v4: Addr16,
    /// The resolver's IPv6 address.
    pub resolver_v6: Addr16,
    /// Its ports, network byte order.
    pub port_v4_be: u16,
    pub port_v6_be: u16,
    /// `STEER_F_*`.
    pub flags: u32,
    /// The proxy's upstream resolver: its own queries are never steered
    /// (were it on the LAN, its recursion would loop back to the proxy).
    pub upstream: Addr16,
}

/// Key of `DNS_STEERED`: the legacy host's end of a steered conversation
/// (a UDP query or a TCP connection).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SteerKey {
    /// The legacy host's address.
    pub client: Addr16,
    /// Its source port, network byte order.
    pub client_port_be: u16,
    /// TCP or UDP.
    pub proto: u8,
    pub _pad: u8,
}

/// Value of `DNS_STEERED`: the resolver the legacy host asked, which the
/// answers must come from.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SteerEntry {
    /// The address the query was sent to.
    pub asked: Addr16,
    /// Its port (53), network byte order.
    pub asked_port_be: u16,
    pub _pad: [u8; 6],
}
