//! LOCATOR_SETs we send and read (RFC 8046 §4, §5): which of our
//! addresses to list, and what a peer's set asks of us.
//!
//! Make-before-break: a host that gains an address while the old one still
//! works lists it beside the locator in use (which stays preferred). The
//! peer checks the new address at once, in the background (RFC 8046 §5.4:
//! a locator is UNVERIFIED until an address check makes it ACTIVE, §5.1),
//! so that when the old address goes and a LOCATOR_SET prefers the new one
//! the data moves on the UPDATE alone: half a round trip and one
//! verification, where a strict move otherwise needs the whole check first.

use std::time::{Duration, Instant};

use core::net::IpAddr;

use crate::hip::assoc::registration::{from_wire, to_wire};
use crate::hip::wire::param::locator::{Locator, LocatorSet, LocatorValue, TrafficType};

/// Locator Lifetime we announce, seconds (RFC 8046 §4: how long the peer
/// may use it without hearing from us again).
pub(super) const LOCATOR_LIFETIME: u32 = 120;

/// Our LOCATOR_SET: `preferred` first (the Preferred bit set), then the
/// other addresses, each bound to our inbound SA `spi` (type 1 locators,
/// RFC 8046 §4).
pub(super) fn our_locator_set(spi: u32, preferred: IpAddr, others: &[IpAddr]) -> LocatorSet {
    let locator = |address: IpAddr, preferred: bool| Locator {
        traffic_type: TrafficType::Both,
        preferred,
        lifetime: LOCATOR_LIFETIME,
        value: LocatorValue::EspSpiAddress { spi, address: to_wire(address) },
    };
    let mut locators = vec![locator(preferred, true)];
    locators.extend(others.iter().filter(|&&a| a != preferred).map(|&a| locator(a, false)));
    LocatorSet { locators }
}

/// Our addresses an association whose local locator is `current` can use:
/// `current` first, then the others of its family.
pub(super) fn same_family(current: IpAddr, addresses: &[IpAddr]) -> Vec<IpAddr> {
    let mut v = vec![current];
    v.extend(addresses.iter().filter(|a| a.is_ipv4() == current.is_ipv4() && **a != current));
    v
}

/// A locator of the peer's set we may send data to: its address and how
/// long it stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Listed {
    pub address: IpAddr,
    pub preferred: bool,
    pub lifetime: Duration,
}

/// The usable locators of a peer's LOCATOR_SET of the family of `current`
/// (the one in use), preferred first.
pub(super) fn listed(set: &LocatorSet, current: IpAddr) -> Vec<Listed> {
    let mut v: Vec<Listed> = set
        .locators
        .iter()
        .filter(|l| matches!(l.traffic_type, TrafficType::Both | TrafficType::Data))
        .filter_map(|l| match l.value {
            LocatorValue::Address(a) | LocatorValue::EspSpiAddress { address: a, .. } => Some(Listed {
                address: from_wire(a),
                preferred: l.preferred,
                lifetime: Duration::from_secs(u64::from(l.lifetime)),
            }),
            LocatorValue::Other { .. } => None,
        })
        .filter(|l| l.address.is_ipv4() == current.is_ipv4() && !l.address.is_unspecified())
        .collect();
    v.sort_by_key(|l| !l.preferred);
    v
}

/// What the peer's LOCATOR_SET asks of us, given the locator in use and
/// what we know of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing new: acknowledge.
    Ack,
    /// The preferred locator is new but ACTIVE already (checked ahead):
    /// send data there now.
    SwitchNow(IpAddr),
    /// The preferred locator is the one our check under way tests: its
    /// echo moves the data.
    SwitchOnEcho(IpAddr),
    /// Check `locator` with an echo request; `switch`: it is preferred
    /// (data moves when it answers), else it is only made ACTIVE.
    Check { locator: IpAddr, switch: bool },
}

/// Decide on the peer's set `listed` (see [`listed`]): `current` is the
/// locator in use, `verified` says whether a locator is ACTIVE, `checking`
/// is the locator our check under way tests, and `may_check_ahead` whether
/// we may start a background check now (no UPDATE of ours in flight).
pub(super) fn plan(
    listed: &[Listed],
    current: IpAddr,
    verified: impl Fn(IpAddr) -> bool,
    checking: Option<IpAddr>,
    may_check_ahead: bool,
) -> Plan {
    let Some(first) = listed.first() else { return Plan::Ack };
    if first.address != current {
        return if verified(first.address) {
            Plan::SwitchNow(first.address)
        } else if checking == Some(first.address) {
            Plan::SwitchOnEcho(first.address)
        } else {
            Plan::Check { locator: first.address, switch: true }
        };
    }
    // The locator in use stays preferred: check one listed beside it.
    let ahead = listed.iter().map(|l| l.address).find(|&l| l != current && !verified(l) && checking != Some(l));
    match ahead {
        Some(locator) if may_check_ahead && checking.is_none() => Plan::Check { locator, switch: false },
        _ => Plan::Ack,
    }
}

/// When a locator checked now stops being valid.
pub(super) fn valid_until(now: Instant, listed: &[Listed], locator: IpAddr) -> Instant {
    let lifetime = listed.iter().find(|l| l.address == locator).map_or(Duration::ZERO, |l| l.lifetime);
    now + lifetime
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 3, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 4, 1));
    const C: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 5, 1));

    fn l(address: IpAddr, preferred: bool) -> Listed {
        Listed { address, preferred, lifetime: Duration::from_secs(120) }
    }

    #[test]
    fn our_set_lists_the_preferred_first_and_round_trips() {
        let set = our_locator_set(0x1234, B, &[A, B, C]);
        assert_eq!(set.locators.len(), 3);
        assert!(set.locators[0].preferred && !set.locators[1].preferred && !set.locators[2].preferred);
        assert_eq!(listed(&set, A), vec![l(B, true), l(A, false), l(C, false)]);
        // Another family's current locator: none of these apply.
        assert!(listed(&set, "fd00::1".parse().unwrap()).is_empty());
    }

    #[test]
    fn plans() {
        let none = |_: IpAddr| false;
        // Same preferred locator, nothing else: ACK.
        assert_eq!(plan(&[l(A, true)], A, none, None, true), Plan::Ack);
        // A new preferred locator: the strict check, or at once if ACTIVE,
        // or on the echo of the check already testing it.
        assert_eq!(plan(&[l(B, true)], A, none, None, true), Plan::Check { locator: B, switch: true });
        assert_eq!(plan(&[l(B, true)], A, |x| x == B, None, true), Plan::SwitchNow(B));
        assert_eq!(plan(&[l(B, true)], A, none, Some(B), true), Plan::SwitchOnEcho(B));
        // Another check under way (C): the preferred B still gets its own.
        assert_eq!(plan(&[l(B, true)], A, none, Some(C), true), Plan::Check { locator: B, switch: true });
        // Make-before-break: B listed beside A in use gets checked ahead...
        assert_eq!(plan(&[l(A, true), l(B, false)], A, none, None, true), Plan::Check { locator: B, switch: false });
        // ...unless it is ACTIVE already, being checked, or an UPDATE of
        // ours is in flight.
        assert_eq!(plan(&[l(A, true), l(B, false)], A, |x| x == B, None, true), Plan::Ack);
        assert_eq!(plan(&[l(A, true), l(B, false)], A, none, Some(B), true), Plan::Ack);
        assert_eq!(plan(&[l(A, true), l(B, false)], A, none, None, false), Plan::Ack);
        // An empty set (no usable locator of our family): ACK.
        assert_eq!(plan(&[], A, none, None, true), Plan::Ack);
    }
}
