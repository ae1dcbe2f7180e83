//! The HIP fixed header (RFC 7401 §5.1) as a view over bytes, and its
//! checksum (§5.1.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! | Next Header   | Header Length |0| Packet Type |Version| RES.|1|
//! |          Checksum             |           Controls            |
//! |                Sender's Host Identity Tag (HIT)  (128 bits)   |
//! |               Receiver's Host Identity Tag (HIT) (128 bits)   |
//! /                        HIP Parameters                         /
//! ```

use core::net::{IpAddr, Ipv6Addr};

use super::Error;
use crate::checksum;

/// IP protocol number of HIP (RFC 7401 §5.1).
pub const IP_PROTOCOL: u8 = 139;
/// IPPROTO_NONE: the Next Header value of HIP control packets (§5.1).
pub const NEXT_HEADER_NONE: u8 = 59;
/// The protocol version this module speaks (§5.1).
pub const VERSION: u8 = 2;
/// Length of the fixed header: 8 octets plus two HITs.
pub const HEADER_LEN: usize = 40;
/// The largest packet a Header Length octet can describe: (255 + 1) * 8.
pub const MAX_PACKET_LEN: usize = 2048;
/// Controls bit A: the sender's HI is anonymous (§5.1.2).
pub const CONTROL_ANONYMOUS: u16 = 0x0001;

/// Named byte ranges of the fixed header.
mod field {
    use core::ops::{Range, RangeFrom};

    pub const NEXT_HEADER: usize = 0;
    pub const HEADER_LENGTH: usize = 1;
    /// Fixed bit 0 (top bit) and the 7-bit Packet Type.
    pub const PACKET_TYPE: usize = 2;
    /// 4-bit Version, 3 reserved bits, fixed bit 1 (lowest bit).
    pub const VERSION: usize = 3;
    pub const CHECKSUM: Range<usize> = 4..6;
    pub const CONTROLS: Range<usize> = 6..8;
    pub const SENDER_HIT: Range<usize> = 8..24;
    pub const RECEIVER_HIT: Range<usize> = 24..40;
    pub const PARAMETERS: RangeFrom<usize> = 40..;
}

/// HIP packet types (RFC 7401 §5.3, IANA "Packet Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// I1, the Initiator's first packet (§5.3.1).
    I1,
    /// R1, the Responder's pre-signed answer (§5.3.2).
    R1,
    /// I2 (§5.3.3).
    I2,
    /// R2 (§5.3.4).
    R2,
    /// UPDATE (§5.3.5).
    Update,
    /// NOTIFY (§5.3.6).
    Notify,
    /// CLOSE (§5.3.7).
    Close,
    /// CLOSE_ACK (§5.3.8).
    CloseAck,
    /// Any other 7-bit value.
    Unknown(u8),
}

impl From<u8> for PacketType {
    fn from(v: u8) -> Self {
        match v {
            1 => PacketType::I1,
            2 => PacketType::R1,
            3 => PacketType::I2,
            4 => PacketType::R2,
            16 => PacketType::Update,
            17 => PacketType::Notify,
            18 => PacketType::Close,
            19 => PacketType::CloseAck,
            other => PacketType::Unknown(other),
        }
    }
}

impl From<PacketType> for u8 {
    fn from(t: PacketType) -> u8 {
        match t {
            PacketType::I1 => 1,
            PacketType::R1 => 2,
            PacketType::I2 => 3,
            PacketType::R2 => 4,
            PacketType::Update => 16,
            PacketType::Notify => 17,
            PacketType::Close => 18,
            PacketType::CloseAck => 19,
            PacketType::Unknown(v) => v,
        }
    }
}

