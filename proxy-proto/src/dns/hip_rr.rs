//! The HIP resource record RDATA, wire format (RFC 8005 §5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HIT length   | PK algorithm  |          PK length            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                           HIT                                 ~
//! ~                       Public Key                              ~
//! ~                  Rendezvous Servers                           ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The rendezvous servers are a sequence of uncompressed wire-format
//! domain names filling the rest of the RDATA.

use hickory_proto::rr::Name;

/// The HIP RR type code (RFC 8005 §9, IANA "Resource Record (RR) TYPEs").
pub const HIP_RR_TYPE: u16 = 55;

/// Longest wire-format domain name (RFC 1035 §3.1).
const MAX_NAME_WIRE_LEN: usize = 255;

/// Why a HIP RDATA was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HipRdataError {
    /// Shorter than the fixed header or than the HIT/PK lengths it declares.
    #[error("HIP RDATA truncated")]
    Truncated,
    /// HIT length 0: the HIT is mandatory (RFC 8005 §5).
    #[error("HIP RDATA has an empty HIT")]
    EmptyHit,
    /// PK length 0: the Host Identity is mandatory (RFC 8005 §5).
    #[error("HIP RDATA has an empty public key")]
    EmptyPublicKey,
    /// PK algorithm 0 ("no key", RFC 4025 §2.4) makes no sense in a HIP RR.
    #[error("HIP RDATA has PK algorithm 0 (no key)")]
    NoKeyAlgorithm,
    /// A rendezvous server name uses a compression pointer, which RFC 8005
    /// §5 forbids ("MUST NOT be compressed").
    #[error("rendezvous server name is compressed")]
    CompressedName,
    /// A rendezvous server name is not a valid uncompressed host name
    /// (extended label type, overlong, root name, bytes outside letters,
    /// digits, `-` and `_`).
    #[error("rendezvous server name is malformed")]
    BadName,
    /// A HIT longer than 255 bytes cannot be encoded (8-bit length).
    #[error("HIT longer than 255 bytes")]
    HitTooLong,
    /// A public key longer than 65535 bytes cannot be encoded.
    #[error("public key longer than 65535 bytes")]
    PublicKeyTooLong,
    /// The buffer given to `emit` is smaller than `buffer_len()`.
    #[error("buffer too small for the HIP RDATA")]
    BufferTooSmall,
    /// A hickory record that is not of type 55.
    #[error("record is not a HIP RR")]
    NotHip,
}

/// The PK algorithm field: the IPSECKEY algorithm type registry
/// (RFC 4025 §2.4), which RFC 8005 §5 reuses. 1 and 2 are from RFC 4025,
/// 3 (ECDSA) was registered by RFC 8005 §9, 4 (EdDSA) by RFC 9373.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkAlgorithm {
    /// DSA key, format of RFC 2536.
    Dsa,
    /// RSA key, format of RFC 3110.
    Rsa,
    /// ECDSA key, format of RFC 6605.
    Ecdsa,
    /// EdDSA key, format of RFC 8080.
    EdDsa,
    /// A value this code does not know; kept so records round-trip.
    Unassigned(u8),
}

impl From<u8> for PkAlgorithm {
    fn from(value: u8) -> Self {
        match value {
            1 => Self::Dsa,
            2 => Self::Rsa,
            3 => Self::Ecdsa,
            4 => Self::EdDsa,
            other => Self::Unassigned(other),
        }
    }
}

impl From<PkAlgorithm> for u8 {
    fn from(value: PkAlgorithm) -> Self {
        match value {
            PkAlgorithm::Dsa => 1,
            PkAlgorithm::Rsa => 2,
            PkAlgorithm::Ecdsa => 3,
            PkAlgorithm::EdDsa => 4,
            PkAlgorithm::Unassigned(other) => other,
        }
    }
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const HIT_LENGTH: usize = 0;
    pub const PK_ALGORITHM: usize = 1;
    pub const PK_LENGTH: Field = 2..4;
    /// Where the HIT starts; the later fields have variable offsets.
    pub const HIT_START: usize = 4;
}

