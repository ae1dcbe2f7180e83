//! The `host` role's ESP receive path over AF_XDP (`[esp] host_datapath`).
//!
//! The raw-socket receiver (rawsock.rs, rx.rs) pays, per ESP packet, the
//! kernel's IP input, a raw-socket skb clone and a copy out through
//! `recvmmsg`. Here `xdp_host` (datapath::HostXdp, the proxy's own
//! `xsk_steer` with the substitute half compiled out) redirects ESP whose
//! SPI is one of our inbound SAs to an AF_XDP socket per receive queue
//! before the kernel builds an skb; one worker thread per socket opens the
//! frames in place in its UMEM with the same code as the raw path
//! (`rx::open_one`: SA by SPI, outer source check, anti-replay and ICV,
//! RFC 4303 §3.4) and hands the inner packets to the same GRO runs and TUN
//! writes. Per batch no syscall but the fill-ring wakeup copy mode asks
//! for; per packet none.
//!
//! Everything else still reaches the kernel: ESP for an SPI not (yet) in
//! the steering map (the raw-socket path opens it), fragments, a queue
//! without a socket (`xsk_missing`). Sending stays on the raw socket.
//!
//! The SPI map follows the SA table: a new inbound SPI is written by the
//! installer itself, before the SA is in the table and before the R2 or
//! UPDATE that announces it leaves (`SaTable::set_steering`), so even the
//! first packet on it is steered. A control thread compares the table's
//! inbound SPIs with what was written, on every change and a short tick
//! (removals; a write that failed), and copies the program's and the
//! sockets' kernel counters into the engine counters (`sa list`: `xsk_*`).

