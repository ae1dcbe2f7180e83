//! Credit-based authorization (RFC 8046 §3.3.2, §5.5): a peer that
//! announced a new locator may get data there *before* the address check
//! answers, but only as many bytes as it recently sent us. A host that
//! lies about its locator to flood a third party can then redirect no more
//! than it paid for with its own traffic.
//!
//! [`Credit`], per peer in the HIP core: earns the bytes received from the
//! peer (the driver reports the inbound SA's byte counter), ages by
//! CreditAgingFactor every CreditAgingInterval (§5.5.2: 7/8 every 5 s), and
//! is handed over whole when an address check starts, in the
//! `Event::LocatorChanged` that moves the datapath to the unverified
//! locator. The datapath spends it per packet (§5.5.1: a packet the rest
//! does not cover is dropped) until a LocatorChanged without credit (the
//! echo verified) lifts the limit.

use core::time::Duration;
use std::time::Instant;

/// CBA settings (RFC 8046 §5.5.2 proposes 7/8 every 5 s, which "works well
/// when the host transfers a file to the peer via a TCP connection and the
/// end-to-end round-trip time does not exceed 500 ms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditConfig {
    /// CreditAgingInterval.
    pub aging_interval: Duration,
    /// CreditAgingFactor as numerator / denominator (below one).
    pub aging_factor: (u32, u32),
}

impl Default for CreditConfig {
    fn default() -> Self {
        CreditConfig { aging_interval: Duration::from_secs(5), aging_factor: (7, 8) }
    }
}

/// After this many intervals without aging (7/8^400 < 2^-64) the balance
/// is gone anyway: no need to loop further.
const MAX_AGING_STEPS: u128 = 400;

/// A peer's credit counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credit {
    balance: u64,
    /// The inbound SA and its byte counter at the last observation.
    seen: Option<(u32, u64)>,
    /// Start of the current aging interval.
    interval_start: Option<Instant>,
}

impl Credit {
    /// Bytes available now (as of the last observation or aging).
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// Age the balance by every whole interval elapsed since the last
    /// aging (§5.5.2: multiply by CreditAgingFactor per interval).
    pub fn age(&mut self, now: Instant, cfg: &CreditConfig) {
        let Some(start) = self.interval_start else {
            self.interval_start = Some(now);
            return;
        };
        let step = cfg.aging_interval.as_nanos().max(1);
        let n = now.saturating_duration_since(start).as_nanos() / step;
        if n == 0 {
            return;
        }
        let (num, den) = (u128::from(cfg.aging_factor.0), u128::from(cfg.aging_factor.1.max(1)));
        let mut b = u128::from(self.balance);
        for _ in 0..n.min(MAX_AGING_STEPS) {
            b = b * num / den;
        }
        if n >= MAX_AGING_STEPS {
            b = 0;
        }
        self.balance = u64::try_from(b).unwrap_or(u64::MAX);
        let whole = u32::try_from(n).unwrap_or(u32::MAX);
        self.interval_start = Some(start + cfg.aging_interval.saturating_mul(whole));
    }

    /// The peer's inbound SA `spi` has delivered `received` bytes in all
    /// (§5.5.1: each packet from the peer earns its size). Ages first, so
    /// what arrived since the last aging is not aged with the older credit.
    /// A different SPI (rekeyed, re-established) starts a new count.
    pub fn observe(&mut self, now: Instant, cfg: &CreditConfig, spi: u32, received: u64) {
        self.age(now, cfg);
        let earned = match self.seen {
            Some((s, before)) if s == spi => received.saturating_sub(before),
            _ => received,
        };
        self.seen = Some((spi, received));
        self.balance = self.balance.saturating_add(earned);
    }

    /// Hand the whole (aged) balance to an address check that starts: the
    /// datapath spends it; what it does not spend is not given back (never
    /// more than was earned).
    pub fn take(&mut self, now: Instant, cfg: &CreditConfig) -> u64 {
        self.age(now, cfg);
        core::mem::take(&mut self.balance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earns_received_bytes_and_ages_by_seven_eighths_per_interval() {
        let cfg = CreditConfig::default();
        let t0 = Instant::now();
        let mut c = Credit::default();
        c.observe(t0, &cfg, 0x100, 8000);
        assert_eq!(c.balance(), 8000);
        c.observe(t0 + Duration::from_secs(4), &cfg, 0x100, 9000);
        assert_eq!(c.balance(), 9000, "no whole interval yet: no aging");
        // One interval: 9000 * 7/8, then the new 800 bytes un-aged.
        c.observe(t0 + Duration::from_secs(5), &cfg, 0x100, 9800);
        assert_eq!(c.balance(), 7875 + 800);
        // Two more intervals.
        c.age(t0 + Duration::from_secs(15), &cfg);
        assert_eq!(c.balance(), 8675 * 7 / 8 * 7 / 8);
        // A long silence ages everything away.
        c.age(t0 + Duration::from_secs(5 * 1000), &cfg);
        assert_eq!(c.balance(), 0);
    }

    #[test]
    fn a_new_sa_starts_a_new_count_and_a_counter_never_goes_negative() {
        let cfg = CreditConfig::default();
        let t0 = Instant::now();
        let mut c = Credit::default();
        c.observe(t0, &cfg, 1, 5000);
        c.observe(t0, &cfg, 2, 300);
        assert_eq!(c.balance(), 5300, "rekeyed: the new SA's bytes all count");
        c.observe(t0, &cfg, 2, 100);
        assert_eq!(c.balance(), 5300, "a counter that went back earns nothing");
    }

    #[test]
    fn take_hands_over_everything_once() {
        let cfg = CreditConfig::default();
        let t0 = Instant::now();
        let mut c = Credit::default();
        c.observe(t0, &cfg, 1, 1000);
        assert_eq!(c.take(t0 + Duration::from_secs(5), &cfg), 875);
        assert_eq!(c.take(t0 + Duration::from_secs(5), &cfg), 0);
        c.observe(t0 + Duration::from_secs(6), &cfg, 1, 1500);
        assert_eq!(c.balance(), 500, "earning goes on from the last count");
    }
}