/// A read/write view of a HIP packet: the fixed header, followed by the
/// parameter area whose extent the Header Length gives.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checks; the getters may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wrap a buffer, checking that it holds the fixed header and the
    /// whole packet the Header Length declares. Bytes past that length
    /// (none, on a well-formed IP payload) are ignored by every accessor.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The length checks of [`Packet::new_checked`].
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated { len });
        }
        let hdr_len = self.header_length();
        if usize::from(hdr_len) * 8 + 8 < HEADER_LEN {
            return Err(Error::BadHeaderLength { hdr_len });
        }
        let declared = self.packet_len();
        if declared > len {
            return Err(Error::PacketTruncated { declared, available: len });
        }
        Ok(())
    }

    /// Length of the underlying buffer, whatever the Header Length says.
    pub fn raw_len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Next Header: 59 (no next header) for HIP control packets.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Header Length in 8-octet units, not counting the first 8 octets.
    pub fn header_length(&self) -> u8 {
        self.buffer.as_ref()[field::HEADER_LENGTH]
    }

    /// Length of the whole HIP packet in octets: (Header Length + 1) * 8.
    pub fn packet_len(&self) -> usize {
        (usize::from(self.header_length()) + 1) * 8
    }

    /// The Packet Type (lower 7 bits of the third octet).
    pub fn packet_type(&self) -> PacketType {
        PacketType::from(self.buffer.as_ref()[field::PACKET_TYPE] & 0x7f)
    }

    /// The Version (upper 4 bits of the fourth octet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    /// Whether both fixed bits have the values §5.1 mandates (0 before the
    /// Packet Type, 1 after the reserved bits).
    pub fn fixed_bits_ok(&self) -> bool {
        let b = self.buffer.as_ref();
        b[field::PACKET_TYPE] & 0x80 == 0 && b[field::VERSION] & 0x01 == 1
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The Controls field (§5.1.2).
    pub fn controls(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CONTROLS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Sender's HIT.
    pub fn sender_hit(&self) -> Ipv6Addr {
        hit(&self.buffer.as_ref()[field::SENDER_HIT])
    }

    /// Receiver's HIT.
    pub fn receiver_hit(&self) -> Ipv6Addr {
        hit(&self.buffer.as_ref()[field::RECEIVER_HIT])
    }

    /// The parameter area: from the end of the fixed header to the end the
    /// Header Length declares.
    pub fn parameters(&self) -> &[u8] {
        let end = self.packet_len();
        &self.buffer.as_ref()[HEADER_LEN..end]
    }

    /// The whole packet as the Header Length declares it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.packet_len()]
    }

    /// Verify the checksum over the IPv4 or IPv6 pseudo-header with Next
    /// Header 139 (§5.1.1).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<(), Error> {
        let bytes = self.as_bytes();
        let len = u32::try_from(bytes.len()).map_err(|_| Error::PacketTooLong { len: bytes.len() })?;
        let acc = checksum::pseudo_header_sum(src, dst, IP_PROTOCOL, len).ok_or(Error::AddressFamilyMismatch)?;
        if checksum::finish(checksum::sum(bytes, acc)) == 0 { Ok(()) } else { Err(Error::BadChecksum) }
    }
}

