//! Local -> peer: read from the TUN device (TCP super-packets are cut into
//! segments, partial checksums finished), seal each packet on its outbound
//! SA (BEET or tunnel), send the batch with one `sendmmsg` per outer family.
//! In the proxy role each packet (each segment of a super-packet) is first
//! port-NATed by the [`Translator`] from legacy host -> substitute to
//! HIT -> HIT.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use proxy_proto::esp::{
    Mode,
    beet::seal_inner_packet,
    gso::{self, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, TcpGso, VIRTIO_NET_HDR_LEN, VirtioNetHdr},
    proxy::Translator,
    tunnel::seal_tunnel_packet,
};

use super::rawsock::{BATCH, Batch, FRAME, HEADROOM, RawEsp};
use super::{Tun, monotonic_secs, poll_in};
use crate::esp::{SaTable, counters::Counter, table::Tables};

/// Room left behind a packet in its frame for padding and ICV.
const TAILROOM: usize = 64;
/// Largest local packet a frame takes.
const MAX_PACKET: usize = FRAME - HEADROOM - TAILROOM;

/// Packets held per destination, and in all, while an SA is set up.
const HOLD_PER_PEER: usize = 16;
const HOLD_TOTAL: usize = 256;
/// How long a held packet waits for its SA before it is dropped.
const HOLD_FOR: Duration = Duration::from_secs(10);

/// A local packet waiting for its destination's SA (slow path: the
/// allocation is per held packet, never on the fast path).
struct Held {
    dst: IpAddr,
    since: Instant,
    pkt: Vec<u8>,
}

struct Tx<'a> {
    table: &'a SaTable,
    v4: &'a RawEsp,
    v6: &'a RawEsp,
    batch: Batch,
    /// Frames filled so far.
    n: usize,
    out4: Vec<(usize, IpAddr, IpAddr)>,
    out6: Vec<(usize, IpAddr, IpAddr)>,
    held: Vec<Held>,
    /// The proxy role's translator, with a segment buffer for it and the
    /// time of the current poll round.
    xlate: Option<&'a Translator>,
    seg: Vec<u8>,
    now: u64,
}

