//! The proxy's ESP fast path over AF_XDP (issue 5; docs/DATAPATH.md).
//!
//! `xdp_proxy` steers established flows to AF_XDP sockets (LAN: packets
//! to a substitute whose peer has an SA pair; WAN: ESP with one of our
//! inbound SPIs); one worker thread per queue seals and opens them with
//! the SA table's SAs and transmits through AF_XDP. The control plane
//! ([`AfXdpPath::sync`]) decides what is steered: a substitute only once
//! its peer's SA pair is installed and the WAN next hop's MAC is known.
//! Everything else, first packets included, takes the slow path (the TUN
//! engine), which triggers the base exchange.
//!
//! - [`socket`]: one AF_XDP socket with its UMEM (xdpilone).
//! - [`worker`]: the per-queue loop.
//! - `proxy_proto::esp::outer`: Ethernet and outer IP headers.
//! - [`neigh`]: MACs from the kernel (control plane only).
//! - [`translate`]: what the workers need of the port NAT.
//! - [`counters`]: per-worker counters.

pub mod counters;
pub mod idle;
pub mod neigh;
pub mod socket;
pub mod translate;
pub mod worker;

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv6Addr},
    os::fd::BorrowedFd,
    sync::{Arc, Mutex, RwLock, atomic::AtomicBool, atomic::Ordering},
    thread::JoinHandle,
};

use anyhow::Context;
use proxy_common::maps::XSKS_MAX;
use tracing::{info, warn};

pub use socket::BindMode;

use self::{
    counters::WorkerCounters,
    socket::Xsk,
    translate::Translate,
    worker::{Shared, Worker},
};
use crate::{
    datapath::Datapath,
    esp::{Direction, ModeName, SaTable},
};

/// XSKMAP slots: LAN queue `q` at `q`, WAN queue `q` at `WAN_SLOT + q`
/// (one map serves the program on both interfaces).
pub const WAN_SLOT: u32 = XSKS_MAX / 2;

pub struct Options {
    pub lan: String,
    pub wan: String,
    /// Worker count; `None`: one per receive queue of the LAN interface.
    pub queues: Option<u32>,
    pub bind: BindMode,
}

struct Thread {
    handle: Option<JoinHandle<()>>,
    counters: Arc<WorkerCounters>,
    lan_fd: i32,
    wan_fd: i32,
}

/// What [`AfXdpPath::sync`] last wrote to the steering maps.
#[derive(Default)]
struct Applied {
    substitutes: HashSet<IpAddr>,
    spis: HashSet<u32>,
    /// `drop_no_neighbour` at the last LAN neighbour refresh.
    no_neighbour: u64,
}

pub struct AfXdpPath {
    shared: Arc<Shared>,
    threads: Vec<Thread>,
    opts: Options,
    applied: Mutex<Applied>,
    pub zero_copy: bool,
}

