//! Local -> peer: read a batch from the TUN device, seal each packet on
//! its outbound SA (BEET or tunnel), send the batch per outer family.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::atomic::{AtomicBool, Ordering},
};

use proxy_proto::esp::{Mode, beet::seal_inner_packet, tunnel::seal_tunnel_packet};

use super::rawsock::{BATCH, Batch, FRAME, HEADROOM, RawEsp};
use super::{Tun, poll_in};
use crate::esp::{
    SaTable,
    counters::{Counter, EspCounters},
    hip_hooks::HipHooks,
    table::Tables,
};

pub fn run(table: &SaTable, tun: &Tun, v4: &RawEsp, v6: &RawEsp, stop: &AtomicBool) {
    let mut batch = Batch::default();
    let mut out4: Vec<(usize, IpAddr, IpAddr)> = Vec::with_capacity(BATCH);
    let mut out6: Vec<(usize, IpAddr, IpAddr)> = Vec::with_capacity(BATCH);
    let c = &table.counters;
    while !stop.load(Ordering::Relaxed) {
        // The HIP driver hooks in after this thread starts.
        let hooks = table.hip.get();
        // poll(2) ignores negative descriptors.
        let wake_fd = hooks.map_or(-1, |h| h.wake_fd());
        let [tun_ready, woken] = poll_in([tun.raw_fd(), wake_fd]);
        if woken && let Some(h) = hooks {
            h.clear_wake();
        }
        if !tun_ready && !woken {
            continue;
        }
        loop {
            let n = read_batch(tun, hooks.map(|h| &**h), &mut batch, c);
            if n == 0 {
                break;
            }
            c.add(Counter::LocalRx, n as u64);
            out4.clear();
            out6.clear();
            {
                let t = table.read();
                for i in 0..n {
                    if let Some((local, peer)) = seal_one(&t, &mut batch, i, table) {
                        if peer.is_ipv4() { out4.push((i, local, peer)) } else { out6.push((i, local, peer)) }
                    }
                }
            }
            for (sock, out) in [(v4, &out4), (v6, &out6)] {
                if out.is_empty() {
                    continue;
                }
                let (failed, err) = batch.send(sock, out);
                c.add(Counter::EspTx, (out.len() - failed) as u64);
                if failed > 0 {
                    c.add(Counter::DropIo, failed as u64);
                    tracing::debug!("ESP send: {failed} failed: {err:?}");
                }
            }
            if n < BATCH {
                break;
            }
        }
    }
}

/// Read up to BATCH packets without blocking: first those held during a
/// base exchange whose SA is now in, then the TUN device.
fn read_batch(tun: &Tun, hooks: Option<&HipHooks>, batch: &mut Batch, c: &EspCounters) -> usize {
    let mut n = 0;
    while n < BATCH
        && let Some(p) = hooks.and_then(|h| h.pop_ready())
    {
        // Held packets came from this TUN read, so they fit.
        let room = FRAME - HEADROOM - 64;
        let len = p.len().min(room);
        batch.frame_mut(n)[HEADROOM..HEADROOM + len].copy_from_slice(&p[..len]);
        batch.start[n] = HEADROOM;
        batch.len[n] = len;
        n += 1;
    }
    while n < BATCH {
        // Leave room behind the packet for padding and ICV.
        let room = FRAME - HEADROOM - 64;
        match tun.read(&mut batch.frame_mut(n)[HEADROOM..HEADROOM + room]) {
            Ok(len) => {
                batch.start[n] = HEADROOM;
                batch.len[n] = len;
                n += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                c.inc(Counter::DropIo);
                tracing::warn!("TUN read: {e}");
                break;
            }
        }
    }
    n
}

/// Inner destination of an IP packet.
fn inner_destination(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(pkt.get(16..20)?).ok()?))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(pkt.get(24..40)?).ok()?))),
        _ => None,
    }
}

/// Seal frame `i` in place; returns the outer (source, destination), or
/// counts the drop.
fn seal_one(t: &Tables, batch: &mut Batch, i: usize, table: &SaTable) -> Option<(IpAddr, IpAddr)> {
    let c = &table.counters;
    let len = batch.len[i];
    let frame = batch.frame_mut(i);
    let Some(dst) = inner_destination(&frame[HEADROOM..HEADROOM + len]) else {
        c.inc(Counter::DropMalformed);
        return None;
    };
    let Some(entry) = t.outbound_for(dst) else {
        // A packet to a HIT starts the base exchange and waits for its SA.
        if table.hip.get().is_some_and(|h| h.hold(dst, &frame[HEADROOM..HEADROOM + len])) {
            return None;
        }
        c.inc(Counter::DropNoSa);
        return None;
    };
    let mut st = entry.state.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng_failed = false;
    let mut rng = |iv: &mut [u8]| rng_failed |= aws_lc_rs::rand::fill(iv).is_err();
    let inner = HEADROOM..HEADROOM + len;
    let sealed = match (entry.mode, &entry.inner) {
        (Mode::Beet, Some(addrs)) => seal_inner_packet(&mut st.sa, frame, inner, addrs, &mut rng),
        _ => seal_tunnel_packet(&mut st.sa, frame, inner, &mut rng),
    };
    if let Some(ev) = st.sa.poll_event() {
        table.push_event(ev);
    }
    match sealed {
        Ok(esp) if !rng_failed => {
            batch.start[i] = esp.start;
            batch.len[i] = esp.len();
            Some((st.local, st.peer))
        }
        Ok(_) => {
            c.inc(Counter::DropSeal);
            None
        }
        Err(e) => {
            c.inc(Counter::DropSeal);
            tracing::trace!(%dst, "seal refused: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(inner_destination(&v4), Some("10.0.0.9".parse().unwrap()));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[39] = 5;
        assert_eq!(inner_destination(&v6), Some("::5".parse().unwrap()));
        assert_eq!(inner_destination(&v6[..30]), None);
        assert_eq!(inner_destination(&[0x10; 40]), None);
        assert_eq!(inner_destination(&[]), None);
    }
}
