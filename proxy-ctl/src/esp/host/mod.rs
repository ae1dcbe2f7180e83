//! The `host` (and mobile node) data path: local applications reach peers
//! through a TUN device; the SA table seals what they send into ESP on raw
//! protocol 50 sockets and opens what arrives.
//!
//! Two threads, one per direction, each working in batches, buffers
//! allocated once. The TUN device runs with virtio-net headers and TCP
//! segmentation offload: the sender reads 64 KiB TCP super-packets, cuts
//! them into segments (`proxy_proto::esp::gso`), seals them and sends the
//! batch with one `sendmmsg` per outer family; the receiver takes a batch
//! per `recvmmsg`, opens it, joins in-order TCP segments back into
//! super-packets (`proxy_proto::esp::gro`) and writes each run to the TUN
//! device once, so the local stack sees few large packets either way.
//!
//! With `[esp] host_datapath` the receiver has a faster sibling: ESP for
//! our inbound SPIs is steered by XDP to AF_XDP sockets and opened there
//! (xsk.rs); the raw socket keeps whatever is not steered.
//!
//! The proxy role runs the same threads with a [`Translator`]: what the
//! TUN device hands over are legacy hosts' packets to substitutes (the
//! pools are routed into it), port-NATed onto HIT -> HIT before sealing;
//! opened packets are translated back before they go to the TUN device.

mod control;
mod rawsock;
mod rx;
mod tun;
mod tx;
mod xsk;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use anyhow::Context;
use proxy_proto::esp::proxy::Translator;

pub use control::{ControlSendError, Injector};
pub use tun::Tun;
pub use xsk::XskOptions;

use super::{SaTable, tunnel_hook::TunnelHook};

/// What the host data path needs from the config.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub tun: String,
    pub mtu: u32,
    pub addrs: Vec<String>,
    pub routes: Vec<String>,
}

/// The running threads; dropping it stops and joins them.
pub struct HostPath {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    table: Arc<SaTable>,
    tun: Arc<Tun>,
    v4: Arc<rawsock::RawEsp>,
    v6: Arc<rawsock::RawEsp>,
    /// The AF_XDP receive workers, when `[esp] host_datapath` runs them.
    xsk: Option<xsk::XskRx>,
}

/// How long a worker waits in poll(2) before it looks at the stop flag.
const POLL_MS: i32 = 200;

impl HostPath {
    /// Start the threads; with `hook`, it decides about every packet opened
    /// on a tunnel-mode SA (the mobile VPN's roles); with `xsk`, ESP is
    /// received on AF_XDP sockets as it says (`[esp] host_datapath`: the
    /// `host` role, the VPN's `gw` and `mn`), the raw socket keeping what
    /// is not steered.
    pub fn start_host(
        table: Arc<SaTable>,
        opts: &HostOptions,
        hook: Option<Arc<dyn TunnelHook>>,
        xsk: Option<&XskOptions>,
    ) -> anyhow::Result<HostPath> {
        let mut path = Self::start_with(table, opts, hook.clone(), None)?;
        if let Some(x) = xsk {
            match xsk::XskRx::start(path.table.clone(), path.tun.clone(), hook, x) {
                Ok(rx) => path.xsk = Some(rx),
                Err(e) if !x.required => {
                    tracing::warn!("ESP receive stays on the raw socket (host_datapath = \"auto\"): {e:#}")
                }
                Err(e) => return Err(e.context("host_datapath = \"af_xdp\"")),
            }
        }
        Ok(path)
    }

    /// [`HostPath::start_host`] for the proxy role: every packet read from the
    /// TUN device goes through `translator` before sealing, every opened
    /// BEET packet through it before the TUN device.
    pub fn start_translating(
        table: Arc<SaTable>,
        opts: &HostOptions,
        translator: Arc<Translator>,
    ) -> anyhow::Result<HostPath> {
        Self::start_with(table, opts, None, Some(translator))
    }

    fn start_with(
        table: Arc<SaTable>,
        opts: &HostOptions,
        hook: Option<Arc<dyn TunnelHook>>,
        translator: Option<Arc<Translator>>,
    ) -> anyhow::Result<HostPath> {
        let tun = Arc::new(Tun::create(&opts.tun).with_context(|| format!("creating TUN device {}", opts.tun))?);
        tun.configure(opts.mtu, &opts.addrs, &opts.routes)?;
        let v4 = Arc::new(rawsock::RawEsp::open(false).context("raw IPv4 ESP socket")?);
        let v6 = Arc::new(rawsock::RawEsp::open(true).context("raw IPv6 ESP socket")?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (table, tun, v4, v6, stop) = (table.clone(), tun.clone(), v4.clone(), v6.clone(), stop.clone());
            let xl = translator.clone();
            threads.push(std::thread::Builder::new().name("esp-tx".into()).spawn(move || {
                crate::sched::enter("esp-tx");
                tx::run(&table, &tun, &v4, &v6, &stop, xl.as_deref())
            })?);
        }
        {
            let (table, tun, v4, v6, stop) = (table.clone(), tun.clone(), v4.clone(), v6.clone(), stop.clone());
            threads.push(std::thread::Builder::new().name("esp-rx".into()).spawn(move || {
                crate::sched::enter("esp-rx");
                rx::run(&table, &tun, &v4, &v6, &stop, hook.as_deref(), translator.as_deref())
            })?);
        }
        tracing::info!(tun = %opts.tun, mtu = opts.mtu, "ESP host data path running");
        Ok(HostPath { stop, threads, table, tun, v4, v6, xsk: None })
    }
}

impl Drop for HostPath {
    fn drop(&mut self) {
        // The AF_XDP side first: ESP falls back to the raw socket while
        // the rest stops.
        self.xsk = None;
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// CLOCK_MONOTONIC in whole seconds: the translator's clock (flow
/// timestamps and expiry), the same one the daemon's expiry task reads.
pub fn monotonic_secs() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64
}

/// poll(2) for input on `fds`; returns which are readable.
fn poll_in<const N: usize>(fds: [std::os::fd::RawFd; N]) -> [bool; N] {
    let mut p = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    // SAFETY: p is an array of N pollfd.
    let r = unsafe { libc::poll(p.as_mut_ptr(), N as libc::nfds_t, POLL_MS) };
    if r <= 0 {
        return [false; N];
    }
    p.map(|p| p.revents & (libc::POLLIN | libc::POLLERR) != 0)
}
