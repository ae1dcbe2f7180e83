//! Receive-side coalescing for a TUN device with virtio-net headers: runs
//! of in-order TCP segments of one flow, just opened from ESP, are joined
//! into one super-packet the local stack takes in a single write and a
//! single pass through TCP (what GRO does for a NIC; wireguard-go does the
//! same for its TUN). Anything else passes through one packet per write.
//!
//! Segments join only when nothing but the length-dependent fields differ:
//! same addresses, ports, ACK number, window, TCP options, IP header
//! fields; contiguous sequence numbers; flags ACK (PSH ends a run); every
//! segment but the last exactly the first one's size.
//!
//! Sans-IO: packets in, bytes (virtio-net header + packet) out.

use core::net::IpAddr;

use super::gso::{F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, VIRTIO_NET_HDR_LEN};
use crate::checksum;

const PROTO_TCP: u8 = 6;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// IP total length is 16 bits.
const MAX_LEN: usize = 65535;

/// One run being built.
pub struct Coalescer {
    /// virtio-net header, then the packet.
    buf: Vec<u8>,
    /// Packet length in `buf` after the header; 0 = empty.
    len: usize,
    segments: usize,
    ip_len: usize,
    hdr_len: usize,
    mss: usize,
    next_seq: u32,
    closed: bool,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer {
            buf: vec![0; VIRTIO_NET_HDR_LEN + MAX_LEN],
            len: 0,
            segments: 0,
            ip_len: 0,
            hdr_len: 0,
            mss: 0,
            next_seq: 0,
            closed: false,
        }
    }
}

/// (IP header length, TCP header length, payload length, sequence number,
/// flags) of a plain TCP packet, IPv4 without options or fragments, IPv6
/// without extension headers; `None` for anything else.
fn tcp_shape(pkt: &[u8]) -> Option<(usize, usize, usize, u32, u8)> {
    let ip_len = match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => {
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            let frag = u16::from_be_bytes([pkt[6], pkt[7]]);
            if pkt[0] & 0x0f != 5 || pkt[9] != PROTO_TCP || total != pkt.len() || frag & 0x3fff != 0 {
                return None;
            }
            20
        }
        6 if pkt.len() >= 40 => {
            let payload = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            if *pkt.get(6)? != PROTO_TCP || payload + 40 != pkt.len() {
                return None;
            }
            40
        }
        _ => return None,
    };
    let tcp = pkt.get(ip_len..)?;
    let doff = usize::from(*tcp.get(12)? >> 4) * 4;
    if doff < 20 || tcp.len() < doff {
        return None;
    }
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    Some((ip_len, doff, tcp.len() - doff, seq, tcp[13]))
}

impl Coalescer {
    /// Whether a run is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add `pkt` to the pending run. Returns false if it cannot join: the
    /// caller then [`Coalescer::take`]s the run and pushes again (a packet
    /// that cannot start a run either is written on its own).
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        if pkt.len() > MAX_LEN {
            return false;
        }
        let Some((ip_len, tcp_len, payload, seq, flags)) = tcp_shape(pkt) else {
            return false;
        };
        let hdr_len = ip_len + tcp_len;
        // Only data segments with ACK, and PSH at most (it ends the run).
        let plain = flags & !TCP_PSH == TCP_ACK && payload > 0;
        if self.len == 0 {
            if !plain {
                return false;
            }
            self.buf[VIRTIO_NET_HDR_LEN..VIRTIO_NET_HDR_LEN + pkt.len()].copy_from_slice(pkt);
            (self.len, self.segments, self.ip_len, self.hdr_len, self.mss) = (pkt.len(), 1, ip_len, hdr_len, payload);
            self.next_seq = seq.wrapping_add(payload as u32);
            self.closed = flags & TCP_PSH != 0;
            return true;
        }
        let first = &self.buf[VIRTIO_NET_HDR_LEN..VIRTIO_NET_HDR_LEN + self.hdr_len];
        let joins = plain
            && !self.closed
            && hdr_len == self.hdr_len
            && ip_len == self.ip_len
            && seq == self.next_seq
            && payload <= self.mss
            // The last segment so far was full-sized (else the run ended).
            && (self.len - self.hdr_len) == self.segments * self.mss
            && self.len + payload <= MAX_LEN
            && same_headers(first, pkt, ip_len);
        if !joins {
            return false;
        }
        let at = VIRTIO_NET_HDR_LEN + self.len;
        self.buf[at..at + payload].copy_from_slice(&pkt[hdr_len..]);
        self.len += payload;
        self.segments += 1;
        self.next_seq = seq.wrapping_add(payload as u32);
        if flags & TCP_PSH != 0 {
            // Carry PSH to the super-packet and end the run.
            self.buf[VIRTIO_NET_HDR_LEN + ip_len + 13] |= TCP_PSH;
            self.closed = true;
        }
        true
    }

    /// The pending run as virtio-net header + packet, ready for the TUN
    /// device; empties the coalescer. A single segment goes as it came.
    pub fn take(&mut self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let len = self.len;
        self.len = 0;
        let (ip_len, hdr_len) = (self.ip_len, self.hdr_len);
        let (h, pkt) = self.buf.split_at_mut(VIRTIO_NET_HDR_LEN);
        let pkt = &mut pkt[..len];
        h.fill(0);
        if self.segments > 1 {
            let v6 = ip_len == 40;
            if v6 {
                pkt[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            } else {
                pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                pkt[10..12].fill(0);
                let c = checksum::checksum(&pkt[..20]);
                pkt[10..12].copy_from_slice(&c.to_be_bytes());
            }
            // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the
            // segments' own checksums were verified by ESP's ICV anyway.
            let (src, dst) = addrs(pkt, v6);
            let ph = checksum::pseudo_header_sum(src, dst, PROTO_TCP, (len - ip_len) as u32).unwrap_or(0);
            let partial = !checksum::finish(ph);
            pkt[ip_len + 16..ip_len + 18].copy_from_slice(&partial.to_be_bytes());
            h[0] = F_NEEDS_CSUM;
            h[1] = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            h[2..4].copy_from_slice(&(hdr_len as u16).to_le_bytes());
            h[4..6].copy_from_slice(&(self.mss as u16).to_le_bytes());
            h[6..8].copy_from_slice(&(ip_len as u16).to_le_bytes());
            h[8..10].copy_from_slice(&16u16.to_le_bytes());
        }
        Some(&self.buf[..VIRTIO_NET_HDR_LEN + len])
    }
}

fn addrs(pkt: &[u8], v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        let a = |at: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&pkt[at..at + 16]);
            IpAddr::from(o)
        };
        (a(8), a(24))
    } else {
        let a = |at: usize| IpAddr::from([pkt[at], pkt[at + 1], pkt[at + 2], pkt[at + 3]]);
        (a(12), a(16))
    }
}

/// Headers equal but for the fields that differ per segment: IPv4 total
/// length, identification and checksum; IPv6 payload length; TCP sequence
/// number, flags (checked by the caller) and checksum.
fn same_headers(a: &[u8], b: &[u8], ip_len: usize) -> bool {
    let ip_same = if ip_len == 20 {
        a[0..2] == b[0..2] && a[6..10] == b[6..10] && a[12..20] == b[12..20]
    } else {
        a[0..4] == b[0..4] && a[6..40] == b[6..40]
    };
    let (ta, tb) = (&a[ip_len..], &b[ip_len..a.len()]);
    ip_same && ta[0..4] == tb[0..4] && ta[8..13] == tb[8..13] && ta[14..16] == tb[14..16] && ta[18..] == tb[18..]
}

#[cfg(test)]
mod tests;