pub fn run(table: &SaTable, tun: &Tun, v4: &RawEsp, v6: &RawEsp, stop: &AtomicBool, xlate: Option<&Translator>) {
    let mut tx = Tx {
        xlate,
        seg: if xlate.is_some() { vec![0u8; FRAME] } else { Vec::new() },
        now: monotonic_secs(),
        table,
        v4,
        v6,
        batch: Batch::default(),
        n: 0,
        out4: Vec::with_capacity(BATCH),
        out6: Vec::with_capacity(BATCH),
        held: Vec::new(),
    };
    let mut big = vec![0u8; VIRTIO_NET_HDR_LEN + 65536];
    let c = &table.counters;
    while !stop.load(Ordering::Relaxed) {
        // The SA table signals changes only while packets are held
        // (`SaTable::set_holding`). With some held, look at the table
        // before sleeping too: a change between a miss and the flag
        // signalled nothing, and neither does a moving peer's deadline
        // (esp/table/leaving.rs).
        table.set_holding(!tx.held.is_empty());
        if !tx.held.is_empty() {
            tx.release_held();
            tx.expire_held();
        }
        let [readable, changed] = poll_in([tun.raw_fd(), table.changed_fd()]);
        if tx.xlate.is_some() {
            tx.now = monotonic_secs();
        }
        if changed {
            table.ack_changed();
            tx.release_held();
        }
        if !readable {
            tx.flush();
            continue;
        }
        loop {
            match tun.read(&mut big) {
                Ok(len) => tx.stage(&mut big[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    c.inc(Counter::DropIo);
                    tracing::warn!("TUN read: {e}");
                    break;
                }
            }
        }
        tx.flush();
    }
}

impl Tx<'_> {
    /// Put one packet read from the TUN device into the batch: as is, or
    /// cut into segments.
    fn stage(&mut self, raw: &mut [u8]) {
        let c = &self.table.counters;
        let Some(h) = VirtioNetHdr::parse(raw) else {
            c.inc(Counter::DropMalformed);
            return;
        };
        let pkt = &mut raw[VIRTIO_NET_HDR_LEN..];
        match h.gso_type & !GSO_ECN {
            GSO_NONE => {
                if h.flags & gso::F_NEEDS_CSUM != 0
                    && gso::finish_partial_checksum(pkt, h.csum_start.into(), h.csum_offset.into()).is_err()
                {
                    c.inc(Counter::DropMalformed);
                    return;
                }
                if pkt.len() > MAX_PACKET {
                    c.inc(Counter::DropMalformed);
                    return;
                }
                let i = self.slot();
                let room = &mut self.batch.frame_mut(i)[HEADROOM..HEADROOM + MAX_PACKET];
                let len = match self.xlate {
                    None => {
                        room[..pkt.len()].copy_from_slice(pkt);
                        pkt.len()
                    }
                    Some(x) => match x.outbound(pkt, self.now, room) {
                        Ok(n) => n,
                        Err(e) => {
                            self.n -= 1;
                            c.inc(Counter::DropTranslate);
                            tracing::trace!("not translated: {e}");
                            return;
                        }
                    },
                };
                self.batch.len[i] = len;
                c.inc(Counter::LocalRx);
            }
            GSO_TCPV4 | GSO_TCPV6 => {
                let Ok(g) = TcpGso::parse(pkt, h.gso_size) else {
                    c.inc(Counter::DropMalformed);
                    return;
                };
                for k in 0..g.count() {
                    let i = self.slot();
                    let room = &mut self.batch.frame_mut(i)[HEADROOM..HEADROOM + MAX_PACKET];
                    let written = match self.xlate {
                        None => g.write(k, room).map_err(|_| Counter::DropMalformed),
                        // Segments carry full checksums, which the translator
                        // rebases; the super-packet's is only partial.
                        Some(x) => match g.write(k, &mut self.seg) {
                            Ok(n) => x.outbound(&self.seg[..n], self.now, room).map_err(|_| Counter::DropTranslate),
                            Err(_) => Err(Counter::DropMalformed),
                        },
                    };
                    match written {
                        Ok(len) => {
                            self.batch.len[i] = len;
                            c.inc(Counter::LocalRx);
                        }
                        Err(drop) => {
                            self.n -= 1;
                            c.inc(drop);
                            return;
                        }
                    }
                }
            }
            _ => c.inc(Counter::DropMalformed),
        }
    }

    /// Hold frame `i` (no SA for `dst` yet) and tell the slow path about
    /// the first one; drop it if nobody will set an SA up or the queue is full.
    fn hold(&mut self, i: usize, dst: IpAddr) {
        let c = &self.table.counters;
        let for_dst = self.held.iter().filter(|h| h.dst == dst).count();
        if for_dst >= HOLD_PER_PEER || self.held.len() >= HOLD_TOTAL || (for_dst == 0 && !self.table.report_miss(dst)) {
            c.inc(Counter::DropNoSa);
            return;
        }
        let pkt = self.batch.frame(i)[HEADROOM..HEADROOM + self.batch.len[i]].to_vec();
        self.held.push(Held { dst, since: Instant::now(), pkt });
        c.inc(Counter::Held);
    }

    /// SAs changed: stage the held packets whose SA is there now.
    fn release_held(&mut self) {
        let failed = self.table.take_given_up();
        if !failed.is_empty() {
            let before = self.held.len();
            self.held.retain(|h| !failed.contains(&h.dst));
            self.table.counters.add(Counter::DropNoSa, (before - self.held.len()) as u64);
        }
        let ready: Vec<Held> = {
            let t = self.table.read();
            let (ready, wait) =
                std::mem::take(&mut self.held).into_iter().partition(|h| self.table.outbound_now(&t, h.dst).is_some());
            self.held = wait;
            ready
        };
        for h in ready {
            let i = self.slot();
            self.batch.frame_mut(i)[HEADROOM..HEADROOM + h.pkt.len()].copy_from_slice(&h.pkt);
            self.batch.len[i] = h.pkt.len();
            self.table.counters.inc(Counter::Released);
        }
        self.flush();
    }

    fn expire_held(&mut self) {
        let before = self.held.len();
        self.held.retain(|h| h.since.elapsed() < HOLD_FOR);
        self.table.counters.add(Counter::DropNoSa, (before - self.held.len()) as u64);
    }

    /// The next free frame, flushing the batch first when it is full.
    fn slot(&mut self) -> usize {
        if self.n == BATCH {
            self.flush();
        }
        self.n += 1;
        self.n - 1
    }

    /// Seal every staged frame and send them.
    fn flush(&mut self) {
        if self.n == 0 {
            return;
        }
        let c = &self.table.counters;
        self.out4.clear();
        self.out6.clear();
        let mut misses = [None; BATCH];
        {
            let t = self.table.read();
            for (i, miss) in misses.iter_mut().enumerate().take(self.n) {
                self.batch.start[i] = HEADROOM;
                match seal_one(&t, &mut self.batch, i, self.table) {
                    Sealed::Send(local, peer) if peer.is_ipv4() => self.out4.push((i, local, peer)),
                    Sealed::Send(local, peer) => self.out6.push((i, local, peer)),
                    Sealed::NoSa(dst) => *miss = Some(dst),
                    Sealed::Dropped => {}
                }
            }
        }
        for (i, miss) in misses.iter().enumerate().take(self.n) {
            if let Some(dst) = miss {
                self.hold(i, *dst);
            }
        }
        for (sock, out) in [(self.v4, &self.out4), (self.v6, &self.out6)] {
            if out.is_empty() {
                continue;
            }
            let (failed, err) = self.batch.send(sock, out);
            c.add(Counter::EspTx, (out.len() - failed) as u64);
            if failed > 0 {
                c.add(Counter::DropIo, failed as u64);
                tracing::debug!("ESP send: {failed} failed: {err:?}");
            }
        }
        self.n = 0;
    }
}

