//! The substitute address pool: addresses the proxy hands to legacy hosts
//! in place of a HIP host's locators, one per (HIT, address family).
//!
//! Addresses skipped, and why:
//! - IPv4 prefixes up to /30: the network (all zeros) and broadcast (all
//!   ones) addresses, since legacy stacks route them as subnet broadcast
//!   when the pool is on-link. /31 and /32 use every address (RFC 3021).
//! - IPv6: the Subnet-Router anycast address (all-zero interface ID,
//!   RFC 4291 §2.6.1) and, for prefixes up to /64, the 128 reserved subnet
//!   anycast addresses at the top (RFC 2526 §2).
//!
//! Allocation is O(1): a bump pointer over never-used offsets, then a FIFO
//! of freed offsets, so a freed substitute rests as long as possible before
//! it names another host (stale client caches).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A 128-bit Host Identity Tag (ORCHID, RFC 7343).
pub type Hit = [u8; 16];

/// Address family of a substitute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4, answered in A records.
    V4,
    /// IPv6, answered in AAAA records.
    V6,
}

/// Errors of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every substitute of the family is mapped.
    #[error("substitute pool for {0:?} exhausted")]
    Exhausted(Family),
    /// No pool is configured for the family.
    #[error("no substitute pool configured for {0:?}")]
    NoPool(Family),
    /// The configured prefix is invalid or leaves no usable address.
    #[error("substitute prefix invalid or without usable address")]
    BadPrefix,
    /// The address is not a mapped substitute.
    #[error("address is not a mapped substitute")]
    UnknownSubstitute,
}

/// A substitute freed by [`SubstitutePool::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freed {
    /// The HIT the substitute stood for.
    pub hit: Hit,
    /// The substitute address, now free.
    pub substitute: IpAddr,
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    offset: u128,
    expiry: Instant,
    flows: u32,
}

/// One family's prefix: offsets `first..end` above `base` are usable.
#[derive(Debug)]
struct Range {
    base: u128,
    first: u128,
    end: u128,
    next: u128,
    free: VecDeque<u128>,
    /// Offsets in use outside the pool (see `SubstitutePool::reserve`).
    reserved: HashSet<u128>,
    by_hit: HashMap<Hit, Mapping>,
    by_offset: HashMap<u128, Hit>,
}

impl Range {
    fn new(base: u128, first: u128, end: u128) -> Result<Self, PoolError> {
        if first >= end {
            return Err(PoolError::BadPrefix);
        }
        Ok(Self {
            base,
            first,
            end,
            next: first,
            free: VecDeque::new(),
            reserved: HashSet::new(),
            by_hit: HashMap::new(),
            by_offset: HashMap::new(),
        })
    }

    fn take_offset(&mut self) -> Option<u128> {
        while let Some(offset) = self.free.pop_front() {
            if !self.reserved.contains(&offset) {
                return Some(offset);
            }
        }
        while self.next < self.end {
            let offset = self.next;
            self.next += 1;
            if !self.reserved.contains(&offset) {
                return Some(offset);
            }
        }
        None
    }
}

/// Substitute addresses for HITs, with expiry (time passed in).
#[derive(Debug)]
pub struct SubstitutePool {
    v4: Option<Range>,
    v6: Option<Range>,
    /// Expiry order for `expire` and `poll_timeout`.
    by_expiry: BTreeSet<(Instant, Family, Hit)>,
}

fn host_bits(prefix_len: u8, width: u8) -> Result<u32, PoolError> {
    if prefix_len > width {
        return Err(PoolError::BadPrefix);
    }
    Ok(u32::from(width - prefix_len))
}

impl SubstitutePool {
    /// A pool over the given IPv4 and IPv6 prefixes (address, prefix
    /// length); host bits of the address are ignored.
    pub fn new(v4: Option<(Ipv4Addr, u8)>, v6: Option<(Ipv6Addr, u8)>) -> Result<Self, PoolError> {
        let v4 = v4
            .map(|(addr, len)| {
                let bits = host_bits(len, 32)?;
                let size = 1u128 << bits;
                let base = u128::from(u32::from(addr)) & !(size - 1);
                let (first, end) = if len <= 30 { (1, size - 1) } else { (0, size) };
                Range::new(base, first, end)
            })
            .transpose()?;
        let v6 = v6
            .map(|(addr, len)| {
                let bits = host_bits(len, 128)?;
                let mask = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
                let base = u128::from(addr) & !mask;
                let (first, end) = match len {
                    // A single address has no subnet to be anycast in.
                    128 => (0, 1),
                    65..=127 => (1, mask + 1),
                    _ => (1, mask - 127),
                };
                Range::new(base, first, end)
            })
            .transpose()?;
        if v4.is_none() && v6.is_none() {
            return Err(PoolError::BadPrefix);
        }
        Ok(Self { v4, v6, by_expiry: BTreeSet::new() })
    }