/// A read/write view of HIP RDATA bytes (RFC 8005 §5).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes without checking lengths: getters may panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps bytes after checking the fixed header and the HIT and PK
    /// lengths it declares, so every getter is in bounds.
    pub fn new_checked(buffer: T) -> Result<Self, HipRdataError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the declared HIT and PK fit in the buffer.
    pub fn check_len(&self) -> Result<(), HipRdataError> {
        let data = self.buffer.as_ref();
        if data.len() < field::HIT_START {
            return Err(HipRdataError::Truncated);
        }
        if data.len() < self.rendezvous_servers_start() {
            return Err(HipRdataError::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// HIT length in bytes.
    pub fn hit_length(&self) -> u8 {
        self.buffer.as_ref()[field::HIT_LENGTH]
    }

    /// PK algorithm (IPSECKEY registry).
    pub fn pk_algorithm(&self) -> PkAlgorithm {
        PkAlgorithm::from(self.buffer.as_ref()[field::PK_ALGORITHM])
    }

    /// Public key length in bytes.
    pub fn pk_length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PK_LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn public_key_start(&self) -> usize {
        field::HIT_START + usize::from(self.hit_length())
    }

    fn rendezvous_servers_start(&self) -> usize {
        self.public_key_start() + usize::from(self.pk_length())
    }

    /// The HIT bytes.
    pub fn hit(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HIT_START..self.public_key_start()]
    }

    /// The public key (Host Identity) bytes.
    pub fn public_key(&self) -> &[u8] {
        &self.buffer.as_ref()[self.public_key_start()..self.rendezvous_servers_start()]
    }

    /// The rendezvous server names, still in wire format.
    pub fn rendezvous_servers(&self) -> &[u8] {
        &self.buffer.as_ref()[self.rendezvous_servers_start()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the HIT length; set it before writing the HIT.
    pub fn set_hit_length(&mut self, value: u8) {
        self.buffer.as_mut()[field::HIT_LENGTH] = value;
    }

    /// Sets the PK algorithm.
    pub fn set_pk_algorithm(&mut self, value: PkAlgorithm) {
        self.buffer.as_mut()[field::PK_ALGORITHM] = value.into();
    }

    /// Sets the public key length; set it before writing the key.
    pub fn set_pk_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::PK_LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// The HIT bytes, for writing.
    pub fn hit_mut(&mut self) -> &mut [u8] {
        let end = self.public_key_start();
        &mut self.buffer.as_mut()[field::HIT_START..end]
    }

    /// The public key bytes, for writing.
    pub fn public_key_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.public_key_start(), self.rendezvous_servers_start());
        &mut self.buffer.as_mut()[start..end]
    }

    /// The rendezvous server area, for writing.
    pub fn rendezvous_servers_mut(&mut self) -> &mut [u8] {
        let start = self.rendezvous_servers_start();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A parsed HIP RR (RFC 8005 §5): the owned `Repr` of [`Packet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HipRdata {
    /// Algorithm of `public_key`.
    pub pk_algorithm: PkAlgorithm,
    /// The HIT; 16 bytes for an ORCHID (RFC 7343) HIT.
    pub hit: Vec<u8>,
    /// The Host Identity's public key, in the DNS format of `pk_algorithm`.
    pub public_key: Vec<u8>,
    /// Rendezvous servers in order of preference (RFC 8005 §5), fully
    /// qualified.
    pub rendezvous_servers: Vec<Name>,
}

impl HipRdata {
    /// Parses a checked view.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, HipRdataError> {
        packet.check_len()?;
        if packet.hit_length() == 0 {
            return Err(HipRdataError::EmptyHit);
        }
        if packet.pk_length() == 0 {
            return Err(HipRdataError::EmptyPublicKey);
        }
        if packet.pk_algorithm() == PkAlgorithm::Unassigned(0) {
            return Err(HipRdataError::NoKeyAlgorithm);
        }
        let mut rendezvous_servers = Vec::new();
        let mut rest = packet.rendezvous_servers();
        while !rest.is_empty() {
            let (name, used) = read_uncompressed_name(rest)?;
            rendezvous_servers.push(name);
            rest = rest.get(used..).ok_or(HipRdataError::Truncated)?;
        }
        Ok(Self {
            pk_algorithm: packet.pk_algorithm(),
            hit: packet.hit().to_vec(),
            public_key: packet.public_key().to_vec(),
            rendezvous_servers,
        })
    }

    /// Parses RDATA bytes.
    pub fn from_bytes(rdata: &[u8]) -> Result<Self, HipRdataError> {
        Self::parse(&Packet::new_checked(rdata)?)
    }

    /// The HIT as a 128-bit ORCHID, if it has that length.
    pub fn hit128(&self) -> Option<[u8; 16]> {
        <[u8; 16]>::try_from(self.hit.as_slice()).ok()
    }

    /// Encoded length in bytes.
    pub fn buffer_len(&self) -> usize {
        field::HIT_START
            + self.hit.len()
            + self.public_key.len()
            + self.rendezvous_servers.iter().map(name_wire_len).sum::<usize>()
    }

    /// Writes the RDATA into `packet`, which must hold `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<(), HipRdataError> {
        let hit_len = u8::try_from(self.hit.len()).map_err(|_| HipRdataError::HitTooLong)?;
        let pk_len = u16::try_from(self.public_key.len()).map_err(|_| HipRdataError::PublicKeyTooLong)?;
        if hit_len == 0 {
            return Err(HipRdataError::EmptyHit);
        }
        if pk_len == 0 {
            return Err(HipRdataError::EmptyPublicKey);
        }
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(HipRdataError::BufferTooSmall);
        }
        packet.set_hit_length(hit_len);
        packet.set_pk_algorithm(self.pk_algorithm);
        packet.set_pk_length(pk_len);
        packet.hit_mut().copy_from_slice(&self.hit);
        packet.public_key_mut().copy_from_slice(&self.public_key);
        let mut out = packet.rendezvous_servers_mut();
        for name in &self.rendezvous_servers {
            for label in name.iter() {
                // Labels from hickory are 1..=63 bytes, so the cast is exact.
                let (len, rest) = out.split_at_mut(1);
                len[0] = label.len() as u8;
                let (dst, rest) = rest.split_at_mut(label.len());
                dst.copy_from_slice(label);
                out = rest;
            }
            let (root, rest) = out.split_at_mut(1);
            root[0] = 0;
            out = rest;
        }
        Ok(())
    }

    /// Encodes the RDATA into a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, HipRdataError> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }
}

/// Wire length of `name` written uncompressed: a length byte per label,
/// the label bytes, and the root label.
fn name_wire_len(name: &Name) -> usize {
    name.iter().map(|label| 1 + label.len()).sum::<usize>() + 1
}

/// A rendezvous server is a host to resolve (RFC 8004 §4), so its name is
/// a host name: letters, digits and inner hyphens (RFC 1123 §2.1; `_`
/// tolerated). Other bytes would also need escapes in the presentation
/// format, which the configuration does not speak.
pub(crate) fn is_host_name_label(label: &[u8]) -> bool {
    let hyphen_edge = label.first() == Some(&b'-') || label.last() == Some(&b'-');
    !hyphen_edge && label.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads one uncompressed domain name from the front of `bytes`; returns
/// the name and the bytes it used.
fn read_uncompressed_name(bytes: &[u8]) -> Result<(Name, usize), HipRdataError> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut pos = 0usize;
    loop {
        let len = *bytes.get(pos).ok_or(HipRdataError::Truncated)?;
        pos += 1;
        match len & 0xC0 {
            0x00 => {}
            0xC0 => return Err(HipRdataError::CompressedName),
            // 0x40 / 0x80: extended label types (RFC 6891 §5), not names.
            _ => return Err(HipRdataError::BadName),
        }
        if len == 0 {
            break;
        }
        let end = pos + usize::from(len);
        let label = bytes.get(pos..end).ok_or(HipRdataError::Truncated)?;
        if !is_host_name_label(label) {
            return Err(HipRdataError::BadName);
        }
        labels.push(label);
        pos = end;
        if pos > MAX_NAME_WIRE_LEN {
            return Err(HipRdataError::BadName);
        }
    }
    if labels.is_empty() {
        // The root is no rendezvous server.
        return Err(HipRdataError::BadName);
    }
    let name = Name::from_labels(labels).map_err(|_| HipRdataError::BadName)?;
    Ok((name, pos))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 8005 §6 example, RDATA generated by dnspython 2.3.0 (an
    /// independent implementation):
    /// `python3 -c 'import dns.rdata, dns.rdataclass, dns.rdatatype; r = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.HIP, "2 200100107B1A74DF365639CC39F1D578 <key> rvs.example.com."); print(r.to_wire().hex())'`
    pub(crate) const RFC8005_RVS_HEX: &str = "10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e4303727673076578616d706c6503636f6d00";
    /// Same command without rendezvous server.
    pub(crate) const RFC8005_NO_RVS_HEX: &str = "10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e43";
    /// Same command with `rvs1.example.com. rvs2.example.com.`.
    pub(crate) const RFC8005_TWO_RVS_HEX: &str = "10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e430472767331076578616d706c6503636f6d000472767332076578616d706c6503636f6d00";

    const RFC8005_HIT: &str = "200100107b1a74df365639cc39f1d578";

    #[test]
    fn parses_rfc8005_example_with_one_rvs() {
        let bytes = hex::decode(RFC8005_RVS_HEX).unwrap();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.hit_length(), 16);
        assert_eq!(packet.pk_length(), 0x84);
        let rr = HipRdata::parse(&packet).unwrap();
        assert_eq!(rr.pk_algorithm, PkAlgorithm::Rsa);
        assert_eq!(hex::encode(&rr.hit), RFC8005_HIT);
        assert_eq!(rr.hit128().unwrap()[0..4], [0x20, 0x01, 0x00, 0x10]);
        // RFC 3110 RSA key: exponent length 3, exponent 0x010001.
        assert_eq!(rr.public_key[..4], [0x03, 0x01, 0x00, 0x01]);
        assert_eq!(rr.public_key.len(), 132);
        assert_eq!(rr.rendezvous_servers, vec![Name::from_ascii("rvs.example.com.").unwrap()]);
        assert_eq!(hex::encode(rr.to_bytes().unwrap()), RFC8005_RVS_HEX);
    }

    #[test]
    fn round_trips_zero_and_two_rvs() {
        for (hex_rdata, count) in [(RFC8005_NO_RVS_HEX, 0), (RFC8005_TWO_RVS_HEX, 2)] {
            let bytes = hex::decode(hex_rdata).unwrap();
            let rr = HipRdata::from_bytes(&bytes).unwrap();
            assert_eq!(rr.rendezvous_servers.len(), count);
            assert_eq!(rr.buffer_len(), bytes.len());
            assert_eq!(rr.to_bytes().unwrap(), bytes);
        }
        let rr = HipRdata::from_bytes(&hex::decode(RFC8005_TWO_RVS_HEX).unwrap()).unwrap();
        assert_eq!(rr.rendezvous_servers[1].to_ascii(), "rvs2.example.com.");
    }

    #[test]
    fn rejects_malformed_rdata() {
        let good = hex::decode(RFC8005_RVS_HEX).unwrap();
        // Shorter than the fixed header.
        assert_eq!(HipRdata::from_bytes(&good[..3]), Err(HipRdataError::Truncated));
        // Public key cut short.
        assert_eq!(HipRdata::from_bytes(&good[..100]), Err(HipRdataError::Truncated));
        // Name cut in the middle of a label.
        let cut = good.len() - 3;
        assert_eq!(HipRdata::from_bytes(&good[..cut]), Err(HipRdataError::Truncated));
        // Name without its root label.
        let cut = good.len() - 1;
        assert_eq!(HipRdata::from_bytes(&good[..cut]), Err(HipRdataError::Truncated));

        let mut bad = good.clone();
        bad[0] = 0;
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::EmptyHit));
        let mut bad = good.clone();
        bad[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::EmptyPublicKey));
        let mut bad = good.clone();
        bad[1] = 0;
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::NoKeyAlgorithm));

        // A compression pointer where the rendezvous server name starts.
        let rvs_start = 4 + 16 + 132;
        let mut bad = good[..rvs_start].to_vec();
        bad.extend_from_slice(&[0xC0, 0x0C]);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::CompressedName));
        // Extended label type.
        let mut bad = good[..rvs_start].to_vec();
        bad.extend_from_slice(&[0x41, 0x00]);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::BadName));
        // A label starting with a hyphen.
        let mut bad = good[..rvs_start].to_vec();
        bad.extend_from_slice(&[2, b'-', b'a', 0]);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::BadName));
        // A label byte no host name has.
        let mut bad = good[..rvs_start].to_vec();
        bad.extend_from_slice(&[3, b'a', b'(', 0, 0]);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::BadName));
        // The root name as rendezvous server.
        let mut bad = good[..rvs_start].to_vec();
        bad.push(0);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::BadName));
        // A name longer than 255 bytes: five 63-byte labels.
        let mut bad = good[..rvs_start].to_vec();
        for _ in 0..5 {
            bad.push(63);
            bad.extend_from_slice(&[b'a'; 63]);
        }
        bad.push(0);
        assert_eq!(HipRdata::from_bytes(&bad), Err(HipRdataError::BadName));
    }

    #[test]
    fn unknown_algorithm_round_trips() {
        let mut bytes = hex::decode(RFC8005_NO_RVS_HEX).unwrap();
        bytes[1] = 200;
        let rr = HipRdata::from_bytes(&bytes).unwrap();
        assert_eq!(rr.pk_algorithm, PkAlgorithm::Unassigned(200));
        assert_eq!(rr.to_bytes().unwrap(), bytes);
        for code in 1..=4u8 {
            assert_eq!(u8::from(PkAlgorithm::from(code)), code);
        }
        assert_eq!(PkAlgorithm::from(3), PkAlgorithm::Ecdsa);
        assert_eq!(PkAlgorithm::from(4), PkAlgorithm::EdDsa);
    }

    #[test]
    fn emit_checks_lengths_and_buffer() {
        let rr = HipRdata::from_bytes(&hex::decode(RFC8005_RVS_HEX).unwrap()).unwrap();
        let mut small = vec![0u8; rr.buffer_len() - 1];
        assert_eq!(rr.emit(&mut Packet::new_unchecked(&mut small[..])), Err(HipRdataError::BufferTooSmall));
        let mut long_hit = rr.clone();
        long_hit.hit = vec![1; 256];
        assert_eq!(long_hit.to_bytes(), Err(HipRdataError::HitTooLong));
        let mut no_key = rr;
        no_key.public_key.clear();
        assert_eq!(no_key.to_bytes(), Err(HipRdataError::EmptyPublicKey));
    }
}
