//! Where the ESP workers meet the HIP driver (host role).
//!
//! - A local packet to a peer HIT with no outbound SA is held here (a
//!   bounded queue per peer) and the HIP driver is asked to run the base
//!   exchange (RFC 7401 §4.4.1: "the trigger ... is typically a packet to
//!   a HIT"); once the SA pair is installed the queue is released to the
//!   sender thread, which seals it like any packet read from the TUN.
//! - The first ESP opened on an inbound SA the Responder installed at
//!   R2-SENT is reported, so the association moves to ESTABLISHED
//!   (§4.4.2).
//! - SAs the HIP driver installed are remembered, so `sa list` shows their
//!   origin.
//!
//! Workers only touch a mutex here on a miss or while a Responder SA
//! waits for its first packet; the common path is one atomic load.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::{IpAddr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use proxy_proto::hip::crypto::Hit;
use tokio::sync::mpsc;

use super::Direction;

/// Packets held per peer while its base exchange runs: enough for a TCP
/// SYN and a few retries or a burst of pings, small enough that a peer that
/// never answers costs little memory.
pub const HOLD_PER_PEER: usize = 32;
/// Peers with a base exchange in flight and packets held.
pub const HOLD_PEERS: usize = 64;

/// What the workers ask of the HIP driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A local packet for this HIT found no SA: run the base exchange.
    Initiate(Ipv6Addr),
    /// The first ESP packet arrived on this inbound SPI.
    FirstEsp(u32),
}

#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum HookCounter {
    /// Local packets held while a base exchange runs.
    Held,
    /// Held packets handed back to the sender once the SA was installed.
    Released,
    /// Held packets dropped: queue full, too many peers, or the exchange failed.
    DropHold,
    /// Base exchanges started by a local packet.
    Triggered,
}

const NAMES: [&str; 4] = ["hip_held", "hip_released", "hip_drop_hold", "hip_triggered"];

pub struct HipHooks {
    requests: mpsc::Sender<Request>,
    held: Mutex<HashMap<Ipv6Addr, VecDeque<Vec<u8>>>>,
    ready: Mutex<VecDeque<Vec<u8>>>,
    ready_len: AtomicUsize,
    /// Inbound SPIs whose first ESP packet is awaited.
    awaiting: Mutex<HashSet<u32>>,
    any_awaiting: AtomicBool,
    /// SAs the HIP driver installed.
    origins: Mutex<HashSet<(Direction, u32)>>,
    wake: OwnedFd,
    counters: [AtomicU64; NAMES.len()],
}

