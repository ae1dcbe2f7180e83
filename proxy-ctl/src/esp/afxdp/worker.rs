//! One ESP worker: the AF_XDP sockets of one LAN queue and one WAN queue,
//! in one thread. Per batch, no syscall besides the TX kick copy mode
//! needs and poll(2) when idle; per packet, no syscall, no allocation, no
//! BPF map access: SAs, next hops and legacy MACs are in process memory,
//! read under one read lock per batch.
//!
//! - LAN frame -> `Translate::outbound` (written straight into a WAN
//!   transmit frame) -> BEET seal in place (RFC 7402 §3) -> outer IP and
//!   Ethernet header in front -> WAN TX.
//! - WAN frame -> outer header checks -> open in place (replay window,
//!   ICV; RFC 4303 §3.4) -> `Translate::inbound` into a LAN transmit frame
//!   -> Ethernet to the legacy host's MAC -> LAN TX.

use std::{
    collections::HashMap,
    net::IpAddr,
    ops::Range,
    sync::{Arc, RwLock, atomic::AtomicBool, atomic::Ordering},
};

use proxy_proto::esp::{
    Mode,
    beet::{BeetError, open_to_inner_packet, seal_inner_packet},
    outer::{
        ETH_HLEN, ETH_P_IP, ETH_P_IPV6, Mac, ip_addrs, outer_len, parse_outer_esp, split_eth, write_eth, write_outer,
    },
};
use xdpilone::xdp::XdpDesc;

use super::{
    counters::{WCounter, WorkerCounters},
    socket::{FRAME_SIZE, Xsk},
    translate::Translate,
};
use crate::esp::{SaTable, counters::Counter as EspCounter, table::Tables};

/// Descriptors taken per ring per round.
const BATCH: usize = 64;
/// Where the translator writes the inner packet in a WAN frame: room in
/// front for Ethernet, the outer header, ESP header and IV.
const HEAD: usize = 256;
/// Room behind it for ESP padding, trailer and ICV.
const TAIL: usize = 64;

/// What the workers share with each other and the control plane.
pub struct Shared {
    pub table: Arc<SaTable>,
    pub translator: Arc<dyn Translate>,
    /// Outer peer -> MAC of the WAN next hop toward it (control plane).
    pub next_hops: RwLock<HashMap<IpAddr, Mac>>,
    /// Legacy host -> its MAC, learned from its frames.
    pub legacy_macs: RwLock<HashMap<IpAddr, Mac>>,
    pub lan_mac: Mac,
    pub wan_mac: Mac,
    pub stop: AtomicBool,
}

pub struct Worker {
    pub lan: Xsk,
    pub wan: Xsk,
    pub shared: Arc<Shared>,
    pub counters: Arc<WorkerCounters>,
}

/// Why a packet was dropped: a worker counter or an engine (ESP) counter.
enum Fail {
    W(WCounter),
    Esp(EspCounter),
}

