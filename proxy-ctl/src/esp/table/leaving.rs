//! A tunnel SA's outer peer on the move (seed 004, the VPN gateway).
//!
//! From the moment the gateway opens the mobile node's Registration
//! Request from a new address until the home agent's SIU moves the SA
//! there, what the home agent still sends to the address the node left
//! would be sealed to an address nobody takes it at any more: the node
//! has already moved its own inbound SA (step 1), so it drops ESP for the
//! old destination (RFC 4303 §4.4.2). Instead the engine holds those
//! packets, like packets waiting for a new SA, and sends them to the new
//! address the moment the SA moves. The data then resumes with the SA
//! move, not with the next packet the home agent sends to the new
//! address, and the packets of that window are not lost.
//!
//! How: [`SaTable::suspend_peers`] marks the addresses (the one being
//! left, and the one being moved to, which may still name the SA from an
//! earlier move); the sender treats a packet for a marked address as one
//! without SA and holds it (the engine's hold limits: 16 per address).
//! The SA's move clears the marks and keeps the address it left as a
//! second name of the SA until its next move, so packets still on their
//! way there follow the node. No move by the deadline (the registration
//! failed): the marks lapse and what was held goes where the SA points.
//!
//! The marks live beside the lookup tables, not in them: the receive
//! worker that sees the request holds the tables' read lock while its
//! hook runs, so marking must not take that lock.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{OutEntry, SaTable, Tables};

/// Outer peer addresses whose packets wait for an SA move, until when.
#[derive(Debug, Default)]
pub(super) struct Leaving {
    /// Fast path: no address is marked (nearly always).
    any: AtomicBool,
    until: Mutex<HashMap<IpAddr, Instant>>,
}

impl Leaving {
    /// Whether packets for `dst` wait (marked, deadline not passed).
    pub(super) fn holds(&self, dst: IpAddr) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let mut m = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        m.retain(|_, until| now < *until);
        if m.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        m.contains_key(&dst)
    }

    /// Unmark `addrs`; returns which of them were marked.
    fn clear(&self, addrs: &[IpAddr]) -> Vec<IpAddr> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut m = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let was = addrs.iter().copied().filter(|a| m.remove(a).is_some()).collect();
        if m.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        was
    }
}

impl SaTable {
    /// A tunnel SA's outer peer is moving from or to `addrs`: hold what
    /// would be sealed for them until an SA moves to one of them, or for
    /// `hold` at most. Takes no lock of the lookup tables (a receive
    /// worker's hook calls it).
    pub fn suspend_peers(&self, addrs: &[IpAddr], hold: Duration) {
        let until = Instant::now() + hold;
        let mut m = self.leaving.until.lock().unwrap_or_else(|e| e.into_inner());
        for a in addrs {
            m.insert(*a, until);
        }
        self.leaving.any.store(true, Ordering::Release);
    }

    /// Whether packets for `dst` wait for a moving peer's SA (the sender
    /// holds them as if there were no SA).
    pub fn holds_for(&self, dst: IpAddr) -> bool {
        self.leaving.holds(dst)
    }

    /// The outbound SA a local packet to `dst` is sealed on now: none
    /// when there is no SA, or when its peer is moving away from or to
    /// `dst` (the packet waits for the move).
    pub fn outbound_now<'t>(&self, t: &'t Tables, dst: IpAddr) -> Option<&'t OutEntry> {
        t.outbound_for(dst).filter(|_| !self.holds_for(dst))
    }

    /// The outbound tunnel SA `spi` moved from the peer `from` to `to`
    /// (the tables' write lock held): the marks go, and when `from` was
    /// being left it names the SA as well, until the SA's next move.
    pub(super) fn moved(&self, t: &mut Tables, spi: u32, from: IpAddr, to: IpAddr) {
        if self.leaving.clear(&[from, to]).contains(&from) && from != to {
            t.out_by_peer.insert(from, spi);
        }
    }
}
