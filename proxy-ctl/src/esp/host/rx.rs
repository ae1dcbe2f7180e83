//! Peer -> local: take a batch of ESP packets per socket, find the SA by
//! SPI, check the outer source, open (BEET: rebuild the inner header;
//! tunnel: the inner packet as is) and deliver to the TUN device. In the
//! proxy role an opened BEET packet (HIT -> HIT) is translated back to the
//! legacy host's packet (substitute -> legacy host) first.

use std::{
    net::{IpAddr, Ipv4Addr},
    ops::Range,
    sync::atomic::{AtomicBool, Ordering},
};

use proxy_proto::esp::{
    Mode, beet::BeetError, beet::open_to_inner_packet, gro::Coalescer, gso::VIRTIO_NET_HDR_LEN, proxy::Translator,
    tunnel::open_tunnel_packet,
};

use super::rawsock::{BATCH, Batch, FRAME, RawEsp};
use super::{Tun, monotonic_secs, poll_in};
use crate::esp::{
    SaTable,
    counters::Counter,
    table::Tables,
    tunnel_hook::{Arrival, TunnelHook, Verdict},
};

/// Hop limit of a rebuilt inner IPv6 header: an IPv6 raw socket does not
/// hand us the outer one without ancillary data, and the packet is for
/// this host anyway.
const DEFAULT_HOP_LIMIT: u8 = 64;

/// The proxy role's translator and its output buffer (a virtio-net
/// header's room, then the translated packet).
pub(super) struct Xlate<'a> {
    translator: &'a Translator,
    buf: Vec<u8>,
    now: u64,
}

pub fn run(
    table: &SaTable,
    tun: &Tun,
    v4: &RawEsp,
    v6: &RawEsp,
    stop: &AtomicBool,
    hook: Option<&dyn TunnelHook>,
    translator: Option<&Translator>,
) {
    let mut batch = Batch::default();
    let mut gro = Coalescer::default();
    let mut xlate = translator.map(|translator| Xlate { translator, buf: vec![0u8; FRAME], now: 0 });
    while !stop.load(Ordering::Relaxed) {
        let ready = poll_in([v4.raw_fd(), v6.raw_fd()]);
        if let Some(x) = &mut xlate {
            x.now = monotonic_secs();
        }
        for (sock, r) in [(v4, ready[0]), (v6, ready[1])] {
            if !r {
                continue;
            }
            loop {
                let n = match batch.recv(sock) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                    Err(e) => {
                        table.counters.inc(Counter::DropIo);
                        tracing::warn!("ESP receive: {e}");
                        0
                    }
                };
                if n == 0 {
                    break;
                }
                table.counters.add(Counter::EspRx, n as u64);
                let t = table.read();
                for i in 0..n {
                    let Some(a) = locate(&batch, i, sock.v6) else {
                        table.counters.inc(Counter::DropMalformed);
                        continue;
                    };
                    open_one(&t, batch.frame_mut(i), a, table, tun, &mut gro, hook, xlate.as_mut());
                }
                drop(t);
                deliver_run(&mut gro, tun, table);
                if n < BATCH {
                    break;
                }
            }
        }
    }
}

/// An ESP packet as it arrived, whichever socket took it: where it sits
/// in its frame and what the outer header said.
pub(super) struct Received {
    /// The ESP header onward, in the frame.
    pub esp: Range<usize>,
    pub src: IpAddr,
    /// The outer destination, when the socket hands it.
    pub dst: Option<IpAddr>,
    /// Outer TTL / hop limit, for a rebuilt inner header.
    pub hops: u8,
}

/// Where the ESP packet of frame `i` is, with its outer addresses and hop
/// limit.
fn locate(batch: &Batch, i: usize, v6: bool) -> Option<Received> {
    let (start, len) = (batch.start[i], batch.len[i]);
    let dst = outer_destination(batch, i, v6);
    if v6 {
        return Some(Received { esp: start..start + len, src: batch.source(i)?, dst, hops: DEFAULT_HOP_LIMIT });
    }
    let hdr = batch.frame(i).get(start..start + len)?;
    let ihl = usize::from(*hdr.first()? & 0x0f) * 4;
    if ihl < 20 || hdr.len() < ihl + 8 {
        return None;
    }
    let src = IpAddr::V4(Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]));
    Some(Received { esp: start + ihl..start + len, src, dst, hops: hdr[8] })
}

/// The outer IPv4 destination of frame `i` (IPv6 raw sockets do not hand it).
fn outer_destination(batch: &Batch, i: usize, v6: bool) -> Option<IpAddr> {
    if v6 {
        return None;
    }
    let start = batch.start[i];
    let d = batch.frame(i).get(start + 16..start + 20)?;
    Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
}

/// Write the pending coalesced run to the TUN device.
pub(super) fn deliver_run(gro: &mut Coalescer, tun: &Tun, table: &SaTable) {
    if let Some(run) = gro.take() {
        deliver(tun, run, table);
    }
}

