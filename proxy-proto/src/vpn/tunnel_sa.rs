//! The inbound side of an ESP **tunnel-mode** SA (RFC 4303 §3.1.2) for the
//! MN <-> GW VPN: the payload is a whole inner IPv4 datagram (Next Header
//! 4). [`crate::esp::InboundSa`] is BEET-only and refuses Next Header 4,
//! so this wraps the same pieces (cipher, replay window, trailer) for
//! tunnel mode. The outbound side is [`crate::esp::OutboundSa`] sealing
//! with Next Header 4 unchanged.

use crate::esp::{DropReason, EspCipher, Packet, ReplayWindow, Repr, Trailer};

/// Next Header of a tunnel-mode payload: an IPv4 datagram (RFC 4303 §2.6).
pub const NEXT_HEADER_IPV4: u8 = 4;

/// Counters of one inbound tunnel SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    pub packets: u64,
    pub bytes: u64,
    pub replayed: u64,
    pub bad_icv: u64,
    pub malformed: u64,
}

/// The receiving side of a tunnel-mode SA.
#[derive(Debug)]
pub struct TunnelInboundSa {
    spi: u32,
    cipher: EspCipher,
    window: ReplayWindow,
    counters: TunnelCounters,
}

impl TunnelInboundSa {
    pub fn new(spi: u32, cipher: EspCipher) -> Self {
        Self { spi, cipher, window: ReplayWindow::new(), counters: TunnelCounters::default() }
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }

    pub fn counters(&self) -> TunnelCounters {
        self.counters
    }

    /// Check, authenticate and decrypt `pkt` (starting at the ESP header)
    /// in place; returns where the inner IPv4 datagram is. The window moves
    /// only once the ICV verified (§3.4.3).
    pub fn open(&mut self, pkt: &mut [u8]) -> Result<core::ops::Range<usize>, DropReason> {
        let r = self.open_inner(pkt);
        let c = &mut self.counters;
        match &r {
            Ok(range) => {
                c.packets += 1;
                c.bytes += range.len() as u64;
            }
            Err(DropReason::Replay(_)) => c.replayed += 1,
            Err(DropReason::BadIcv) => c.bad_icv += 1,
            Err(_) => c.malformed += 1,
        }
        r
    }

    fn open_inner(&mut self, pkt: &mut [u8]) -> Result<core::ops::Range<usize>, DropReason> {
        let repr = Repr::parse(&Packet::new_checked(&*pkt)?)?;
        if repr.spi != self.spi {
            return Err(DropReason::WrongSpi(repr.spi));
        }
        let seq = repr.sequence_number;
        if !self.window.check(u64::from(seq)) {
            return Err(DropReason::Replay(seq));
        }
        let plaintext = self.cipher.open_in_place(pkt, None)?;
        self.window.accept(u64::from(seq));
        let (trailer, payload_len) = Trailer::parse(&pkt[plaintext.clone()])?;
        if trailer.next_header != NEXT_HEADER_IPV4 {
            return Err(DropReason::UnknownNextHeader(trailer.next_header));
        }
        Ok(plaintext.start..plaintext.start + payload_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{OutboundSa, Transform};

    fn pair() -> (OutboundSa, TunnelInboundSa) {
        let km = [7u8; 20];
        let t = Transform::Aes128Gcm16;
        (
            OutboundSa::new(0x1234, EspCipher::new(t, &km).unwrap()),
            TunnelInboundSa::new(0x1234, EspCipher::new(t, &km).unwrap()),
        )
    }

    fn seal(out: &mut OutboundSa, inner: &[u8], nh: u8) -> Vec<u8> {
        let mut buf = vec![0u8; out.sealed_len(inner.len())];
        let off = out.payload_offset();
        buf[off..off + inner.len()].copy_from_slice(inner);
        let n = out.seal(&mut buf, inner.len(), nh, &mut |_| {}).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn round_trip_replay_and_tamper() {
        let (mut out, mut inb) = pair();
        let inner = [0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let pkt = seal(&mut out, &inner, NEXT_HEADER_IPV4);
        let mut p = pkt.clone();
        let r = inb.open(&mut p).unwrap();
        assert_eq!(&p[r], &inner[..]);
        let mut p = pkt.clone();
        assert_eq!(inb.open(&mut p), Err(DropReason::Replay(1)));
        let mut p = seal(&mut out, &inner, NEXT_HEADER_IPV4);
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(inb.open(&mut p), Err(DropReason::BadIcv));
        // BEET-style payloads are not tunnel payloads.
        let mut p = seal(&mut out, &inner, 17);
        assert_eq!(inb.open(&mut p), Err(DropReason::UnknownNextHeader(17)));
        let c = inb.counters();
        assert_eq!((c.packets, c.replayed, c.bad_icv, c.malformed), (1, 1, 1, 1));
    }
}
