//! Just enough DER to take a SubjectPublicKeyInfo (RFC 5280 Section 4.1) apart:
//! the algorithm OIDs and the subjectPublicKey bits. Every read is length
//! checked; this parser sees files the operator hands us.

use super::CryptoError;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;
const TAG_BIT_STRING: u8 = 0x03;

/// rsaEncryption, 1.2.840.113549.1.1.1.
pub(crate) const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1.
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (NIST P-256), 1.2.840.10045.3.1.7.
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (NIST P-384), 1.3.132.0.34.
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519, 1.3.101.112 (RFC 8410).
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The parts of a SubjectPublicKeyInfo we use.
pub(crate) struct Spki<'a> {
    pub algorithm: &'a [u8],
    pub parameter: Option<&'a [u8]>,
    pub public_key: &'a [u8],
}

/// Splits one TLV off `input`: (tag, value, rest).
fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), CryptoError> {
    let (&tag, rest) = input.split_first().ok_or(CryptoError::KeyRejected)?;
    let (&first, rest) = rest.split_first().ok_or(CryptoError::KeyRejected)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 2 || rest.len() < n {
            return Err(CryptoError::KeyRejected);
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return Err(CryptoError::KeyRejected);
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CryptoError> {
    let (t, value, rest) = read_tlv(input)?;
    if t == tag { Ok((value, rest)) } else { Err(CryptoError::KeyRejected) }
}

/// Parses a DER SubjectPublicKeyInfo.
pub(crate) fn parse_spki(der: &[u8]) -> Result<Spki<'_>, CryptoError> {
    let (spki, trailing) = expect(der, TAG_SEQUENCE)?;
    if !trailing.is_empty() {
        return Err(CryptoError::KeyRejected);
    }
    let (alg_id, rest) = expect(spki, TAG_SEQUENCE)?;
    let (algorithm, params) = expect(alg_id, TAG_OID)?;
    // The parameter is an OID for EC keys, NULL for RSA and absent for Ed25519.
    let parameter = match read_tlv(params) {
        Ok((TAG_OID, oid, _)) => Some(oid),
        _ => None,
    };
    let (bits, rest) = expect(rest, TAG_BIT_STRING)?;
    if !rest.is_empty() {
        return Err(CryptoError::KeyRejected);
    }
    // The first octet of a BIT STRING counts the unused bits: keys use whole octets.
    match bits.split_first() {
        Some((0, public_key)) => Ok(Spki { algorithm, parameter, public_key }),
        _ => Err(CryptoError::KeyRejected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_wrong_tags() {
        assert!(parse_spki(&[]).is_err());
        assert!(parse_spki(&[0x30]).is_err());
        assert!(parse_spki(&[0x30, 0x05, 0x00]).is_err());
        assert!(parse_spki(&[0x31, 0x00]).is_err());
        assert!(parse_spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Every prefix of a valid Ed25519 SPKI is rejected, the whole parses.
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(&[7u8; 32]);
        for n in 0..spki.len() {
            assert!(parse_spki(&spki[..n]).is_err(), "prefix {n}");
        }
        let parsed = parse_spki(&spki).unwrap();
        assert_eq!(parsed.algorithm, OID_ED25519);
        assert_eq!(parsed.parameter, None);
        assert_eq!(parsed.public_key, &[7u8; 32]);
    }
}
