//! Local packets waiting for their SA: the first packets to a HIP peer
//! while the base exchange runs, the VPN gateway's packets for a mobile
//! node's new (or left) care-of address until its SA moves there
//! (leaving.rs). The TUN sender (host/tx.rs) holds them and sends them
//! once the SA is there; a driver that has just made the SA usable may
//! send them itself (the VPN gateway after the SA move,
//! `HostPath::send_held`), sparing the sender's wake-up on the handover's
//! critical path.
//!
//! Slow path: one allocation per held packet, never on the fast path.

use std::{
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{Ordering, fence},
    },
    time::{Duration, Instant},
};

use super::{Counter, OutEntry, SaTable};

/// Packets held per destination, and in all.
const HOLD_PER_PEER: usize = 16;
const HOLD_TOTAL: usize = 256;
/// How long a held packet waits for its SA before it is dropped.
const HOLD_FOR: Duration = Duration::from_secs(10);

/// A held packet (the inner packet, unsealed).
pub struct HeldPacket {
    pub dst: IpAddr,
    since: Instant,
    pub pkt: Vec<u8>,
}

#[derive(Default)]
pub(super) struct HeldQueue(Mutex<Vec<HeldPacket>>);

impl SaTable {
    /// Hold `pkt` for `dst`, which has no SA yet (or whose SA's peer is
    /// moving). The first packet for `dst` tells the slow path; nobody
    /// setting an SA up, or the limits reached: dropped, counted, false.
    pub fn hold(&self, dst: IpAddr, pkt: &[u8]) -> bool {
        let mut q = self.held.0.lock().unwrap_or_else(|e| e.into_inner());
        let for_dst = q.iter().filter(|h| h.dst == dst).count();
        if for_dst >= HOLD_PER_PEER || q.len() >= HOLD_TOTAL || (for_dst == 0 && !self.report_miss(dst)) {
            self.counters.inc(Counter::DropNoSa);
            return false;
        }
        q.push(HeldPacket { dst, since: Instant::now(), pkt: pkt.to_vec() });
        self.counters.inc(Counter::Held);
        // Pairs with the fence in signal_changed: from now on a change
        // signals the sender, and its next look at the queue sees any
        // change that came before.
        self.holding.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        true
    }

    /// Whether packets are held (the sender looks at the queue before it
    /// sleeps while they are).
    pub fn holds_packets(&self) -> bool {
        self.holding.load(Ordering::SeqCst)
    }

    /// Take the held packets whose SA is there now and passes `usable`
    /// (in the order they came), dropping those whose SA will not come
    /// (`give_up`) or that waited too long, counted; the rest stay.
    pub fn take_ready(&self, usable: impl Fn(&OutEntry) -> bool) -> Vec<HeldPacket> {
        if !self.holds_packets() {
            return Vec::new();
        }
        let failed = self.take_given_up();
        let t = self.read();
        let mut q = self.held.0.lock().unwrap_or_else(|e| e.into_inner());
        let before = q.len();
        q.retain(|h| !failed.contains(&h.dst) && h.since.elapsed() < HOLD_FOR);
        self.counters.add(Counter::DropNoSa, (before - q.len()) as u64);
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut *q)
            .into_iter()
            .partition(|h| !self.holds_for(h.dst) && t.outbound_for(h.dst).is_some_and(&usable));
        *q = wait;
        if q.is_empty() {
            self.holding.store(false, Ordering::SeqCst);
        }
        self.counters.add(Counter::Released, ready.len() as u64);
        ready
    }
}