impl Worker {
    pub fn run(mut self) {
        let mut descs = [XdpDesc { addr: 0, len: 0, options: 0 }; BATCH];
        let mut out = Vec::with_capacity(BATCH);
        let mut learned = Vec::new();
        let mut idle = super::idle::Idle::default();
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.lan.reap_completions();
            self.wan.reap_completions();
            // The translator's clock, shared with the TUN path.
            let now = crate::esp::host::monotonic_secs();
            let n = self.outbound(now, &mut descs, &mut out, &mut learned) + self.inbound(now, &mut descs, &mut out);
            self.lan.kick_pending();
            self.wan.kick_pending();
            if n > 0 {
                idle.busy();
                continue;
            }
            idle.empty([self.lan.raw_fd(), self.wan.raw_fd()]);
        }
    }

    /// LAN -> WAN: one batch.
    fn outbound(
        &mut self,
        now: u64,
        descs: &mut [XdpDesc],
        out: &mut Vec<XdpDesc>,
        learned: &mut Vec<(IpAddr, Mac)>,
    ) -> usize {
        // Back-pressure: take no more than there are WAN frames to send
        // them in. What waits stays in the RX ring (and, when that is
        // full too, the kernel drops it before any work was spent on it,
        // counted as afxdp_xsk_rx_*), instead of being copied, sealed and
        // dropped here.
        let room = self.wan.free_tx.len().min(descs.len());
        let n = self.lan.receive(&mut descs[..room]);
        if n == 0 {
            return 0;
        }
        let sh = &*self.shared;
        let c = &*self.counters;
        {
            let t = sh.table.read();
            let hops = sh.next_hops.read().unwrap_or_else(|e| e.into_inner());
            let macs = sh.legacy_macs.read().unwrap_or_else(|e| e.into_inner());
            for d in &descs[..n] {
                self.lan.refill.push(d.addr);
                c.inc(WCounter::LanRxPackets);
                c.add(WCounter::LanRxBytes, u64::from(d.len));
                sh.table.counters.inc(EspCounter::LocalRx);
                let Some(tx) = self.wan.free_tx.pop() else {
                    c.inc(WCounter::DropTxFull);
                    continue;
                };
                let off = (d.addr % u64::from(FRAME_SIZE)) as usize;
                let lan_frame = self.lan.frame_mut(d.addr);
                let Some(data) = lan_frame.get(off..off + d.len as usize) else {
                    c.inc(WCounter::DropMalformed);
                    self.wan.free_tx.push(tx);
                    continue;
                };
                match seal_out(sh, &t, &hops, &macs, learned, data, self.wan.frame_mut(tx), now) {
                    Ok(r) => out.push(XdpDesc { addr: tx + r.start as u64, len: r.len() as u32, options: 0 }),
                    Err(f) => {
                        count(c, &sh.table, f);
                        self.wan.free_tx.push(tx);
                    }
                }
            }
        }
        if !learned.is_empty() {
            let mut macs = sh.legacy_macs.write().unwrap_or_else(|e| e.into_inner());
            for (ip, mac) in learned.drain(..) {
                macs.insert(ip, mac);
            }
        }
        self.send(out, true);
        self.lan.refill();
        n
    }

    /// WAN -> LAN: one batch.
    fn inbound(&mut self, now: u64, descs: &mut [XdpDesc], out: &mut Vec<XdpDesc>) -> usize {
        // Back-pressure, as in outbound().
        let room = self.lan.free_tx.len().min(descs.len());
        let n = self.wan.receive(&mut descs[..room]);
        if n == 0 {
            return 0;
        }
        let sh = &*self.shared;
        let c = &*self.counters;
        {
            let t = sh.table.read();
            let macs = sh.legacy_macs.read().unwrap_or_else(|e| e.into_inner());
            for d in &descs[..n] {
                self.wan.refill.push(d.addr);
                c.inc(WCounter::WanRxPackets);
                c.add(WCounter::WanRxBytes, u64::from(d.len));
                sh.table.counters.inc(EspCounter::EspRx);
                let Some(tx) = self.lan.free_tx.pop() else {
                    c.inc(WCounter::DropTxFull);
                    continue;
                };
                let off = (d.addr % u64::from(FRAME_SIZE)) as usize;
                let frame = self.wan.frame_mut(d.addr);
                match open_in(sh, &t, &macs, frame, off..off + d.len as usize, self.lan.frame_mut(tx), now) {
                    Ok(len) => out.push(XdpDesc { addr: tx, len: len as u32, options: 0 }),
                    Err(f) => {
                        count(c, &sh.table, f);
                        self.lan.free_tx.push(tx);
                    }
                }
            }
        }
        self.send(out, false);
        self.wan.refill();
        n
    }

    /// Transmit `out` on the WAN (`to_wan`) or LAN socket; what the ring
    /// does not take goes back to the pool, counted.
    fn send(&mut self, out: &mut Vec<XdpDesc>, to_wan: bool) {
        if out.is_empty() {
            return;
        }
        let (xsk, pkts, bytes, esp) = if to_wan {
            (&mut self.wan, WCounter::WanTxPackets, WCounter::WanTxBytes, EspCounter::EspTx)
        } else {
            (&mut self.lan, WCounter::LanTxPackets, WCounter::LanTxBytes, EspCounter::LocalTx)
        };
        let sent = xsk.transmit(out);
        let c = &*self.counters;
        for d in &out[..sent] {
            c.add(bytes, u64::from(d.len));
        }
        c.add(pkts, sent as u64);
        self.shared.table.counters.add(esp, sent as u64);
        for d in &out[sent..] {
            xsk.free_tx.push(d.addr - d.addr % u64::from(FRAME_SIZE));
            c.inc(WCounter::DropTxFull);
        }
        out.clear();
    }
}

fn count(c: &WorkerCounters, table: &SaTable, f: Fail) {
    match f {
        Fail::W(w) => c.inc(w),
        Fail::Esp(e) => table.counters.inc(e),
    }
}

