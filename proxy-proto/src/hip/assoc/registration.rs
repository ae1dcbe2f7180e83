//! Registration with a registrar (RFC 8003) for the rendezvous service
//! (RFC 8004): what a registrar grants, what a client holds, and the
//! 8-bit lifetime encoding of RFC 8003 §4.1.

use std::collections::HashSet;
use std::time::Instant;

use core::net::{IpAddr, Ipv6Addr};
use core::time::Duration;

use crate::hip::crypto::Hit;

pub use crate::hip::wire::param::registration::REG_TYPE_RENDEZVOUS;

/// REG_FAILED Failure Type 0: registration requires additional
/// credentials (RFC 8003 §4.3): the HIT is not on our list.
pub const FAILURE_CREDENTIALS: u8 = 0;
/// REG_FAILED Failure Type 1: registration type unavailable.
pub const FAILURE_TYPE_UNAVAILABLE: u8 = 1;

/// The lifetime an 8-bit value stands for: 2^((value - 64) / 8) seconds
/// (RFC 8003 §4.1). 0 cancels.
pub fn lifetime_duration(value: u8) -> Duration {
    if value == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(2f64.powf((f64::from(value) - 64.0) / 8.0))
}

/// The smallest 8-bit lifetime value covering at least `d`, saturating
/// at 255 (about 178 days); the inverse of [`lifetime_duration`].
pub fn lifetime_value(d: Duration) -> u8 {
    (1..=255u8).find(|&v| lifetime_duration(v) >= d).unwrap_or(255)
}

/// What a registrar (the `rvs` role) accepts.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// HITs allowed to register (None: anyone who completes a base
    /// exchange; a production RVS lists its clients).
    pub allowed: Option<HashSet<Hit>>,
    /// Shortest lifetime granted (REG_INFO Min Lifetime, 8-bit encoding).
    pub min_lifetime: u8,
    /// Longest lifetime granted (REG_INFO Max Lifetime).
    pub max_lifetime: u8,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        // 2^((96 - 64) / 8) = 16 s up to 2^((160 - 64) / 8) = 4096 s.
        RegistrarConfig { allowed: None, min_lifetime: 96, max_lifetime: 160 }
    }
}

/// A registration a registrar holds for a client (RFC 8003 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Granted {
    pub lifetime: u8,
    pub expires: Instant,
    pub since: Instant,
}

/// A registration a client holds with its registrar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    /// Lifetime to ask for.
    pub wanted: u8,
    /// Lifetime granted, expiry, and when to refresh (None: not granted yet).
    pub granted: Option<(u8, Instant)>,
    pub refresh_at: Option<Instant>,
    /// Locator pairs to start over with when the association is gone.
    pub paths: Vec<(IpAddr, IpAddr)>,
}

/// One row of `proxy-ctl rvs list` (registrar) or of a client's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// The client's HIT (registrar side) or the registrar's (client side).
    pub peer_hit: Hit,
    /// The peer's current locator, from the association.
    pub locator: Option<IpAddr>,
    /// Granted lifetime, 8-bit encoding (0: not granted).
    pub lifetime: u8,
    /// Time left (zero when expired or not granted).
    pub remaining: Duration,
    /// Whether we are the registrar.
    pub registrar: bool,
}

/// An address as it goes into FROM, VIA_RVS and LOCATOR_SET: IPv4 as
/// IPv4-mapped IPv6.
pub(super) fn to_wire(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The reverse of [`to_wire`].
pub(super) fn from_wire(a: Ipv6Addr) -> IpAddr {
    match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_encoding() {
        assert_eq!(lifetime_duration(64), Duration::from_secs(1));
        assert_eq!(lifetime_duration(96), Duration::from_secs(16));
        assert_eq!(lifetime_duration(0), Duration::ZERO);
        assert_eq!(lifetime_value(Duration::from_secs(16)), 96);
        assert_eq!(lifetime_value(Duration::from_secs(17)), 97);
        assert_eq!(lifetime_value(Duration::from_secs(10_000_000)), 251);
        assert_eq!(lifetime_value(Duration::from_secs(20_000_000)), 255);
    }

    #[test]
    fn wire_addresses() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(from_wire(to_wire(v4)), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(from_wire(to_wire(v6)), v6);
    }
}
