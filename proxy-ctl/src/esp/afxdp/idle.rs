//! What an AF_XDP worker does with a round that found its rings empty:
//! spin a while, so a packet a few microseconds away costs no wake-up,
//! then sleep in poll(2) until a socket is readable (or a bound passes,
//! to see the stop flag). One piece for the proxy's workers
//! (`afxdp/worker.rs`) and the host's receive workers (`host/xsk.rs`).

use std::os::fd::RawFd;

/// Empty rounds before sleeping in poll(2).
const SPIN: u32 = 256;
/// Longest sleep, so a stop request is seen.
const POLL_MS: i32 = 50;

#[derive(Debug, Default)]
pub struct Idle {
    empty_rounds: u32,
}

impl Idle {
    /// A round that found work: spin again from the start next time.
    pub fn busy(&mut self) {
        self.empty_rounds = 0;
    }

    /// A round that found nothing: spin, or after [`SPIN`] such rounds
    /// sleep until one of `fds` is readable.
    pub fn empty<const N: usize>(&mut self, fds: [RawFd; N]) {
        self.empty_rounds += 1;
        if self.empty_rounds < SPIN {
            std::hint::spin_loop();
            return;
        }
        self.empty_rounds = 0;
        let mut p = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        // SAFETY: p is an array of N pollfd.
        unsafe { libc::poll(p.as_mut_ptr(), N as libc::nfds_t, POLL_MS) };
    }
}