/// Seal one legacy frame into `buf` (a WAN transmit frame): the range of
/// the Ethernet frame to send.
// One packet's whole context; a struct for it would only rename these.
#[allow(clippy::too_many_arguments)]
fn seal_out(
    sh: &Shared,
    t: &Tables,
    hops: &HashMap<IpAddr, Mac>,
    macs: &HashMap<IpAddr, Mac>,
    learned: &mut Vec<(IpAddr, Mac)>,
    frame: &[u8],
    buf: &mut [u8],
    now: u64,
) -> Result<Range<usize>, Fail> {
    let (src_mac, ip) = split_eth(frame).ok_or(Fail::W(WCounter::DropMalformed))?;
    let (src, _) = ip_addrs(ip).ok_or(Fail::W(WCounter::DropMalformed))?;
    if macs.get(&src) != Some(&src_mac) && !learned.iter().any(|(a, _)| *a == src) {
        learned.push((src, src_mac));
    }
    let room = buf.len() - TAIL;
    let n = sh.translator.outbound(ip, now, &mut buf[HEAD..room]).ok_or(Fail::W(WCounter::DropTranslate))?;
    let inner = HEAD..HEAD + n;
    let (_, dst) = ip_addrs(&buf[inner.clone()]).ok_or(Fail::W(WCounter::DropTranslate))?;
    let entry = t.outbound_for(dst).ok_or(Fail::W(WCounter::DropNoSa))?;
    let addrs = match (entry.mode, entry.inner) {
        (Mode::Beet, Some(a)) => a,
        _ => return Err(Fail::W(WCounter::DropNoSa)),
    };
    let mut st = entry.state.lock().unwrap_or_else(|e| e.into_inner());
    // A peer address on credit (not verified yet, RFC 8046 §5.5.1): what
    // is left must cover the packet; charged once sealed (as the host path).
    if st.credit.is_some_and(|left| left < inner.len() as u64) {
        return Err(Fail::Esp(EspCounter::DropNoCredit));
    }
    let mut rng_failed = false;
    let mut rng = |iv: &mut [u8]| rng_failed |= aws_lc_rs::rand::fill(iv).is_err();
    let sealed = seal_inner_packet(&mut st.sa, buf, inner, &addrs, &mut rng);
    if let Some(ev) = st.sa.poll_event() {
        sh.table.push_event(ev);
    }
    let (local, peer) = (st.local, st.peer);
    let esp = match sealed {
        Ok(esp) if !rng_failed => esp,
        _ => return Err(Fail::Esp(EspCounter::DropSeal)),
    };
    if let Some(left) = st.credit {
        st.credit = Some(left.saturating_sub(esp.len() as u64));
    }
    drop(st);
    let mac = *hops.get(&peer).ok_or(Fail::W(WCounter::DropNoNeighbour))?;
    let ol = outer_len(peer);
    let start = esp.start.checked_sub(ol + ETH_HLEN).ok_or(Fail::W(WCounter::DropMalformed))?;
    write_outer(&mut buf[esp.start - ol..esp.start], local, peer, esp.len()).ok_or(Fail::W(WCounter::DropMalformed))?;
    write_eth(&mut buf[start..], mac, sh.wan_mac, if peer.is_ipv4() { ETH_P_IP } else { ETH_P_IPV6 });
    Ok(start..esp.end)
}

/// Open one WAN frame (`frame[pkt]`, in place) and write the translated
/// legacy frame into `buf` (a LAN transmit frame): its length.
fn open_in(
    sh: &Shared,
    t: &Tables,
    macs: &HashMap<IpAddr, Mac>,
    frame: &mut [u8],
    pkt: Range<usize>,
    buf: &mut [u8],
    now: u64,
) -> Result<usize, Fail> {
    let data = frame.get(pkt.clone()).ok_or(Fail::W(WCounter::DropMalformed))?;
    let (_, ip) = split_eth(data).ok_or(Fail::W(WCounter::DropMalformed))?;
    let o = parse_outer_esp(ip).ok_or(Fail::Esp(EspCounter::DropMalformed))?;
    let ip_start = pkt.start + ETH_HLEN;
    let esp = ip_start + o.esp.start..ip_start + o.esp.end;
    let spi = u32::from_be_bytes([frame[esp.start], frame[esp.start + 1], frame[esp.start + 2], frame[esp.start + 3]]);
    let entry = t.inbound(spi).ok_or(Fail::Esp(EspCounter::DropUnknownSpi))?;
    let addrs = match (entry.mode, entry.inner) {
        (Mode::Beet, Some(a)) => a,
        _ => return Err(Fail::Esp(EspCounter::DropMalformed)),
    };
    let mut st = entry.state.lock().unwrap_or_else(|e| e.into_inner());
    if o.src != st.peer {
        st.bad_source += 1;
        return Err(Fail::Esp(EspCounter::DropBadSource));
    }
    let opened = open_to_inner_packet(&mut st.sa, frame, esp, &addrs, o.hops);
    let first = opened.is_ok() && st.sa.counters().packets == 1;
    drop(st);
    if first {
        sh.table.report_first_esp(entry, spi);
    }
    let inner = opened.map_err(|e| match e {
        BeetError::Drop(_) => Fail::Esp(EspCounter::DropOpen),
        _ => Fail::Esp(EspCounter::DropMalformed),
    })?;
    let n = sh.translator.inbound(&frame[inner], now, &mut buf[ETH_HLEN..]).ok_or(Fail::W(WCounter::DropTranslate))?;
    let pkt = &buf[ETH_HLEN..ETH_HLEN + n];
    let (_, dst) = ip_addrs(pkt).ok_or(Fail::W(WCounter::DropTranslate))?;
    let mac = *macs.get(&dst).ok_or(Fail::W(WCounter::DropNoNeighbour))?;
    write_eth(buf, mac, sh.lan_mac, if dst.is_ipv4() { ETH_P_IP } else { ETH_P_IPV6 });
    Ok(ETH_HLEN + n)
}
