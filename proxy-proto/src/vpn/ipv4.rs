//! A minimal IPv4 header (RFC 791 §3.1) for the slow path of the mobile VPN:
//! the outer header of IP-in-IP (RFC 2003) and the inner datagrams that
//! carry Mobile IP messages through the ESP tunnel. Options are accepted on
//! parse (IHL > 5) but never emitted.

use core::net::Ipv4Addr;

use crate::checksum;

/// Errors of the IPv4 header layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    #[error("buffer shorter than the IPv4 header")]
    Truncated,
    #[error("not IPv4 (version {0})")]
    Version(u8),
    #[error("bad IHL or total length")]
    BadLength,
    #[error("bad header checksum")]
    Checksum,
    #[error("fragmented datagram (not handled on the slow path)")]
    Fragmented,
}

use crate::ip_fields::ipv4 as field;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::HEADER_END;
/// IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;
/// IP protocol number of IP-in-IP (RFC 2003 §3).
pub const PROTOCOL_IPIP: u8 = 4;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET: u16 = 0x1fff;

/// A read/write view of an IPv4 header and its payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking version, IHL and total length against
    /// the buffer, so that every getter is in bounds.
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let p = Self::new_unchecked(buffer);
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        if p.version() != 4 {
            return Err(Ipv4Error::Version(p.version()));
        }
        let hl = p.header_len();
        let tl = usize::from(p.total_len());
        if hl < HEADER_LEN || tl < hl || tl > b.len() {
            return Err(Ipv4Error::BadLength);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::TOTAL_LEN])
    }
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }
    pub fn dont_fragment(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & FLAG_DF != 0
    }
    /// True if this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & (FLAG_MF | FRAG_OFFSET) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::SRC])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::DST])
    }
    /// True if the header checksum verifies (RFC 791: sum over the header).
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
    /// The payload, bounded by the total length (link padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_ver_ihl(&mut self, ihl_words: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (ihl_words & 0x0f);
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::TOTAL_LEN].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_flags_frag(&mut self, dont_fragment: bool) {
        let v = if dont_fragment { FLAG_DF } else { 0 };
        self.buffer.as_mut()[field::FLAGS_FRAG].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum over the current header.
    pub fn fill_checksum(&mut self) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// The fields of an option-less IPv4 header we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub ttl: u8,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parses a header, verifying its checksum; fragments are refused
    /// because the slow path never reassembles.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, Ipv4Error> {
        if !p.verify_checksum() {
            return Err(Ipv4Error::Checksum);
        }
        if p.is_fragment() {
            return Err(Ipv4Error::Fragmented);
        }
        Ok(Self {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            tos: p.tos(),
            ident: p.ident(),
            dont_fragment: p.dont_fragment(),
            ttl: p.ttl(),
            payload_len: p.payload().len(),
        })
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header (checksum included) into the first 20 bytes. The
    /// buffer must hold `buffer_len()` bytes; the total length must fit 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), Ipv4Error> {
        let total = u16::try_from(self.buffer_len()).map_err(|_| Ipv4Error::BadLength)?;
        if p.buffer.as_ref().len() < self.buffer_len() {
            return Err(Ipv4Error::Truncated);
        }
        p.set_ver_ihl(5);
        p.set_tos(self.tos);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_flags_frag(self.dont_fragment);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
        Ok(())
    }
}

pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

pub(crate) fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse_round_trip_with_checksum() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 7),
            protocol: PROTOCOL_UDP,
            tos: 0x10,
            ident: 0x1234,
            dont_fragment: true,
            ttl: 64,
            payload_len: 4,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        // Header checksum computed independently (python, RFC 1071).
        assert_eq!(buf[..20], hex::decode("451000181234400040113c55c0000201c6336407").unwrap()[..]);
        assert_eq!(checksum::checksum(&buf[..20]), 0);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn malformed_headers_rejected() {
        assert_eq!(Packet::new_checked(&[0x45u8; 10][..]).unwrap_err(), Ipv4Error::Truncated);
        let mut b = [0u8; 20];
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Ipv4Error::Version(6));
        b[0] = 0x44; // IHL 4 < 5
        b[3] = 20;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Ipv4Error::BadLength);
        b[0] = 0x45;
        b[3] = 40; // total length beyond the buffer
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Ipv4Error::BadLength);
        b[3] = 20;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Ipv4Error::Checksum);
    }
}