    fn range(&self, family: Family) -> Option<&Range> {
        match family {
            Family::V4 => self.v4.as_ref(),
            Family::V6 => self.v6.as_ref(),
        }
    }

    fn range_mut(&mut self, family: Family) -> Option<&mut Range> {
        match family {
            Family::V4 => self.v4.as_mut(),
            Family::V6 => self.v6.as_mut(),
        }
    }

    fn address(family: Family, base: u128, offset: u128) -> IpAddr {
        match family {
            // The range check in `new` keeps V4 offsets below 2^32.
            Family::V4 => IpAddr::V4(Ipv4Addr::from((base + offset) as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(base + offset)),
        }
    }

    /// Whether a pool is configured for `family`.
    pub fn has_family(&self, family: Family) -> bool {
        self.range(family).is_some()
    }

    /// The substitute of `hit` in `family`, allocating one if the HIT has
    /// none. A live mapping keeps its address and its expiry is extended to
    /// at least `now + ttl`.
    pub fn allocate(&mut self, hit: Hit, family: Family, now: Instant, ttl: Duration) -> Result<IpAddr, PoolError> {
        let expiry = now + ttl;
        let range = self.range_mut(family).ok_or(PoolError::NoPool(family))?;
        let base = range.base;
        if let Some(mapping) = range.by_hit.get_mut(&hit) {
            let offset = mapping.offset;
            if expiry > mapping.expiry {
                let old = mapping.expiry;
                mapping.expiry = expiry;
                self.by_expiry.remove(&(old, family, hit));
                self.by_expiry.insert((expiry, family, hit));
            }
            return Ok(Self::address(family, base, offset));
        }
        let offset = range.take_offset().ok_or(PoolError::Exhausted(family))?;
        range.by_hit.insert(hit, Mapping { offset, expiry, flows: 0 });
        range.by_offset.insert(offset, hit);
        self.by_expiry.insert((expiry, family, hit));
        Ok(Self::address(family, base, offset))
    }

    /// Never hand out `substitute`: it is mapped by someone else (a static
    /// mapping, or one the datapath kept from before a restart). Returns
    /// false when the address is outside the pool or already allocated
    /// here (then it stays as it is).
    pub fn reserve(&mut self, substitute: IpAddr) -> bool {
        let Some((family, offset)) = self.locate(substitute) else {
            return false;
        };
        let Some(range) = self.range_mut(family) else {
            return false;
        };
        if range.by_offset.contains_key(&offset) {
            return false;
        }
        range.reserved.insert(offset)
    }

    fn locate(&self, substitute: IpAddr) -> Option<(Family, u128)> {
        let (family, value) = match substitute {
            IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (Family::V6, u128::from(a)),
        };
        let range = self.range(family)?;
        let offset = value.checked_sub(range.base)?;
        (range.first..range.end).contains(&offset).then_some((family, offset))
    }

    /// The HIT a substitute stands for, while mapped.
    pub fn hit_of(&self, substitute: IpAddr) -> Option<Hit> {
        let (family, offset) = self.locate(substitute)?;
        self.range(family)?.by_offset.get(&offset).copied()
    }

    /// The substitute of `hit` in `family`, while mapped.
    pub fn substitute_of(&self, hit: &Hit, family: Family) -> Option<IpAddr> {
        let range = self.range(family)?;
        let mapping = range.by_hit.get(hit)?;
        Some(Self::address(family, range.base, mapping.offset))
    }

    /// Tells the pool how many flows use `substitute`; while non-zero the
    /// mapping outlives its expiry and its address is not reused.
    pub fn set_flows(&mut self, substitute: IpAddr, flows: u32) -> Result<(), PoolError> {
        let (family, offset) = self.locate(substitute).ok_or(PoolError::UnknownSubstitute)?;
        let range = self.range_mut(family).ok_or(PoolError::UnknownSubstitute)?;
        let hit = *range.by_offset.get(&offset).ok_or(PoolError::UnknownSubstitute)?;
        if let Some(mapping) = range.by_hit.get_mut(&hit) {
            mapping.flows = flows;
        }
        Ok(())
    }

    /// Frees every mapping expired at `now` that has no flow, and returns
    /// them. Pinned expired mappings stay until their flows drop to zero
    /// and `expire` runs again.
    pub fn expire(&mut self, now: Instant) -> Vec<Freed> {
        let due: Vec<(Instant, Family, Hit)> =
            self.by_expiry.iter().take_while(|(expiry, _, _)| *expiry <= now).copied().collect();
        let mut freed = Vec::new();
        for key @ (_, family, hit) in due {
            let Some(range) = self.range_mut(family) else {
                continue;
            };
            let Some(mapping) = range.by_hit.get(&hit).copied() else {
                continue;
            };
            if mapping.flows > 0 {
                continue;
            }
            range.by_hit.remove(&hit);
            range.by_offset.remove(&mapping.offset);
            range.free.push_back(mapping.offset);
            let substitute = Self::address(family, range.base, mapping.offset);
            self.by_expiry.remove(&key);
            freed.push(Freed { hit, substitute });
        }
        freed
    }

    /// The earliest expiry of an unpinned mapping, for the caller's timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.by_expiry
            .iter()
            .find(|(_, family, hit)| self.range(*family).and_then(|r| r.by_hit.get(hit)).is_some_and(|m| m.flows == 0))
            .map(|(expiry, _, _)| *expiry)
    }

