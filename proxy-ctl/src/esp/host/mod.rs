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

mod rawsock;
mod rx;
mod tun;
mod tx;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use anyhow::Context;

pub use tun::Tun;

use super::SaTable;

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
}

/// How long a worker waits in poll(2) before it looks at the stop flag.
const POLL_MS: i32 = 200;

impl HostPath {
    pub fn start(table: Arc<SaTable>, opts: &HostOptions) -> anyhow::Result<HostPath> {
        let tun = Arc::new(Tun::create(&opts.tun).with_context(|| format!("creating TUN device {}", opts.tun))?);
        tun.configure(opts.mtu, &opts.addrs, &opts.routes)?;
        let v4 = Arc::new(rawsock::RawEsp::open(false).context("raw IPv4 ESP socket")?);
        let v6 = Arc::new(rawsock::RawEsp::open(true).context("raw IPv6 ESP socket")?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (table, tun, v4, v6, stop) = (table.clone(), tun.clone(), v4.clone(), v6.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("esp-tx".into())
                    .spawn(move || tx::run(&table, &tun, &v4, &v6, &stop))?,
            );
        }
        let stop_rx = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("esp-rx".into())
                .spawn(move || rx::run(&table, &tun, &v4, &v6, &stop_rx))?,
        );
        tracing::info!(tun = %opts.tun, mtu = opts.mtu, "ESP host data path running");
        Ok(HostPath { stop, threads })
    }
}

impl Drop for HostPath {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
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