fn hit(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ipv6Addr::from(o)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set Next Header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Set Header Length (8-octet units past the first 8).
    pub fn set_header_length(&mut self, v: u8) {
        self.buffer.as_mut()[field::HEADER_LENGTH] = v;
    }

    /// Set the Packet Type and the fixed bit before it (0).
    pub fn set_packet_type(&mut self, t: PacketType) {
        self.buffer.as_mut()[field::PACKET_TYPE] = u8::from(t) & 0x7f;
    }

    /// Set the Version, zero the reserved bits, and set the fixed bit (1).
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = (v << 4) | 0x01;
    }

    /// Set the Checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the Controls field.
    pub fn set_controls(&mut self, v: u16) {
        self.buffer.as_mut()[field::CONTROLS].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the Sender's HIT.
    pub fn set_sender_hit(&mut self, h: Ipv6Addr) {
        self.buffer.as_mut()[field::SENDER_HIT].copy_from_slice(&h.octets());
    }

    /// Set the Receiver's HIT.
    pub fn set_receiver_hit(&mut self, h: Ipv6Addr) {
        self.buffer.as_mut()[field::RECEIVER_HIT].copy_from_slice(&h.octets());
    }

    /// The parameter area, writable: everything after the fixed header.
    pub fn parameters_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PARAMETERS]
    }

    /// Compute and store the checksum over the pseudo-header and the
    /// packet the Header Length declares (§5.1.1).
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<(), Error> {
        self.set_checksum(0);
        let len = self.packet_len();
        let len32 = u32::try_from(len).map_err(|_| Error::PacketTooLong { len })?;
        let acc = checksum::pseudo_header_sum(src, dst, IP_PROTOCOL, len32).ok_or(Error::AddressFamilyMismatch)?;
        let c = checksum::finish(checksum::sum(&self.buffer.as_ref()[..len], acc));
        self.set_checksum(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// The I1 of the third-party capture (bex.pcap frame 1).
    const I1: &str = "3b06012152410000200100215cecfdcd2e22bcf402ab958820010021c1e164fce0f2d98580bfc6bc01ff000607090803040a000000000000";

    fn a() -> IpAddr {
        Ipv4Addr::new(10, 77, 0, 1).into()
    }
    fn b() -> IpAddr {
        Ipv4Addr::new(10, 77, 0, 2).into()
    }

    #[test]
    fn header_fields() {
        let bytes = hex::decode(I1).unwrap();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.next_header(), NEXT_HEADER_NONE);
        assert_eq!(p.header_length(), 6);
        assert_eq!(p.packet_len(), 56);
        assert_eq!(p.packet_type(), PacketType::I1);
        assert_eq!(p.version(), 2);
        assert!(p.fixed_bits_ok());
        assert_eq!(p.checksum(), 0x5241);
        assert_eq!(p.controls(), 0);
        assert_eq!(p.sender_hit(), "2001:21:5cec:fdcd:2e22:bcf4:2ab:9588".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.receiver_hit(), "2001:21:c1e1:64fc:e0f2:d985:80bf:c6bc".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.parameters().len(), 16);
    }

    #[test]
    fn checksum_verifies_and_refills() {
        let mut bytes = hex::decode(I1).unwrap();
        Packet::new_checked(&bytes[..]).unwrap().verify_checksum(a(), b()).unwrap();
        // Another destination is another pseudo-header. (Swapping source
        // and destination would not do: the one's-complement sum commutes.)
        let c: IpAddr = Ipv4Addr::new(10, 77, 0, 3).into();
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap().verify_checksum(a(), c), Err(Error::BadChecksum));
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_checksum(0xdead);
        p.fill_checksum(a(), b()).unwrap();
        assert_eq!(p.checksum(), 0x5241);
    }

    #[test]
    fn checksum_ipv6_pseudo_header_and_family_mismatch() {
        let mut bytes = hex::decode(I1).unwrap();
        let s: IpAddr = "2001:db8::1".parse().unwrap();
        let d: IpAddr = "2001:db8::2".parse().unwrap();
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum(s, d).unwrap();
        // Expected value computed independently from the RFC 8200 §8.1
        // pseudo-header: addresses, 32-bit length 56, 24 zero bits, 139.
        let mut ph = Vec::new();
        ph.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        ph.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        ph.extend_from_slice(&56u32.to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, 139]);
        let mut body = p.as_bytes().to_vec();
        body[4..6].copy_from_slice(&[0, 0]);
        ph.extend_from_slice(&body);
        assert_eq!(p.checksum(), checksum::checksum(&ph));
        p.verify_checksum(s, d).unwrap();
        assert_eq!(p.verify_checksum(a(), d), Err(Error::AddressFamilyMismatch));
    }

    #[test]
    fn length_checks() {
        let bytes = hex::decode(I1).unwrap();
        assert_eq!(Packet::new_checked(&bytes[..39]).unwrap_err(), Error::Truncated { len: 39 });
        assert_eq!(
            Packet::new_checked(&bytes[..55]).unwrap_err(),
            Error::PacketTruncated { declared: 56, available: 55 }
        );
        let mut short = bytes.clone();
        short[1] = 3;
        assert_eq!(Packet::new_checked(&short[..]).unwrap_err(), Error::BadHeaderLength { hdr_len: 3 });
    }

    #[test]
    fn setters_write_fixed_bits() {
        let mut buf = [0xffu8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_packet_type(PacketType::CloseAck);
        p.set_version(VERSION);
        assert!(p.fixed_bits_ok());
        assert_eq!(p.packet_type(), PacketType::CloseAck);
        assert_eq!(&buf[2..4], &[0x13, 0x21]);
    }

    #[test]
    fn packet_type_numbers() {
        for (t, n) in [
            (PacketType::I1, 1u8),
            (PacketType::R1, 2),
            (PacketType::I2, 3),
            (PacketType::R2, 4),
            (PacketType::Update, 16),
            (PacketType::Notify, 17),
            (PacketType::Close, 18),
            (PacketType::CloseAck, 19),
            (PacketType::Unknown(20), 20),
        ] {
            assert_eq!(u8::from(t), n);
            assert_eq!(PacketType::from(n), t);
        }
    }
}
