//! The ESP packet (RFC 4303 §2): a view over the header, and the trailer
//! that ends the decrypted payload.
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        IV (if any) and Payload Data (variable)                |
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value (ICV) (variable)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Where the IV ends and the ICV starts depends on the transform, so this
//! view only splits off the fixed header; [`crate::esp::EspCipher`] does
//! the rest.

use super::error::DropReason;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const SPI: Field = 0..4;
    pub const SEQUENCE_NUMBER: Field = 4..8;
    pub const PAYLOAD: usize = 8;
}

/// Length of the fixed ESP header (SPI and sequence number).
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of an ESP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wrap a buffer, checking it holds at least the fixed header.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the getters below cannot index out of bounds.
    pub fn check_len(&self) -> Result<(), DropReason> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(DropReason::Truncated);
        }
        Ok(())
    }

    /// The Security Parameters Index (RFC 4303 §2.1).
    pub fn spi(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SPI])
    }

    /// The low 32 bits of the sequence number (RFC 4303 §2.2).
    pub fn sequence_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQUENCE_NUMBER])
    }

    /// IV, ciphertext and ICV: everything after the fixed header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Give the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the SPI.
    pub fn set_spi(&mut self, spi: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.to_be_bytes());
    }

    /// Set the sequence number.
    pub fn set_sequence_number(&mut self, seq: u32) {
        self.buffer.as_mut()[field::SEQUENCE_NUMBER].copy_from_slice(&seq.to_be_bytes());
    }

    /// IV, ciphertext and ICV, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

fn read_u32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(b);
    u32::from_be_bytes(w)
}

/// The fixed ESP header, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence number (low 32 bits).
    pub sequence_number: u32,
}

impl Repr {
    /// Read the header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, DropReason> {
        packet.check_len()?;
        Ok(Repr { spi: packet.spi(), sequence_number: packet.sequence_number() })
    }

    /// Bytes [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header; the buffer must hold [`Repr::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_spi(self.spi);
        packet.set_sequence_number(self.sequence_number);
    }
}

/// Pad length and next header, the last two bytes of the decrypted payload
/// (RFC 4303 §2.4-2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Number of padding bytes before the pad length byte.
    pub pad_len: u8,
    /// Protocol of the payload (IANA protocol number).
    pub next_header: u8,
}

/// Pad length and next header bytes.
pub const TRAILER_LEN: usize = 2;

impl Trailer {
    /// Parse the trailer at the end of `plaintext` (payload, padding, pad
    /// length, next header) and return it with the payload length.
    ///
    /// The padding must be the default 1, 2, 3, ... (RFC 4303 §2.4): every
    /// transform here uses it, and checking it catches cut-and-paste of
    /// ciphertext blocks that the ICV would not (it always would here, but
    /// the check is cheap and the RFC says SHOULD).
    pub fn parse(plaintext: &[u8]) -> Result<(Trailer, usize), DropReason> {
        let [.., pad_len, next_header] = *plaintext else {
            return Err(DropReason::Truncated);
        };
        let trailer = Trailer { pad_len, next_header };
        let payload_len =
            plaintext.len().checked_sub(TRAILER_LEN + usize::from(pad_len)).ok_or(DropReason::BadPadding)?;
        let padding = &plaintext[payload_len..plaintext.len() - TRAILER_LEN];
        if padding.iter().zip(1u8..).any(|(&b, want)| b != want) {
            return Err(DropReason::BadPadding);
        }
        Ok((trailer, payload_len))
    }

    /// Write padding, pad length and next header after a payload of
    /// `payload_len` bytes in `buf`; `buf` must hold
    /// `payload_len + pad_len + 2` bytes.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) {
        let pad_end = payload_len + usize::from(self.pad_len);
        for (b, v) in buf[payload_len..pad_end].iter_mut().zip(1u8..) {
            *b = v;
        }
        buf[pad_end] = self.pad_len;
        buf[pad_end + 1] = self.next_header;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let repr = Repr { spi: 0xd3e2_a081, sequence_number: 7 };
        let mut buf = [0u8; 12];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..8], [0xd3, 0xe2, 0xa0, 0x81, 0, 0, 0, 7]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr);
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn short_header_rejected() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&[0u8; 8][..n]).unwrap_err(), DropReason::Truncated);
        }
    }

    #[test]
    fn trailer_round_trip() {
        let mut buf = [0xaau8; 10];
        Trailer { pad_len: 3, next_header: 58 }.emit(&mut buf, 5);
        assert_eq!(buf, [0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 1, 2, 3, 3, 58]);
        let (t, len) = Trailer::parse(&buf).unwrap();
        assert_eq!((t.pad_len, t.next_header, len), (3, 58, 5));
    }

    #[test]
    fn trailer_no_padding() {
        let (t, len) = Trailer::parse(&[9, 9, 0, 6]).unwrap();
        assert_eq!((t.pad_len, t.next_header, len), (0, 6, 2));
    }

    #[test]
    fn trailer_malformed() {
        assert_eq!(Trailer::parse(&[]), Err(DropReason::Truncated));
        assert_eq!(Trailer::parse(&[6]), Err(DropReason::Truncated));
        // Pad length larger than what precedes it.
        assert_eq!(Trailer::parse(&[1, 2, 3, 58]), Err(DropReason::BadPadding));
        // Padding not 1, 2, 3.
        assert_eq!(Trailer::parse(&[0, 1, 3, 2, 58]), Err(DropReason::BadPadding));
        assert_eq!(Trailer::parse(&[0, 0, 0, 2, 58]), Err(DropReason::BadPadding));
    }
}
