//! EdDSA Ed25519 Host Identities and HIT suite 5 EdDSA/cSHAKE128 (RFC 9374).
//!
//! RFC 9374 publishes no HI-to-HIT vector, so the expected HITs, DET and
//! KEYMAT below were recomputed independently with PyCryptodome 3.x
//! (`Crypto.Hash.cSHAKE128` / `KMAC128`), from the RFC 8032 Section 7.1
//! TEST 1 public key; the signature is RFC 8032's own vector.

use super::keccak::RHASH_LEN;
use super::*;

/// RFC 8032 Section 7.1, TEST 1.
const RFC8032_PK: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

fn rfc8032_hi() -> HostIdPublic {
    let key: [u8; 32] = hex::decode(RFC8032_PK).unwrap().try_into().unwrap();
    HostIdPublic::Ed25519(key)
}

#[test]
fn ed25519_host_identity_field_and_signature() {
    let hi = rfc8032_hi();
    // EdDSA Curve 1 (Ed25519) then the key (RFC 9374 Section 3.4.1.1).
    let field = hi.to_host_identity();
    assert_eq!(hex::encode(&field), format!("0001{RFC8032_PK}"));
    assert_eq!(HostIdPublic::from_host_identity(13, &field), Ok(hi.clone()));
    assert_eq!(HostIdPublic::from_host_identity(13, &field[..33]), Err(CryptoError::MalformedHostId));
    assert_eq!(
        HostIdPublic::from_host_identity(13, &[&[0, 3][..], &field[2..]].concat()),
        Err(CryptoError::UnsupportedCurve(3))
    );
    let sig = hex::decode(RFC8032_SIG).unwrap();
    assert_eq!(hi.verify(b"", &sig), Ok(()));
    assert_eq!(hi.verify(b"x", &sig), Err(CryptoError::BadSignature));
}

/// HIPv2 HIT of suite 5 (RFC 9374 Section 3.5.2.1): 2001:20::/28 | 5 |
/// cSHAKE128(HI, 96, "", HIP Context ID).
#[test]
fn ed25519_hit_known_answer() {
    let hi = rfc8032_hi();
    assert_eq!(hi.hit_suite(), Ok(HitSuite::EddsaCshake128));
    let hit = Hit::from_host_id(&hi).unwrap();
    assert_eq!(hex::encode(hit.0), "20010025c83a4fb5fb32ec312588deac");
    assert_eq!(hit.oga_id(), 5);
    assert!(hit.is_orchid() && hit.matches(&hi));
}

/// DET (RFC 9374 Sections 3, 3.5.2): RAA 10, HDA 20 give the upper 64 bits
/// of the RFC's Section 5 example, 2001:30:280:1405.
#[test]
fn ed25519_hhit_known_answer_and_errors() {
    let hi = rfc8032_hi();
    let det = Hit::hhit(&hi, 10, 20).unwrap();
    assert_eq!(det.to_ipv6().segments()[..4], [0x2001, 0x30, 0x280, 0x1405]);
    assert_eq!(hex::encode(det.0), "20010030028014057d770e47abbec14f");
    assert_eq!(Hit::hhit(&hi, 16384, 0), Err(CryptoError::InvalidHierarchyId));
    assert_eq!(Hit::hhit(&hi, 0, 16384), Err(CryptoError::InvalidHierarchyId));
    let ecdsa = HostIdentity::generate(HostIdKind::EcdsaP256).unwrap().public();
    assert_eq!(Hit::hhit(&ecdsa, 1, 1), Err(CryptoError::UnsupportedHitSuite(2)));
    // The hierarchy is bound into the hash, not only written in front of it.
    assert_ne!(Hit::hhit(&hi, 10, 21).unwrap().0[8..], det.0[8..]);
}

/// KEYMAT of suite 5: HKDF with KMAC128 (RFC 7401 Section 6.5 with the
/// suite's MAC, RFC 9374 Table 7).
#[test]
fn eddsa_keymat_known_answer() {
    let (a, b) = (Hit([0x21; 16]), Hit([0x20; 16]));
    let mut k = Keymat::derive(HitSuite::EddsaCshake128, &[9; 48], &a, &b, &[1; 32], &[2; 32]).unwrap();
    assert_eq!(
        hex::encode(&*k.draw(64).unwrap()),
        "eda41977b4062afcc78f22898eeec1976782d6551577ec9e3e35a1d9b81a8978\
         82e90951178ff6002e6a6a31a6020cbb82599612d9b8737fc2f9e4d7cf47f896"
    );
    assert_eq!(HitSuite::EddsaCshake128.rhash_len(), RHASH_LEN);
}

/// Generated Ed25519 identities sign, verify, round-trip through PEM and
/// derive the same HIT from the re-parsed HOST_ID.
#[test]
fn ed25519_identity_round_trip() {
    let id = HostIdentity::generate(HostIdKind::Ed25519).unwrap();
    let back = HostIdentity::from_pem(&id.to_pkcs8_pem().unwrap()).unwrap();
    assert_eq!(back.public(), id.public());
    let sig = id.sign(b"I2").unwrap();
    assert_eq!(sig.len(), 64);
    let field = id.public().to_host_identity();
    let parsed = HostIdPublic::from_host_identity(13, &field).unwrap();
    assert_eq!(parsed.verify(b"I2", &sig), Ok(()));
    assert_eq!(Hit::from_host_id(&parsed), Hit::from_host_id(&id.public()));
}
