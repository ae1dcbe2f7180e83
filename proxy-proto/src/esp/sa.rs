//! Security associations (RFC 4303 §3): an outbound SA that numbers and
//! seals packets, an inbound SA that checks replay, opens and counts.
//!
//! Sans-IO: the datapath hands buffers in; the only output besides the
//! packet is [`SaEvent`], polled by the control plane, which asks HIP to
//! rekey (RFC 7402 §6.9 via UPDATE) before the sequence space runs out.

use core::ops::Range;

use super::beet::is_beet_next_header;
use super::cipher::EspCipher;
use super::error::{DropReason, SealError};
use super::packet::{Packet, Repr, TRAILER_LEN, Trailer};
use super::replay::ReplayWindow;
use super::transform::Transform;

/// Next header of a dummy packet (RFC 4303 §2.6): "No Next Header".
pub const NEXT_HEADER_DUMMY: u8 = 59;

/// Something the control plane must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaEvent {
    /// The outbound sequence number passed the soft limit: start a rekey
    /// now so the new SA is up before the hard limit.
    RekeyNeeded {
        /// SPI of the aging SA.
        spi: u32,
    },
    /// The outbound sequence number reached 2^32-1: this SA refuses to
    /// send (RFC 4303 §3.3.3).
    SequenceExhausted {
        /// SPI of the exhausted SA.
        spi: u32,
    },
}

/// Outbound traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundCounters {
    /// Packets sealed.
    pub packets: u64,
    /// Payload bytes sealed (before padding).
    pub bytes: u64,
}

/// The sending side of an SA.
#[derive(Debug)]
pub struct OutboundSa {
    spi: u32,
    cipher: EspCipher,
    /// Last sequence number used; 0 before the first packet.
    last_seq: u32,
    soft_limit: u32,
    rekey_signalled: bool,
    pending: Option<SaEvent>,
    counters: OutboundCounters,
}

/// Default soft limit: 2^24 packets before the hard one, ample time for a
/// HIP UPDATE round trip at line rate.
pub const DEFAULT_SOFT_LIMIT: u32 = u32::MAX - (1 << 24);

impl OutboundSa {
    /// A fresh SA: the first packet gets sequence number 1.
    pub fn new(spi: u32, cipher: EspCipher) -> Self {
        OutboundSa {
            spi,
            cipher,
            last_seq: 0,
            soft_limit: DEFAULT_SOFT_LIMIT,
            rekey_signalled: false,
            pending: None,
            counters: OutboundCounters::default(),
        }
    }

    /// Change the sequence number at which [`SaEvent::RekeyNeeded`] fires.
    pub fn with_soft_limit(mut self, soft_limit: u32) -> Self {
        self.soft_limit = soft_limit;
        self
    }

    /// Test hook: pretend `last` packets were already sent.
    #[cfg(test)]
    pub(crate) fn set_last_sequence_number(&mut self, last: u32) {
        self.last_seq = last;
    }

    /// The SPI the peer chose for this direction.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.cipher.transform()
    }

    /// Where the caller must put the payload in the buffer passed to
    /// [`OutboundSa::seal`].
    pub fn payload_offset(&self) -> usize {
        self.cipher.transform().payload_offset()
    }

    /// Buffer length [`OutboundSa::seal`] needs for `payload_len` bytes.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        let t = self.cipher.transform();
        t.payload_offset() + payload_len + t.pad_len(payload_len) + TRAILER_LEN + self.cipher.icv_len()
    }

    /// Counters so far.
    pub fn counters(&self) -> OutboundCounters {
        self.counters
    }

    /// The next event for the control plane, if any.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.pending.take()
    }

    /// Seal a payload in place.
    ///
    /// `buf` starts where the ESP header goes; the payload (in BEET, the
    /// transport segment) is at `buf[self.payload_offset()..][..payload_len]`
    /// and `buf` must hold [`OutboundSa::sealed_len`] bytes. `rng` fills the
    /// CBC IV (RFC 3602 §2.3 wants it unpredictable); GCM uses the sequence
    /// number as its explicit IV (RFC 4106 §3.1), which never repeats under
    /// one key because the counter never wraps. Returns the ESP packet
    /// length.
    pub fn seal(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
        next_header: u8,
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<usize, SealError> {
        if self.last_seq == u32::MAX {
            return Err(SealError::SequenceExhausted);
        }
        let len = self.sealed_len(payload_len);
        if buf.len() < len {
            return Err(SealError::BufferTooSmall { needed: len, available: buf.len() });
        }
        let seq = self.last_seq + 1;
        let t = self.cipher.transform();
        let pkt = &mut buf[..len];
        Repr { spi: self.spi, sequence_number: seq }.emit(&mut Packet::new_unchecked(&mut pkt[..]));
        let iv = &mut pkt[super::packet::HEADER_LEN..t.payload_offset()];
        match t {
            Transform::Aes128Gcm16 | Transform::Aes256Gcm16 => {
                iv.copy_from_slice(&u64::from(seq).to_be_bytes());
            }
            _ => rng(iv),
        }
        let pad_len = t.pad_len(payload_len) as u8;
        let icv_at = len - self.cipher.icv_len();
        Trailer { pad_len, next_header }.emit(&mut pkt[t.payload_offset()..icv_at], payload_len);
        self.cipher.seal_in_place(pkt, None).map_err(|_| SealError::Crypto)?;
        self.last_seq = seq;
        self.counters.packets += 1;
        self.counters.bytes += payload_len as u64;
        if seq == u32::MAX {
            self.pending = Some(SaEvent::SequenceExhausted { spi: self.spi });
        } else if seq >= self.soft_limit && !self.rekey_signalled {
            self.rekey_signalled = true;
            self.pending = Some(SaEvent::RekeyNeeded { spi: self.spi });
        }
        Ok(len)
    }
}

