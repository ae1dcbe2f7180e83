//! A UDP packet generator for benchmarks: `sendmmsg` in batches from many
//! source ports (flows), so the offered load is well above what one
//! `send()` loop (iperf3 -u) manages and is spread over many NAT flows.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

pub struct Blast {
    pub dst: SocketAddr,
    pub flows: usize,
    pub size: usize,
    pub secs: u64,
}

const BATCH: usize = 64;

/// Returns the number of packets the kernel accepted for sending.
pub fn run(b: &Blast) -> Result<u64> {
    let socks: Vec<std::net::UdpSocket> = (0..b.flows)
        .map(|_| {
            let bind = if b.dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = std::net::UdpSocket::bind(bind)?;
            s.connect(b.dst)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()
        .context("UDP sockets")?;
    let payload = vec![0x5au8; b.size];
    let mut iov: Vec<libc::iovec> =
        (0..BATCH).map(|_| libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() }).collect();
    // SAFETY: zeroed mmsghdr is valid; each points at one iovec of the payload.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|i| {
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = &mut iov[i];
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(b.secs);
    let mut sent: u64 = 0;
    let mut k = 0;
    while Instant::now() < end {
        for s in &socks {
            use std::os::fd::AsRawFd;
            // SAFETY: msgs points at BATCH valid headers.
            let n = unsafe { libc::sendmmsg(s.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
            if n > 0 {
                sent += n as u64;
            }
            k += 1;
        }
        if k % 1024 == 0 {
            std::hint::spin_loop();
        }
    }
    Ok(sent)
}