fn deliver(tun: &Tun, bytes: &[u8], table: &SaTable) {
    match tun.write(bytes) {
        Ok(_) => table.counters.inc(Counter::LocalTx),
        Err(e) => {
            table.counters.inc(Counter::DropIo);
            tracing::debug!("TUN write: {e}");
        }
    }
}

/// Open the ESP packet `a` sitting in `frame` (in place) and hand the
/// inner packet to the GRO run or the TUN device. Shared by the raw-socket
/// receiver and the AF_XDP one (xsk.rs): `frame` needs
/// `VIRTIO_NET_HDR_LEN` bytes of room in front of the rebuilt inner
/// packet, which the outer header always leaves.
// One packet's whole context; a struct for it would only rename these.
#[allow(clippy::too_many_arguments)]
pub(super) fn open_one(
    t: &Tables,
    frame: &mut [u8],
    a: Received,
    table: &SaTable,
    tun: &Tun,
    gro: &mut Coalescer,
    hook: Option<&dyn TunnelHook>,
    xlate: Option<&mut Xlate>,
) {
    let c = &table.counters;
    let Received { esp: Range { start: esp_start, end: esp_end }, src, dst, hops } = a;
    if esp_end < esp_start + 8 || esp_end > frame.len() {
        c.inc(Counter::DropMalformed);
        return;
    }
    let spi = u32::from_be_bytes([frame[esp_start], frame[esp_start + 1], frame[esp_start + 2], frame[esp_start + 3]]);
    let Some(entry) = t.inbound(spi) else {
        c.inc(Counter::DropUnknownSpi);
        tracing::trace!(spi, %src, "ESP for an unknown SPI");
        return;
    };
    let mut st = entry.state.lock().unwrap_or_else(|e| e.into_inner());
    if src != st.peer {
        if entry.wildcard_source {
            c.inc(Counter::WildcardSource);
        } else {
            st.bad_source += 1;
            c.inc(Counter::DropBadSource);
            return;
        }
    }
    // Tunnel SAs of a role with a hook: it vets the arrival, then decides
    // about the opened packet (tunnel_hook.rs).
    let hooked = match hook {
        Some(h) if entry.mode == Mode::Tunnel => {
            let a = Arrival { spi, src, dst, local: st.local, peer: st.peer };
            if !h.before_open(&a) {
                return;
            }
            Some((h, a))
        }
        _ => None,
    };
    let esp = esp_start..esp_end;
    let opened = match (entry.mode, &entry.inner) {
        (Mode::Beet, Some(addrs)) => open_to_inner_packet(&mut st.sa, frame, esp, addrs, hops),
        _ => open_tunnel_packet(&mut st.sa, frame, esp),
    };
    let first = opened.is_ok() && st.sa.counters().packets == 1;
    drop(st);
    if first {
        table.report_first_esp(entry, spi);
    }
    let opened = match (opened, hooked) {
        (Ok(inner), Some((h, a))) => match h.opened(&a, &frame[inner.clone()]) {
            Verdict::Deliver(r) if r.start <= r.end && r.end <= inner.len() => {
                Ok(inner.start + r.start..inner.start + r.end)
            }
            _ => return,
        },
        (o, _) => o,
    };
    // The proxy: HIT -> HIT back to substitute -> legacy host, into the
    // translator's buffer behind room for the virtio-net header.
    let (frame, opened) = match (xlate, opened) {
        (Some(x), Ok(inner)) if entry.mode == Mode::Beet => {
            match x.translator.inbound(&frame[inner], x.now, &mut x.buf[VIRTIO_NET_HDR_LEN..]) {
                Ok(n) => (&mut x.buf[..], Ok(VIRTIO_NET_HDR_LEN..VIRTIO_NET_HDR_LEN + n)),
                Err(e) => {
                    c.inc(Counter::DropTranslate);
                    tracing::trace!(spi, %src, "opened packet not translated: {e}");
                    return;
                }
            }
        }
        (_, o) => (frame, o),
    };
    match opened {
        // Join the pending run of TCP segments, or end it and start anew;
        // what cannot be coalesced goes alone behind a zero virtio-net header.
        Ok(inner) if inner.start >= VIRTIO_NET_HDR_LEN => {
            if gro.push(&frame[inner.clone()]) {
                return;
            }
            deliver_run(gro, tun, table);
            if gro.push(&frame[inner.clone()]) {
                return;
            }
            let at = inner.start - VIRTIO_NET_HDR_LEN;
            frame[at..inner.start].fill(0);
            deliver(tun, &frame[at..inner.end], table);
        }
        Ok(_) => c.inc(Counter::DropMalformed),
        Err(BeetError::Drop(reason)) => {
            c.inc(Counter::DropOpen);
            tracing::trace!(spi, %src, "ESP dropped: {reason}");
        }
        Err(e) => {
            c.inc(Counter::DropMalformed);
            tracing::trace!(spi, %src, "ESP inner packet refused: {e}");
        }
    }
}