/// Drop counters, one per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// [`DropReason::Truncated`].
    pub truncated: u64,
    /// [`DropReason::WrongSpi`].
    pub wrong_spi: u64,
    /// [`DropReason::Replay`].
    pub replay: u64,
    /// [`DropReason::BadIcv`].
    pub bad_icv: u64,
    /// [`DropReason::BadPadding`].
    pub bad_padding: u64,
    /// [`DropReason::UnknownNextHeader`].
    pub unknown_next_header: u64,
    /// [`DropReason::Dummy`].
    pub dummy: u64,
}

impl DropCounters {
    fn record(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Truncated => &mut self.truncated,
            DropReason::WrongSpi(_) => &mut self.wrong_spi,
            DropReason::Replay(_) => &mut self.replay,
            DropReason::BadIcv => &mut self.bad_icv,
            DropReason::BadPadding => &mut self.bad_padding,
            DropReason::UnknownNextHeader(_) => &mut self.unknown_next_header,
            DropReason::Dummy => &mut self.dummy,
        };
        *c += 1;
    }
}

/// Inbound traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundCounters {
    /// Packets delivered.
    pub packets: u64,
    /// Payload bytes delivered (padding and trailer excluded).
    pub bytes: u64,
    /// Packets dropped, by reason.
    pub drops: DropCounters,
}

/// A packet [`InboundSa::open`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Its sequence number.
    pub sequence_number: u32,
    /// Protocol of the payload (RFC 4303 §2.6).
    pub next_header: u8,
    /// Where the decrypted payload is in the caller's buffer.
    pub payload: Range<usize>,
}

/// What an SA carries (RFC 4303 §3.1): the transport segment of a packet
/// whose inner header the SA fixes (BEET, RFC 7402 §3), or a whole inner IP
/// packet (tunnel mode, the mobile VPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Bound End-to-End Tunnel: next header is a transport protocol.
    #[default]
    Beet,
    /// Tunnel mode: next header is 4 (IPv4) or 41 (IPv6).
    Tunnel,
}

impl Mode {
    /// Whether an SA of this mode delivers a payload with `next_header`.
    pub fn accepts(self, next_header: u8) -> bool {
        match self {
            Mode::Beet => is_beet_next_header(next_header),
            Mode::Tunnel => super::tunnel::is_tunnel_next_header(next_header),
        }
    }
}

/// The receiving side of an SA (BEET unless made with [`InboundSa::with_mode`]).
#[derive(Debug)]
pub struct InboundSa {
    spi: u32,
    cipher: EspCipher,
    mode: Mode,
    window: ReplayWindow,
    counters: InboundCounters,
}

impl InboundSa {
    /// A fresh SA for the SPI we chose (RFC 7402 §3.3.1).
    pub fn new(spi: u32, cipher: EspCipher) -> Self {
        InboundSa { spi, cipher, mode: Mode::Beet, window: ReplayWindow::new(), counters: InboundCounters::default() }
    }

    /// The same SA carrying `mode` payloads.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// What this SA carries.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Our SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.cipher.transform()
    }

    /// The anti-replay window, for inspection.
    pub fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Counters so far.
    pub fn counters(&self) -> InboundCounters {
        self.counters
    }

    /// Check, authenticate and decrypt the ESP packet `pkt` in place
    /// (RFC 4303 §3.4): SPI, replay check, ICV, window update, trailer.
    /// The window moves only once the ICV verified (§3.4.3), so forged
    /// packets cannot push it. Every drop is counted by reason.
    pub fn open(&mut self, pkt: &mut [u8]) -> Result<Opened, DropReason> {
        let result = self.open_counted(pkt);
        match &result {
            Ok(o) => {
                self.counters.packets += 1;
                self.counters.bytes += o.payload.len() as u64;
            }
            Err(e) => self.counters.drops.record(*e),
        }
        result
    }

    fn open_counted(&mut self, pkt: &mut [u8]) -> Result<Opened, DropReason> {
        let repr = Repr::parse(&Packet::new_checked(&*pkt)?)?;
        if repr.spi != self.spi {
            return Err(DropReason::WrongSpi(repr.spi));
        }
        let seq = repr.sequence_number;
        if !self.window.check(u64::from(seq)) {
            return Err(DropReason::Replay(seq));
        }
        let plaintext = self.cipher.open_in_place(pkt, None)?;
        // Authentic: from here on the packet counts as received even if
        // its contents are unusable, so a replay of it is caught too.
        self.window.accept(u64::from(seq));
        let (trailer, payload_len) = Trailer::parse(&pkt[plaintext.clone()])?;
        match trailer.next_header {
            NEXT_HEADER_DUMMY => return Err(DropReason::Dummy),
            nh if !self.mode.accepts(nh) => return Err(DropReason::UnknownNextHeader(nh)),
            _ => {}
        }
        Ok(Opened {
            sequence_number: seq,
            next_header: trailer.next_header,
            payload: plaintext.start..plaintext.start + payload_len,
        })
    }
}

#[cfg(test)]
mod tests;