    /// Number of live mappings in `family`.
    pub fn len(&self, family: Family) -> usize {
        self.range(family).map_or(0, |r| r.by_hit.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn hit(n: u8) -> Hit {
        let mut h = [0u8; 16];
        h[0] = 0x20;
        h[1] = 0x01;
        h[15] = n;
        h
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    #[test]
    fn ipv4_skips_network_and_broadcast_and_exhausts() {
        let t0 = Instant::now();
        // A /30 holds .1 and .2 only.
        let mut pool = SubstitutePool::new(Some(("100.64.0.7".parse().unwrap(), 30)), None).unwrap();
        assert_eq!(pool.allocate(hit(1), Family::V4, t0, TTL), Ok(v4("100.64.0.5")));
        assert_eq!(pool.allocate(hit(2), Family::V4, t0, TTL), Ok(v4("100.64.0.6")));
        assert_eq!(pool.allocate(hit(3), Family::V4, t0, TTL), Err(PoolError::Exhausted(Family::V4)));
        assert_eq!(pool.allocate(hit(3), Family::V6, t0, TTL), Err(PoolError::NoPool(Family::V6)));
        // /31 and /32 use every address (RFC 3021).
        let mut pool = SubstitutePool::new(Some(("192.0.2.9".parse().unwrap(), 32)), None).unwrap();
        assert_eq!(pool.allocate(hit(1), Family::V4, t0, TTL), Ok(v4("192.0.2.9")));
    }

    /// Addresses mapped outside the pool (static mappings, mappings the
    /// datapath kept across a daemon restart) are never handed out.
    #[test]
    fn reserved_addresses_are_skipped() {
        let t0 = Instant::now();
        // A /29: .1 to .6 usable.
        let mut pool = SubstitutePool::new(Some(("100.64.0.0".parse().unwrap(), 29)), None).unwrap();
        assert!(pool.reserve(v4("100.64.0.1")));
        assert!(pool.reserve(v4("100.64.0.3")));
        assert!(!pool.reserve(v4("100.64.1.1")), "outside the pool");
        assert!(!pool.reserve(v4("100.64.0.1")), "already reserved");
        let got: Vec<IpAddr> = (1..=4).map(|n| pool.allocate(hit(n), Family::V4, t0, TTL).unwrap()).collect();
        assert_eq!(got, ["100.64.0.2", "100.64.0.4", "100.64.0.5", "100.64.0.6"].map(v4));
        assert_eq!(pool.allocate(hit(9), Family::V4, t0, TTL), Err(PoolError::Exhausted(Family::V4)));
        assert!(!pool.reserve(got[0]), "an address the pool handed out is not reserved over");
    }

    #[test]
    fn same_hit_same_substitute_and_expiry_extends() {
        let t0 = Instant::now();
        let mut pool = SubstitutePool::new(Some(("10.200.0.0".parse().unwrap(), 16)), None).unwrap();
        let a = pool.allocate(hit(1), Family::V4, t0, TTL).unwrap();
        let b = pool.allocate(hit(2), Family::V4, t0, TTL).unwrap();
        assert_ne!(a, b);
        let t1 = t0 + Duration::from_secs(50);
        assert_eq!(pool.allocate(hit(1), Family::V4, t1, TTL), Ok(a));
        assert_eq!(pool.hit_of(a), Some(hit(1)));
        // At t0+60 only hit 2 expired; hit 1 was extended to t0+110.
        let freed = pool.expire(t0 + TTL);
        assert_eq!(freed, vec![Freed { hit: hit(2), substitute: b }]);
        assert_eq!(pool.hit_of(b), None);
        assert_eq!(pool.poll_timeout(), Some(t1 + TTL));
        assert_eq!(pool.len(Family::V4), 1);
    }

    #[test]
    fn expiry_frees_and_address_is_reused_after_fresh_ones() {
        let t0 = Instant::now();
        let mut pool = SubstitutePool::new(Some(("10.0.0.0".parse().unwrap(), 30)), None).unwrap();
        let a = pool.allocate(hit(1), Family::V4, t0, TTL).unwrap();
        let b = pool.allocate(hit(2), Family::V4, t0, TTL).unwrap();
        assert!(pool.expire(t0 + TTL - Duration::from_millis(1)).is_empty());
        assert_eq!(pool.expire(t0 + TTL).len(), 2);
        let t1 = t0 + TTL;
        // FIFO: the first freed is the first reused.
        assert_eq!(pool.allocate(hit(3), Family::V4, t1, TTL), Ok(a));
        assert_eq!(pool.allocate(hit(4), Family::V4, t1, TTL), Ok(b));
        assert_eq!(pool.hit_of(a), Some(hit(3)));
    }

    #[test]
    fn pinned_mapping_is_not_freed_until_flows_end() {
        let t0 = Instant::now();
        let mut pool = SubstitutePool::new(Some(("10.0.0.0".parse().unwrap(), 31)), None).unwrap();
        let a = pool.allocate(hit(1), Family::V4, t0, TTL).unwrap();
        pool.set_flows(a, 2).unwrap();
        assert!(pool.expire(t0 + TTL * 10).is_empty());
        assert_eq!(pool.poll_timeout(), None);
        assert_eq!(pool.hit_of(a), Some(hit(1)));
        pool.allocate(hit(2), Family::V4, t0, TTL).unwrap();
        // Both addresses of the /31 are taken; the pinned one is not reused.
        assert_eq!(pool.allocate(hit(3), Family::V4, t0 + TTL * 10, TTL), Err(PoolError::Exhausted(Family::V4)));
        pool.set_flows(a, 0).unwrap();
        let freed = pool.expire(t0 + TTL * 10);
        assert_eq!(freed.len(), 2);
        assert_eq!(pool.set_flows(a, 1), Err(PoolError::UnknownSubstitute));
    }

    #[test]
    fn ipv6_skips_anycast() {
        let t0 = Instant::now();
        let mut pool = SubstitutePool::new(None, Some(("fd00:1::".parse().unwrap(), 64))).unwrap();
        assert_eq!(pool.allocate(hit(1), Family::V6, t0, TTL), Ok("fd00:1::1".parse().unwrap()));
        assert_eq!(pool.substitute_of(&hit(1), Family::V6), Some("fd00:1::1".parse().unwrap()));
        // A /121 minus the Subnet-Router anycast has 127 addresses.
        let mut pool = SubstitutePool::new(None, Some(("fd00::".parse().unwrap(), 121))).unwrap();
        for n in 0..127 {
            pool.allocate(hit(n), Family::V6, t0, TTL).unwrap();
        }
        assert_eq!(pool.allocate(hit(200), Family::V6, t0, TTL), Err(PoolError::Exhausted(Family::V6)));
    }

    #[test]
    fn rejects_bad_prefixes() {
        assert_eq!(
            SubstitutePool::new(Some(("10.0.0.0".parse().unwrap(), 33)), None).err(),
            Some(PoolError::BadPrefix)
        );
        assert_eq!(SubstitutePool::new(None, None).err(), Some(PoolError::BadPrefix));
        assert!(SubstitutePool::new(None, Some(("fd00::".parse().unwrap(), 0))).is_ok());
        assert!(SubstitutePool::new(Some(("0.0.0.0".parse().unwrap(), 0)), None).is_ok());
    }
}
