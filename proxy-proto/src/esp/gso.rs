//! The local side of an ESP host with TUN offloads (virtio-net header,
//! `IFF_VNET_HDR`): the kernel hands over TCP super-packets (TSO, up to
//! 64 KiB) and packets whose transport checksum is left to us
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`), as wireguard-go and boringtun-style
//! tunnels receive them. ESP seals wire-sized packets, so super-packets are
//! cut into MSS-sized TCP segments here, each a valid packet on its own
//! (RFC 9293 §3.1 header, RFC 791/8200 lengths, RFC 1071 checksums).
//!
//! Sans-IO: bytes in, bytes out into the caller's buffer.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;

/// `struct virtio_net_hdr` (virtio spec 1.2 §5.1.6), as TUN uses it:
/// native (little-endian) byte order, 10 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtioNetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

/// Length of [`VirtioNetHdr`] on the wire.
pub const VIRTIO_NET_HDR_LEN: usize = 10;
/// The transport checksum is partial: finish it from `csum_start`.
pub const F_NEEDS_CSUM: u8 = 1;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
/// Set on TCP GSO types when the segments carry ECN (CWR handling).
pub const GSO_ECN: u8 = 0x80;

impl VirtioNetHdr {
    pub fn parse(b: &[u8]) -> Option<VirtioNetHdr> {
        let b = b.get(..VIRTIO_NET_HDR_LEN)?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VirtioNetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    #[error("packet shorter than its headers")]
    Truncated,
    #[error("not a TCP packet over IPv4 without options or IPv6 without extension headers")]
    Unsupported,
    #[error("checksum offsets outside the packet")]
    BadOffsets,
    #[error("segment does not fit the output buffer")]
    NoRoom,
    #[error("GSO size zero")]
    ZeroMss,
}

const PROTO_TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// [`checksum::sum`] eight bytes at a time: the same one's-complement sum
/// (RFC 1071 §2: it is independent of byte order, so native-order words are
/// summed and the folded result is swapped back), a few times faster on the
/// per-segment path.
pub fn fast_sum(data: &[u8], acc: u32) -> u32 {
    let mut wide: u64 = 0;
    let mut carry: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let (s, o) = wide.overflowing_add(u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        wide = s;
        carry += u64::from(o);
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let (s, o) = wide.overflowing_add(u64::from_ne_bytes(tail));
    wide = s;
    carry += u64::from(o);
    // Fold 64 -> 16 bits; the carries out of bit 63 count as ones at bit 0.
    let mut f = (wide & 0xffff_ffff) + (wide >> 32) + carry;
    while f > 0xffff {
        f = (f & 0xffff) + (f >> 16);
    }
    // Native-order 16-bit sum -> big-endian value.
    let be = u16::from_be_bytes((f as u16).to_ne_bytes());
    // Fold `acc` first so no input can overflow.
    (acc & 0xffff) + (acc >> 16) + u32::from(be)
}

/// Finish a partial transport checksum (`F_NEEDS_CSUM`): the field already
/// holds the pseudo-header sum, so the checksum is that of the bytes from
/// `csum_start` on.
pub fn finish_partial_checksum(pkt: &mut [u8], csum_start: usize, csum_offset: usize) -> Result<(), GsoError> {
    let field = csum_start.checked_add(csum_offset).ok_or(GsoError::BadOffsets)?;
    if field + 2 > pkt.len() {
        return Err(GsoError::BadOffsets);
    }
    let mut c = checksum::finish(fast_sum(&pkt[csum_start..], 0));
    // UDP (offset 6) sends a computed zero as all ones (RFC 768).
    if csum_offset == 6 && c == 0 {
        c = 0xffff;
    }
    pkt[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// A TCP super-packet to cut into segments of at most `mss` payload bytes.
#[derive(Debug)]
pub struct TcpGso<'a> {
    pkt: &'a [u8],
    ip_len: usize,
    tcp_len: usize,
    mss: usize,
    v6: bool,
}

impl<'a> TcpGso<'a> {
    pub fn parse(pkt: &'a [u8], mss: u16) -> Result<TcpGso<'a>, GsoError> {
        if mss == 0 {
            return Err(GsoError::ZeroMss);
        }
        let (ip_len, v6) = match pkt.first().ok_or(GsoError::Truncated)? >> 4 {
            4 if pkt.len() >= 20 => {
                if pkt[0] & 0x0f != 5 || pkt[9] != PROTO_TCP {
                    return Err(GsoError::Unsupported);
                }
                (20, false)
            }
            6 if pkt.len() >= 40 => {
                if pkt[6] != PROTO_TCP {
                    return Err(GsoError::Unsupported);
                }
                (40, true)
            }
            4 | 6 => return Err(GsoError::Truncated),
            _ => return Err(GsoError::Unsupported),
        };
        let doff = usize::from(pkt.get(ip_len + 12).ok_or(GsoError::Truncated)? >> 4) * 4;
        if doff < 20 || pkt.len() < ip_len + doff {
            return Err(GsoError::Truncated);
        }
        Ok(TcpGso { pkt, ip_len, tcp_len: doff, mss: usize::from(mss), v6 })
    }

    fn payload(&self) -> &[u8] {
        &self.pkt[self.ip_len + self.tcp_len..]
    }

    /// How many segments the packet makes (at least one).
    pub fn count(&self) -> usize {
        self.payload().len().div_ceil(self.mss).max(1)
    }

    fn addrs(&self) -> (IpAddr, IpAddr) {
        let p = self.pkt;
        if self.v6 {
            let a = |r: core::ops::Range<usize>| {
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&p[r]).unwrap_or_default()))
            };
            (a(8..24), a(24..40))
        } else {
            let a = |i: usize| IpAddr::V4(Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]));
            (a(12), a(16))
        }
    }

    /// Write segment `k` (0-based, `< count()`) to `dst`; returns its length.
    pub fn write(&self, k: usize, dst: &mut [u8]) -> Result<usize, GsoError> {
        let payload = self.payload();
        let from = (k * self.mss).min(payload.len());
        let chunk = &payload[from..(from + self.mss).min(payload.len())];
        let hdr = self.ip_len + self.tcp_len;
        let len = hdr + chunk.len();
        let out = dst.get_mut(..len).ok_or(GsoError::NoRoom)?;
        out[..hdr].copy_from_slice(&self.pkt[..hdr]);
        out[hdr..].copy_from_slice(chunk);
        let ip = self.ip_len;
        if self.v6 {
            out[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        } else {
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let id = u16::from_be_bytes([out[4], out[5]]).wrapping_add(k as u16);
            out[4..6].copy_from_slice(&id.to_be_bytes());
            out[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&out[..20]);
            out[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let seq = u32::from_be_bytes([out[ip + 4], out[ip + 5], out[ip + 6], out[ip + 7]]).wrapping_add(from as u32);
        out[ip + 4..ip + 8].copy_from_slice(&seq.to_be_bytes());
        let last = k + 1 >= self.count();
        if !last {
            out[ip + 13] &= !(TCP_FIN | TCP_PSH);
        }
        if k != 0 {
            out[ip + 13] &= !TCP_CWR;
        }
        out[ip + 16..ip + 18].copy_from_slice(&[0, 0]);
        let (src, dst_addr) = self.addrs();
        let seg_len = (len - ip) as u32;
        let ph = checksum::pseudo_header_sum(src, dst_addr, PROTO_TCP, seg_len).ok_or(GsoError::Unsupported)?;
        let c = checksum::finish(fast_sum(&out[ip..], ph));
        out[ip + 16..ip + 18].copy_from_slice(&c.to_be_bytes());
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