/// Inner destination of an IP packet.
fn inner_destination(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(pkt.get(16..20)?).ok()?))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(pkt.get(24..40)?).ok()?))),
        _ => None,
    }
}

enum Sealed {
    /// Sealed in place: send from the first address to the second.
    Send(IpAddr, IpAddr),
    /// No SA for this inner destination (yet).
    NoSa(IpAddr),
    /// Dropped and counted.
    Dropped,
}

/// Seal frame `i` in place.
fn seal_one(t: &Tables, batch: &mut Batch, i: usize, table: &SaTable) -> Sealed {
    let c = &table.counters;
    let len = batch.len[i];
    let frame = batch.frame_mut(i);
    let Some(dst) = inner_destination(&frame[HEADROOM..HEADROOM + len]) else {
        c.inc(Counter::DropMalformed);
        return Sealed::Dropped;
    };
    // No SA, or one whose peer is moving away from or to `dst` (the VPN
    // gateway's handover, esp/table/leaving.rs): held until it moves.
    let Some(entry) = table.outbound_now(t, dst) else {
        return Sealed::NoSa(dst);
    };
    let mut st = entry.state.lock().unwrap_or_else(|e| e.into_inner());
    // A destination on credit (not verified yet, the VPN gateway's
    // handover): what is left must cover the packet; charged once sealed.
    if st.credit.is_some_and(|left| left < len as u64) {
        c.inc(Counter::DropNoCredit);
        return Sealed::Dropped;
    }
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
            if let Some(left) = st.credit {
                st.credit = Some(left.saturating_sub(esp.len() as u64));
            }
            batch.start[i] = esp.start;
            batch.len[i] = esp.len();
            Sealed::Send(st.local, st.peer)
        }
        Ok(_) => {
            c.inc(Counter::DropSeal);
            Sealed::Dropped
        }
        Err(e) => {
            c.inc(Counter::DropSeal);
            tracing::trace!(%dst, "seal refused: {e}");
            Sealed::Dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{Direction, ModeName, spec::SaSpec};

    #[test]
    fn a_destination_on_credit_gets_what_the_credit_covers_then_nothing() {
        let table = SaTable::new(None);
        let spec = SaSpec {
            spi: 0x500,
            direction: Direction::Out,
            mode: ModeName::Tunnel,
            transform: "aes128-gcm16".into(),
            key: "ab".repeat(20),
            local: "192.0.2.1".parse().unwrap(),
            peer: "203.0.113.23".parse().unwrap(),
            inner_local: None,
            inner_peer: Some("10.2.0.5".parse().unwrap()),
            wildcard_source: false,
        };
        table.install(spec.validate().unwrap()).unwrap();
        let mut batch = Batch::default();
        let seal = |batch: &mut Batch| {
            let mut pkt = [0u8; 100];
            pkt[0] = 0x45;
            pkt[16..20].copy_from_slice(&[10, 2, 0, 5]);
            batch.frame_mut(0)[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(&pkt);
            batch.len[0] = pkt.len();
            let t = table.read();
            match seal_one(&t, batch, 0, &table) {
                Sealed::Send(..) => Some(batch.len[0] as u64),
                Sealed::Dropped => None,
                Sealed::NoSa(d) => panic!("no SA for {d}"),
            }
        };
        let esp_len = seal(&mut batch).expect("no limit by default");
        // Credit for one packet and a half: one goes, the next is refused.
        table.set_credit(0x500, Some(esp_len + esp_len / 2)).unwrap();
        assert_eq!(seal(&mut batch), Some(esp_len));
        assert_eq!(seal(&mut batch), None);
        assert_eq!(table.counters.get(Counter::DropNoCredit), 1);
        // Lifted (the address was verified): unlimited again.
        table.set_credit(0x500, None).unwrap();
        assert!(seal(&mut batch).is_some() && seal(&mut batch).is_some());
        assert!(table.set_credit(0x501, None).is_err());
    }

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