use std::{
    collections::{HashMap, HashSet},
    os::fd::BorrowedFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::esp::{
    gro::Coalescer,
    outer::{ETH_HLEN, parse_outer_esp, split_eth},
};
use xdpilone::xdp::XdpDesc;

use super::{
    Tun,
    rx::{Received, deliver_run, open_one},
};
use crate::{
    datapath::HostXdp,
    esp::{
        Direction, SaTable,
        afxdp::{
            WAN_SLOT,
            socket::{self, BindMode, FRAME_SIZE, Xsk},
        },
        counters::Counter,
        table::InboundSteering,
        tunnel_hook::TunnelHook,
    },
};

/// Descriptors taken per round.
const BATCH: usize = 64;
/// How often the control thread looks, besides the SA table's change
/// notifications. Until the SPI map follows, a new SPI's packets take the
/// raw-socket path: slower, never lost.
const SYNC_EVERY: Duration = Duration::from_millis(50);

/// What the AF_XDP receive path needs from the config.
#[derive(Debug, Clone)]
pub struct XskOptions {
    /// Interfaces ESP arrives on.
    pub interfaces: Vec<String>,
    pub bind: BindMode,
    /// `af_xdp`: failing to set it up is an error; `auto`: the raw socket
    /// carries everything then, with a warning.
    pub required: bool,
}

/// The running receive workers and their control thread; dropping it
/// stops them, detaches `xdp_host` and closes the sockets.
pub struct XskRx {
    table: Arc<SaTable>,
    stop: Arc<AtomicBool>,
    control: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    sockets: usize,
}

impl XskRx {
    /// Attach `xdp_host` to every interface, open a socket per receive
    /// queue, bind them, start the workers. All or nothing: an error leaves
    /// nothing attached or running.
    pub fn start(
        table: Arc<SaTable>,
        tun: Arc<Tun>,
        hook: Option<Arc<dyn TunnelHook>>,
        opts: &XskOptions,
    ) -> anyhow::Result<XskRx> {
        anyhow::ensure!(!opts.interfaces.is_empty(), "no interface to receive ESP on");
        let mut programs = Vec::new();
        let mut sockets = Vec::new();
        for iface in &opts.interfaces {
            let mut prog = HostXdp::attach(iface).with_context(|| format!("xdp_host on {iface}"))?;
            let queues = socket::rx_queues(iface).clamp(1, WAN_SLOT);
            for q in 0..queues {
                let s = Xsk::open(iface, q, opts.bind)?;
                // SAFETY: the socket outlives the binding: the program (and
                // its XSKMAP) is dropped by the control thread, which is
                // joined before the workers that own the sockets.
                prog.bind(q, unsafe { BorrowedFd::borrow_raw(s.raw_fd()) })
                    .with_context(|| format!("XSKMAP of {iface} queue {q}"))?;
                sockets.push(s);
            }
            programs.push(prog);
        }
        let zero_copy = sockets.iter().all(|s| s.zero_copy);
        let fds: Vec<i32> = sockets.iter().map(|s| s.raw_fd()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut rx =
            XskRx { table: table.clone(), stop: stop.clone(), control: None, workers: Vec::new(), sockets: fds.len() };
        for (i, s) in sockets.into_iter().enumerate() {
            let (table, tun, stop, hook) = (table.clone(), tun.clone(), stop.clone(), hook.clone());
            // On error `rx` drops: the workers started so far stop.
            rx.workers.push(std::thread::Builder::new().name(format!("esp-xsk{i}")).spawn(move || {
                crate::sched::enter("esp-xsk");
                Worker { xsk: s, gro: Coalescer::default() }.run(&table, &tun, &stop, hook.as_deref())
            })?);
        }
        let steering = Arc::new(Steering(Mutex::new(Steered { programs, spis: HashMap::new() })));
        // SPIs already installed are written by the control thread's first look.
        table.set_steering(Some(steering.clone()));
        rx.control = Some(
            std::thread::Builder::new()
                .name("esp-xsk-sync".into())
                .spawn(move || control(&steering, &fds, &table, &stop))?,
        );
        tracing::info!(
            interfaces = ?opts.interfaces,
            sockets = rx.sockets,
            zero_copy,
            "ESP receive on AF_XDP: xdp_host steers our inbound SPIs to the workers"
        );
        Ok(rx)
    }
}

impl Drop for XskRx {
    fn drop(&mut self) {
        // The table lets go of the programs first, then the control
        // thread (it owns them and reads the workers' sockets).
        self.table.set_steering(None);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(c) = self.control.take() {
            let _ = c.join();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

struct Worker {
    xsk: Xsk,
    gro: Coalescer,
}

impl Worker {
    fn run(mut self, table: &SaTable, tun: &Tun, stop: &AtomicBool, hook: Option<&dyn TunnelHook>) {
        let mut descs = [XdpDesc { addr: 0, len: 0, options: 0 }; BATCH];
        let mut idle = crate::esp::afxdp::idle::Idle::default();
        while !stop.load(Ordering::Relaxed) {
            let n = self.xsk.receive(&mut descs);
            if n > 0 {
                idle.busy();
                self.batch(&descs[..n], table, tun, hook);
                continue;
            }
            idle.empty([self.xsk.raw_fd()]);
        }
    }

    /// Open a batch of received frames in place, deliver, give the frames
    /// back to the fill ring.
    fn batch(&mut self, descs: &[XdpDesc], table: &SaTable, tun: &Tun, hook: Option<&dyn TunnelHook>) {
        let c = &table.counters;
        c.add(Counter::EspRx, descs.len() as u64);
        c.add(Counter::XskRx, descs.len() as u64);
        {
            let t = table.read();
            for d in descs {
                self.xsk.refill.push(d.addr);
                let off = (d.addr % u64::from(FRAME_SIZE)) as usize;
                let frame = self.xsk.frame_mut(d.addr);
                match received(frame, off, d.len as usize) {
                    Some(a) => open_one(&t, frame, a, table, tun, &mut self.gro, hook, None),
                    None => c.inc(Counter::DropMalformed),
                }
            }
        }
        deliver_run(&mut self.gro, tun, table);
        self.xsk.refill();
    }
}

/// The ESP packet in the Ethernet frame at `frame[off..off + len]`.
fn received(frame: &[u8], off: usize, len: usize) -> Option<Received> {
    let (_, ip) = split_eth(frame.get(off..off.checked_add(len)?)?)?;
    let o = parse_outer_esp(ip)?;
    let base = off + ETH_HLEN;
    Some(Received { esp: base + o.esp.start..base + o.esp.end, src: o.src, dst: Some(o.dst), hops: o.hops })
}

/// The programs on every interface and the SPIs written to all of them
/// (with when), shared by the installer ([`InboundSteering`]) and the
/// control thread.
struct Steered {
    programs: Vec<HostXdp>,
    spis: HashMap<u32, Instant>,
}

struct Steering(Mutex<Steered>);

impl Steering {
    fn lock(&self) -> std::sync::MutexGuard<'_, Steered> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InboundSteering for Steering {
    fn steer(&self, spi: u32) {
        let mut s = self.lock();
        if !s.spis.contains_key(&spi) {
            s.add(spi);
        }
    }
}

/// An SPI the installer steered is not in the table yet, for a moment:
/// the sync leaves it alone that long.
const INSTALL_GRACE: Duration = Duration::from_secs(2);

impl Steered {
    /// Write `spi` to every program's map; remembered once all have it
    /// (one that failed is tried again on the next sync).
    fn add(&mut self, spi: u32) {
        let mut ok = true;
        for p in self.programs.iter_mut() {
            if let Err(e) = p.steer_spi(spi, true) {
                tracing::warn!(iface = %p.iface, spi = format_args!("{spi:#010x}"), "SPI steering not set: {e}");
                ok = false;
            }
        }
        if ok {
            tracing::debug!(spi = format_args!("{spi:#010x}"), "AF_XDP: steering the inbound SPI");
            self.spis.insert(spi, Instant::now());
        }
    }

    /// Make the maps hold the table's inbound SPIs (`want`), and those
    /// steered for an install under way.
    fn sync(&mut self, want: &HashSet<u32>) {
        for spi in want.iter().filter(|s| !self.spis.contains_key(s)).copied().collect::<Vec<_>>() {
            self.add(spi);
        }
        let gone: Vec<u32> = self
            .spis
            .iter()
            .filter(|(spi, at)| !want.contains(spi) && at.elapsed() > INSTALL_GRACE)
            .map(|(spi, _)| *spi)
            .collect();
        for spi in gone {
            if self.programs.iter_mut().all(|p| p.steer_spi(spi, false).is_ok()) {
                self.spis.remove(&spi);
            }
        }
    }
}

/// The control thread: the SPI maps in line with the SA table (removals,
/// repairs), counters copied. It wakes on every SA change and on a tick.
fn control(steering: &Steering, fds: &[i32], table: &SaTable, stop: &AtomicBool) {
    // A runtime of its own for the SA table's change notification.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("AF_XDP SPI steering not kept in line with the SA table: {e}");
            return;
        }
    };
    rt.block_on(async {
        while !stop.load(Ordering::Relaxed) {
            let want: HashSet<u32> =
                table.list(false).into_iter().filter(|s| s.direction == Direction::In).map(|s| s.spi).collect();
            {
                let mut s = steering.lock();
                s.sync(&want);
                copy_counters(&s.programs, fds, table);
            }
            tokio::select! {
                _ = tokio::time::sleep(SYNC_EVERY) => {}
                _ = table.sas_changed() => {}
            }
        }
    });
}

fn copy_counters(programs: &[HostXdp], fds: &[i32], table: &SaTable) {
    let (mut steered, mut missing) = (0, 0);
    for p in programs {
        if let Ok(k) = p.counters() {
            steered += k.steered;
            missing += k.missing;
        }
    }
    let drops: u64 = fds.iter().filter_map(|fd| socket::kernel_stats(*fd)).map(|k| k.rx_dropped + k.rx_ring_full).sum();
    let c = &table.counters;
    c.set(Counter::XskSteered, steered);
    c.set(Counter::XskMissing, missing);
    c.set(Counter::XskKernelDrops, drops);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_finds_the_esp_packet_behind_ethernet_and_ip() {
        let mut f = vec![0u8; 512];
        let off = 256;
        f[off + 12..off + 14].copy_from_slice(&0x0800u16.to_be_bytes());
        let (l, p) = ("192.0.2.1".parse().unwrap(), "192.0.2.10".parse().unwrap());
        proxy_proto::esp::outer::write_outer(&mut f[off + ETH_HLEN..], l, p, 40).unwrap();
        let a = received(&f, off, ETH_HLEN + 20 + 40 + 6).expect("ESP");
        assert_eq!(a.esp, off + ETH_HLEN + 20..off + ETH_HLEN + 60, "the IP length bounds it, not the frame");
        assert_eq!((a.src, a.dst), (l, Some(p)));
        // Truncated, past the frame, not IP.
        assert!(received(&f, off, ETH_HLEN + 30).is_none());
        assert!(received(&f, 500, 100).is_none());
        f[off + 12] = 0x86;
        assert!(received(&f, off, ETH_HLEN + 60).is_none());
    }
}
