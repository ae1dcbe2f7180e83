//! The gateway's control thread: SIUs from the home agent and the receive
//! worker's messages (Registration Request copies, return-routability
//! echoes, bundles installed) on a dedicated OS thread, blocking in
//! `poll(2)` on the SIU socket and an eventfd the hook signals.
//!
//! Why not tokio: the SIU's wake-up is on the handover's critical path
//! (SIU in -> outbound SA moved -> Registration Reply forwarded, SIU.md
//! §4), and a tokio socket is woken through the reactor and then a worker
//! (150-300 us measured on this 2-vCPU box, against ~70 us for the ESP
//! receive thread's blocking wait). The sans-IO `Gateway` core is owned by
//! this thread alone; the tokio side only polls HIP's counters.
//!
//! Also here: the packets the ESP engine holds for a new care-of address
//! (the home agent's IP-in-IP that reaches us before its SIU has moved the
//! SA; engine limits 16 per address, 256 in all) are given up when no SA
//! move follows within [`HOLD_LIMIT`].

use std::{
    collections::HashMap,
    io::ErrorKind,
    net::{IpAddr, Ipv4Addr},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use anyhow::Context;
use tracing::{debug, info, warn};

use super::{FromTunnel, Gw};
use crate::daemon::vpn_io::{Wake, fill_random, poll_readable, unix_ms};

/// The driver's housekeeping period (views, held packets given up).
const TICK: Duration = Duration::from_secs(1);
/// How long packets held for a new care-of address may wait for the SA
/// move (checked each [`TICK`], so up to twice this).
pub(super) const HOLD_LIMIT: Duration = Duration::from_secs(1);

impl Gw {
    /// The thread's loop; returns only on a socket error.
    pub(super) fn run_thread(
        mut self,
        siu: std::net::UdpSocket,
        wake: &Wake,
        mut from_hook: tokio::sync::mpsc::UnboundedReceiver<FromTunnel>,
        mut misses: tokio::sync::mpsc::UnboundedReceiver<IpAddr>,
    ) -> anyhow::Result<()> {
        siu.set_nonblocking(true).context("SIU socket")?;
        // Spawned HIP calls and a rekey's retirement timer are tokio tasks.
        let _rt = self.rt.clone();
        let _rt = _rt.enter();
        let mut buf = vec![0u8; 2048];
        let mut next_tick = Instant::now() + TICK;
        // New care-of addresses the engine holds packets for, since when.
        let mut holding: HashMap<Ipv4Addr, Instant> = HashMap::new();
        loop {
            let due = self.core.poll_timeout().map_or(next_tick, |t| t.min(next_tick));
            let [siu_ready, msg] =
                poll_readable([siu.as_raw_fd(), wake.raw_fd()], due.saturating_duration_since(Instant::now()));
            if msg {
                wake.ack();
            }
            // The hook's messages first: a Registration Request's copy
            // must reach the core before the SIU it caused (the worker
            // forwards the request before it sends the copy).
            let mut any = false;
            while let Ok(m) = from_hook.try_recv() {
                self.on_tunnel(m);
                any = true;
            }
            let mut sius = Vec::new();
            if siu_ready {
                loop {
                    match siu.recv_from(&mut buf) {
                        Ok((n, std::net::SocketAddr::V4(src))) => sius.push(self.on_siu(*src.ip(), &buf[..n])),
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e).context("SIU socket"),
                    }
                }
            }
            let now = Instant::now();
            // Addresses the engine started holding packets for (counted
            // before the view is refreshed below).
            while let Ok(IpAddr::V4(a)) = misses.try_recv() {
                self.c.held_for_new_care_of += 1;
                holding.entry(a).or_insert(now);
            }
            let timer = self.core.poll_timeout().is_some_and(|t| t <= now);
            if timer {
                self.core.handle_timeout(now);
            }
            // One drain for all of it: the SA moves and the reply goes
            // before any challenge, and before anything is logged.
            if any || timer || !sius.is_empty() {
                self.drain();
                for (src, r) in sius {
                    match r {
                        Ok(()) => info!(%src, "SIU accepted"),
                        Err(e) => warn!(%src, "SIU rejected: {e}"),
                    }
                }
                self.refresh();
            }
            if now >= next_tick {
                next_tick = now + TICK;
                self.give_up_held(&mut holding, now);
                self.refresh();
            }
        }
    }

    /// An SIU from `src` into the core; the caller drains its actions.
    fn on_siu(&mut self, src: Ipv4Addr, payload: &[u8]) -> (Ipv4Addr, Result<(), proxy_proto::vpn::gateway::GwError>) {
        debug!(target: "handover", step = "gw_siu_rx", "SIU received");
        self.siu_at = Some((Instant::now(), unix_ms()));
        (src, self.core.handle_siu(Instant::now(), src, payload, &mut fill_random))
    }

    /// Held packets for an address no SA moved to within [`HOLD_LIMIT`]
    /// are dropped (counted by the engine as `drop_no_sa`); those whose SA
    /// came were sent by the engine the moment it moved.
    fn give_up_held(&mut self, holding: &mut HashMap<Ipv4Addr, Instant>, now: Instant) {
        holding.retain(|&a, since| {
            if self.hook.is_care_of(a) {
                return false;
            }
            if now.duration_since(*since) < HOLD_LIMIT {
                return true;
            }
            debug!(address = %a, "no SA moved there: packets held for it dropped");
            self.table.give_up(a.into());
            self.c.held_given_up += 1;
            false
        });
    }
}