impl AfXdpPath {
    /// Open one LAN and one WAN socket per queue and start the workers.
    pub fn start(table: Arc<SaTable>, translator: Arc<dyn Translate>, opts: Options) -> anyhow::Result<AfXdpPath> {
        anyhow::ensure!(opts.lan != opts.wan, "the AF_XDP path needs distinct LAN and WAN interfaces");
        let queues = match opts.queues {
            Some(q) => q,
            None => socket::rx_queues(&opts.lan).min(socket::rx_queues(&opts.wan)),
        }
        .clamp(1, WAN_SLOT);
        let shared = Arc::new(Shared {
            table,
            translator,
            next_hops: RwLock::new(HashMap::new()),
            legacy_macs: RwLock::new(HashMap::new()),
            lan_mac: neigh::interface_mac(&opts.lan).with_context(|| format!("MAC of {}", opts.lan))?,
            wan_mac: neigh::interface_mac(&opts.wan).with_context(|| format!("MAC of {}", opts.wan))?,
            stop: AtomicBool::new(false),
        });
        // Every socket first: a failure leaves no worker running.
        let mut sockets = Vec::new();
        for q in 0..queues {
            sockets.push((Xsk::open(&opts.lan, q, opts.bind)?, Xsk::open(&opts.wan, q, opts.bind)?));
        }
        let mut threads: Vec<Thread> = Vec::new();
        let mut zero_copy = true;
        for (q, (lan, wan)) in sockets.into_iter().enumerate() {
            zero_copy &= lan.zero_copy && wan.zero_copy;
            let counters = Arc::new(WorkerCounters::default());
            let (lan_fd, wan_fd) = (lan.raw_fd(), wan.raw_fd());
            let w = Worker { lan, wan, shared: shared.clone(), counters: counters.clone() };
            let handle = match std::thread::Builder::new().name(format!("afxdp-q{q}")).spawn(move || w.run()) {
                Ok(h) => h,
                Err(e) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    for t in &mut threads {
                        if let Some(h) = t.handle.take() {
                            let _ = h.join();
                        }
                    }
                    return Err(e.into());
                }
            };
            threads.push(Thread { handle: Some(handle), counters, lan_fd, wan_fd });
        }
        info!(lan = %opts.lan, wan = %opts.wan, queues, zero_copy, "AF_XDP ESP workers started");
        Ok(AfXdpPath { shared, threads, opts, applied: Mutex::new(Applied::default()), zero_copy })
    }

    /// Put every worker's sockets into the datapath's XSKMAP.
    pub fn bind(&self, dp: &mut Datapath) -> anyhow::Result<()> {
        for (q, t) in self.threads.iter().enumerate() {
            // SAFETY: the sockets live as long as the workers (joined in Drop).
            let (lan, wan) = unsafe { (BorrowedFd::borrow_raw(t.lan_fd), BorrowedFd::borrow_raw(t.wan_fd)) };
            dp.xsk_bind(q as u32, lan).context("XSKMAP (LAN)")?;
            dp.xsk_bind(WAN_SLOT + q as u32, wan).context("XSKMAP (WAN)")?;
        }
        Ok(())
    }

    /// Bring the steering maps and the workers' next hops in line with the
    /// SA table: steer a substitute once its peer has a BEET SA pair and
    /// the WAN next hop's MAC is known; steer the inbound SPIs of those
    /// peers; stop steering what went away. Map writes only on change.
    /// `subs`: substitute -> peer HIT, as the proxy role maps them.
    pub fn sync(&self, dp: &mut Datapath, subs: &[(IpAddr, Ipv6Addr)]) {
        let sas = self.shared.table.list(false);
        let mut want_subs = HashSet::new();
        let mut ready_peers = HashSet::new();
        for (sub, hit) in subs {
            let out = sas.iter().find(|s| {
                s.direction == Direction::Out && s.mode == ModeName::Beet && s.inner_peer == Some(IpAddr::V6(*hit))
            });
            let has_in = sas.iter().any(|s| s.direction == Direction::In && s.inner_peer == Some(IpAddr::V6(*hit)));
            let Some(out) = out.filter(|_| has_in) else { continue };
            if !self.next_hop_ready(out.peer) {
                continue;
            }
            want_subs.insert(*sub);
            ready_peers.insert(*hit);
        }
        let want_spis: HashSet<u32> = sas
            .iter()
            .filter(|s| {
                s.direction == Direction::In && matches!(s.inner_peer, Some(IpAddr::V6(h)) if ready_peers.contains(&h))
            })
            .map(|s| s.spi)
            .collect();
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        // A download's first steered packets come from the WAN, before the
        // legacy host sent a frame the workers could learn its MAC from:
        // take the kernel's LAN neighbours (it delivered the slow path's
        // packets) when steering starts, and again after such drops.
        let no_neighbour = self.sum(counters::WCounter::DropNoNeighbour);
        if !want_subs.is_subset(&applied.substitutes) || no_neighbour != applied.no_neighbour {
            applied.no_neighbour = no_neighbour;
            self.refresh_lan_neighbours();
        }
        for s in want_subs.difference(&applied.substitutes.clone()) {
            match dp.xsk_steer_substitute(*s, true) {
                Ok(()) => {
                    info!(substitute = %s, "AF_XDP: steering the substitute's traffic to the ESP workers");
                    applied.substitutes.insert(*s);
                }
                Err(e) => warn!(substitute = %s, "AF_XDP steering not set: {e}"),
            }
        }
        for s in applied.substitutes.clone().difference(&want_subs) {
            if dp.xsk_steer_substitute(*s, false).is_ok() {
                info!(substitute = %s, "AF_XDP: substitute back on the slow path");
                applied.substitutes.remove(s);
            }
        }
        for spi in want_spis.difference(&applied.spis.clone()) {
            match dp.xsk_steer_spi(*spi, true) {
                Ok(()) => {
                    applied.spis.insert(*spi);
                }
                Err(e) => warn!(spi = format_args!("{spi:#010x}"), "AF_XDP SPI steering not set: {e}"),
            }
        }
        for spi in applied.spis.clone().difference(&want_spis) {
            if dp.xsk_steer_spi(*spi, false).is_ok() {
                applied.spis.remove(spi);
            }
        }
    }

    /// The WAN next hop toward `peer` is known to the workers (resolved now
    /// if it was not).
    fn next_hop_ready(&self, peer: IpAddr) -> bool {
        if self.shared.next_hops.read().unwrap_or_else(|e| e.into_inner()).contains_key(&peer) {
            return true;
        }
        match neigh::next_hop_mac(peer, &self.opts.wan) {
            Ok(Some(mac)) => {
                info!(%peer, mac = %fmt_mac(mac), "AF_XDP: WAN next hop resolved");
                self.shared.next_hops.write().unwrap_or_else(|e| e.into_inner()).insert(peer, mac);
                true
            }
            Ok(None) => false,
            Err(e) => {
                warn!(%peer, "AF_XDP: next hop not resolved: {e}");
                false
            }
        }
    }

    fn refresh_lan_neighbours(&self) {
        match neigh::neighbours(&self.opts.lan) {
            Ok(v) => {
                let mut macs = self.shared.legacy_macs.write().unwrap_or_else(|e| e.into_inner());
                for (ip, mac) in v {
                    macs.insert(ip, mac);
                }
            }
            Err(e) => warn!(lan = %self.opts.lan, "AF_XDP: LAN neighbours not read: {e}"),
        }
    }

    fn sum(&self, c: counters::WCounter) -> u64 {
        self.threads.iter().map(|t| t.counters.get(c)).sum()
    }

    /// `afxdp_*` counters summed over the workers, the kernel's counters of
    /// their sockets (`afxdp_xsk_*`), plus the worker count.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut sums: Vec<(String, u64)> = counters::NAMES.iter().map(|n| (format!("afxdp_{n}"), 0)).collect();
        for t in &self.threads {
            for (i, (_, v)) in t.counters.list().enumerate() {
                sums[i].1 += v;
            }
        }
        // What the kernel dropped before a worker saw it (RX ring full when
        // a worker falls behind: the back-pressure's end point).
        let mut kernel = socket::KernelStats::default();
        for t in &self.threads {
            for fd in [t.lan_fd, t.wan_fd] {
                if let Some(k) = socket::kernel_stats(fd) {
                    kernel.rx_dropped += k.rx_dropped;
                    kernel.rx_ring_full += k.rx_ring_full;
                    kernel.tx_invalid += k.tx_invalid;
                }
            }
        }
        sums.push(("afxdp_xsk_rx_ring_full".into(), kernel.rx_ring_full));
        sums.push(("afxdp_xsk_rx_dropped".into(), kernel.rx_dropped));
        sums.push(("afxdp_xsk_tx_invalid".into(), kernel.tx_invalid));
        sums.push(("afxdp_workers".into(), self.threads.len() as u64));
        sums
    }
}

pub fn fmt_mac(m: proxy_proto::esp::outer::Mac) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl Drop for AfXdpPath {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in &mut self.threads {
            if let Some(h) = t.handle.take() {
                let _ = h.join();
            }
        }
    }
}
