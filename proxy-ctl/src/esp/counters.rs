//! Engine-wide ESP counters (per-SA traffic and drop counters live in the
//! SAs). Relaxed atomics: workers bump them, the control socket reads them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Stable counter names; the index is the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Packets read from the local interface (TUN) for sealing.
    LocalRx,
    /// Packets opened and delivered to the local interface.
    LocalTx,
    /// ESP packets sent.
    EspTx,
    /// ESP packets received (before any check).
    EspRx,
    /// A local packet with no outbound SA for its destination.
    DropNoSa,
    /// An ESP packet whose SPI has no inbound SA (RFC 4303 §3.4.2: discard, audit).
    DropUnknownSpi,
    /// An ESP packet from an outer source the SA is not bound to.
    DropBadSource,
    /// Shorter than an ESP header, or an outer header we cannot parse.
    DropMalformed,
    /// Dropped by the SA: replay, ICV, padding, next header (see `sa list`).
    DropOpen,
    /// A local packet the SA refused to seal (inner addresses, protocol,
    /// sequence numbers exhausted).
    DropSeal,
    /// The kernel refused to send or deliver a packet.
    DropIo,
    /// Inbound tunnel packets accepted from a source other than the SA's
    /// peer because the SA has `wildcard_source`.
    WildcardSource,
    /// SA events raised (rekey needed, sequence exhausted).
    SaEvents,
    /// Local packets held while the slow path sets up an SA (HIP base
    /// exchange triggered by the first one).
    Held,
    /// Held packets sent once their SA appeared.
    Released,
    /// Packets the proxy's translator refused (its own counters say why:
    /// `proxy-ctl esp flows`).
    DropTranslate,
    /// Local packets for an SA whose peer address is not verified yet and
    /// whose credit is spent: a HIP peer's new locator under credit-based
    /// authorization (RFC 8046 §5.5.1), the VPN gateway's handover on credit.
    DropNoCredit,
    /// Rekeys by HIP UPDATE started because an SA aged (soft limit or
    /// sequence numbers exhausted).
    RekeysStarted,
    /// ESP packets the host's AF_XDP receive workers took (`[esp]
    /// host_datapath`; also counted in `esp_rx`).
    XskRx,
    /// ESP packets `xdp_host` steered to those workers' sockets.
    XskSteered,
    /// ESP with a steered SPI on a queue without a socket: passed to the
    /// kernel (the raw-socket path opens it).
    XskMissing,
    /// Steered packets the kernel dropped before a worker saw them (RX
    /// ring full, no fill buffer).
    XskKernelDrops,
    /// Times packets were held for a tunnel SA's outer peer while that
    /// peer was moving (the VPN gateway, from the mobile node's
    /// Registration Request at a new address to the SA move: the address
    /// it left), then sent to where the SA moved.
    HeldMoving,
}

const NAMES: [&str; 23] = [
    "local_rx",
    "local_tx",
    "esp_tx",
    "esp_rx",
    "drop_no_sa",
    "drop_unknown_spi",
    "drop_bad_source",
    "drop_malformed",
    "drop_open",
    "drop_seal",
    "drop_io",
    "wildcard_source",
    "sa_events",
    "held",
    "released",
    "drop_translate",
    "drop_no_credit",
    "rekeys_started",
    "xsk_rx",
    "xsk_steered",
    "xsk_missing",
    "xsk_kernel_drops",
    "held_moving",
];

#[derive(Debug, Default)]
pub struct EspCounters([AtomicU64; NAMES.len()]);

impl EspCounters {
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Set a counter kept elsewhere (a BPF map, the kernel's socket
    /// statistics), copied here by the control plane.
    pub fn set(&self, c: Counter, v: u64) {
        self.0[c as usize].store(v, Ordering::Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    /// (name, value) for every counter, in a stable order.
    pub fn list(&self) -> Vec<(&'static str, u64)> {
        NAMES.iter().zip(&self.0).map(|(n, v)| (*n, v.load(Ordering::Relaxed))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_variants() {
        let c = EspCounters::default();
        c.inc(Counter::SaEvents);
        c.add(Counter::DropUnknownSpi, 3);
        let l = c.list();
        assert_eq!(l.len(), NAMES.len());
        assert_eq!(l[Counter::SaEvents as usize], ("sa_events", 1));
        assert_eq!(l[Counter::DropUnknownSpi as usize], ("drop_unknown_spi", 3));
    }
}