impl HipHooks {
    /// Hooks that send their requests to `requests`.
    pub fn new(requests: mpsc::Sender<Request>) -> std::io::Result<HipHooks> {
        // SAFETY: eventfd(2) returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(HipHooks {
            requests,
            held: Mutex::default(),
            ready: Mutex::default(),
            ready_len: AtomicUsize::new(0),
            awaiting: Mutex::default(),
            any_awaiting: AtomicBool::new(false),
            origins: Mutex::default(),
            // SAFETY: fd is ours and open.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
            counters: Default::default(),
        })
    }

    fn inc(&self, c: HookCounter, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        NAMES.iter().zip(&self.counters).map(|(n, v)| (*n, v.load(Ordering::Relaxed))).collect()
    }

    /// The sender thread polls this as well as the TUN device.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Reset the wake-up after poll(2) reported it.
    pub fn clear_wake(&self) {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into v; non-blocking, EAGAIN is fine.
        unsafe { libc::read(self.wake.as_raw_fd(), (&raw mut v).cast(), 8) };
    }

    fn wake(&self) {
        let v = 1u64;
        // SAFETY: writes 8 bytes from v.
        unsafe { libc::write(self.wake.as_raw_fd(), (&raw const v).cast(), 8) };
    }

    /// A local packet for `dst` found no outbound SA. Returns false when
    /// it is not ours to handle (not a HIT): the caller counts it as
    /// `drop_no_sa`. True: held, or dropped and counted here.
    pub fn hold(&self, dst: IpAddr, packet: &[u8]) -> bool {
        let IpAddr::V6(dst) = dst else { return false };
        if !Hit::from(dst).is_orchid() {
            return false;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = held.get_mut(&dst) {
            if q.len() >= HOLD_PER_PEER {
                self.inc(HookCounter::DropHold, 1);
            } else {
                q.push_back(packet.to_vec());
                self.inc(HookCounter::Held, 1);
            }
            return true;
        }
        if held.len() >= HOLD_PEERS {
            self.inc(HookCounter::DropHold, 1);
            return true;
        }
        if self.requests.try_send(Request::Initiate(dst)).is_err() {
            // The driver is gone or swamped: drop now, the next packet asks again.
            self.inc(HookCounter::DropHold, 1);
            return true;
        }
        self.inc(HookCounter::Triggered, 1);
        self.inc(HookCounter::Held, 1);
        held.insert(dst, VecDeque::from([packet.to_vec()]));
        true
    }

    /// The SAs toward `peer` are in: hand its held packets to the sender.
    pub fn release(&self, peer: Ipv6Addr) {
        let Some(q) = self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&peer) else { return };
        if q.is_empty() {
            return;
        }
        self.inc(HookCounter::Released, q.len() as u64);
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready.extend(q);
        self.ready_len.store(ready.len(), Ordering::Release);
        drop(ready);
        self.wake();
    }

    /// The base exchange with `peer` failed: drop what was held for it,
    /// so the next packet starts a new one.
    pub fn discard(&self, peer: Ipv6Addr) {
        if let Some(q) = self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&peer) {
            self.inc(HookCounter::DropHold, q.len() as u64);
        }
    }

    /// Whether packets are held for `peer` (a base exchange is pending).
    pub fn is_holding(&self, peer: Ipv6Addr) -> bool {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&peer)
    }

    /// The next released packet, for the sender thread.
    pub fn pop_ready(&self) -> Option<Vec<u8>> {
        if self.ready_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let p = ready.pop_front();
        self.ready_len.store(ready.len(), Ordering::Release);
        p
    }

    /// Report the first ESP opened on `spi` if it is awaited.
    pub fn inbound_used(&self, spi: u32) {
        if !self.any_awaiting.load(Ordering::Relaxed) {
            return;
        }
        let mut a = self.awaiting.lock().unwrap_or_else(|e| e.into_inner());
        if a.remove(&spi) {
            self.any_awaiting.store(!a.is_empty(), Ordering::Relaxed);
            // A full channel loses only the early move to ESTABLISHED:
            // the core's R2-SENT timer gets there too.
            let _ = self.requests.try_send(Request::FirstEsp(spi));
        }
    }

    /// Ask for a report of the first ESP on `spi`.
    pub fn await_first(&self, spi: u32) {
        let mut a = self.awaiting.lock().unwrap_or_else(|e| e.into_inner());
        a.insert(spi);
        self.any_awaiting.store(true, Ordering::Relaxed);
    }

    /// Stop waiting for `spi` (its SA went away).
    pub fn forget_spi(&self, spi: u32) {
        let mut a = self.awaiting.lock().unwrap_or_else(|e| e.into_inner());
        a.remove(&spi);
        self.any_awaiting.store(!a.is_empty(), Ordering::Relaxed);
    }

    /// Record that the HIP driver installed (or removed) this SA.
    pub fn set_origin(&self, direction: Direction, spi: u32, hip: bool) {
        let mut o = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        if hip {
            o.insert((direction, spi));
        } else {
            o.remove(&(direction, spi));
        }
    }

    pub fn is_hip(&self, direction: Direction, spi: u32) -> bool {
        self.origins.lock().unwrap_or_else(|e| e.into_inner()).contains(&(direction, spi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(cap: usize) -> (HipHooks, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(cap);
        (HipHooks::new(tx).unwrap(), rx)
    }

    const PEER: &str = "2001:20::b";

    fn counter(h: &HipHooks, name: &str) -> u64 {
        h.counters().into_iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn first_packet_triggers_once_and_is_released_in_order() {
        let (h, mut rx) = hooks(8);
        let peer: Ipv6Addr = PEER.parse().unwrap();
        assert!(h.hold(peer.into(), b"one"));
        assert!(h.hold(peer.into(), b"two"));
        assert_eq!(rx.try_recv().unwrap(), Request::Initiate(peer));
        assert!(rx.try_recv().is_err(), "one base exchange per peer");
        assert!(h.is_holding(peer));
        assert_eq!(h.pop_ready(), None);
        h.release(peer);
        assert!(!h.is_holding(peer));
        assert_eq!(h.pop_ready().as_deref(), Some(&b"one"[..]));
        assert_eq!(h.pop_ready().as_deref(), Some(&b"two"[..]));
        assert_eq!(h.pop_ready(), None);
        assert_eq!((counter(&h, "hip_held"), counter(&h, "hip_released")), (2, 2));
        assert_eq!(counter(&h, "hip_triggered"), 1);
    }

    #[test]
    fn not_a_hit_is_not_held() {
        let (h, mut rx) = hooks(8);
        assert!(!h.hold("10.0.0.1".parse().unwrap(), b"x"));
        assert!(!h.hold("2001:db8::1".parse().unwrap(), b"x"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn queues_are_bounded_and_failures_discard() {
        let (h, _rx) = hooks(HOLD_PEERS + 1);
        let peer: Ipv6Addr = PEER.parse().unwrap();
        for _ in 0..HOLD_PER_PEER + 5 {
            assert!(h.hold(peer.into(), b"p"));
        }
        assert_eq!(counter(&h, "hip_held"), HOLD_PER_PEER as u64);
        assert_eq!(counter(&h, "hip_drop_hold"), 5);
        h.discard(peer);
        assert_eq!(counter(&h, "hip_drop_hold"), 5 + HOLD_PER_PEER as u64);
        assert_eq!(h.pop_ready(), None);
        // Too many peers at once.
        for i in 0..HOLD_PEERS + 3 {
            let p = Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 1, i as u16);
            assert!(h.hold(p.into(), b"p"));
        }
        assert_eq!(counter(&h, "hip_triggered"), 1 + HOLD_PEERS as u64);
        assert_eq!(counter(&h, "hip_drop_hold"), 5 + HOLD_PER_PEER as u64 + 3);
    }

    #[test]
    fn full_request_channel_drops_and_retries_later() {
        let (h, mut rx) = hooks(1);
        let a: Ipv6Addr = "2001:20::a1".parse().unwrap();
        let b: Ipv6Addr = "2001:20::b1".parse().unwrap();
        assert!(h.hold(a.into(), b"a"));
        assert!(h.hold(b.into(), b"b"));
        assert!(!h.is_holding(b), "no request went out, so nothing may wait for one");
        assert_eq!(counter(&h, "hip_drop_hold"), 1);
        assert_eq!(rx.try_recv().unwrap(), Request::Initiate(a));
        assert!(h.hold(b.into(), b"b"));
        assert!(h.is_holding(b));
    }

    #[test]
    fn first_esp_reported_once() {
        let (h, mut rx) = hooks(8);
        h.inbound_used(0x1234);
        assert!(rx.try_recv().is_err(), "not awaited");
        h.await_first(0x1234);
        h.inbound_used(0x1234);
        h.inbound_used(0x1234);
        assert_eq!(rx.try_recv().unwrap(), Request::FirstEsp(0x1234));
        assert!(rx.try_recv().is_err());
        h.await_first(0x99);
        h.forget_spi(0x99);
        h.inbound_used(0x99);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn wake_fd_is_readable_after_release() {
        let (h, _rx) = hooks(8);
        let peer: Ipv6Addr = PEER.parse().unwrap();
        h.hold(peer.into(), b"x");
        h.release(peer);
        let mut p = libc::pollfd { fd: h.wake_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 1);
        h.clear_wake();
        p.revents = 0;
        // SAFETY: one pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 0);
    }
}
