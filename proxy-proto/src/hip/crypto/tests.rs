//! Cross-module tests: the third-party HIPv2 captures (cutehip, see
//! tests/data/hip/thirdparty/vectors.txt), generation and round trips.

use super::*;
use core::net::Ipv6Addr;

const VECTORS: &str = include_str!("../../../tests/data/hip/thirdparty/vectors.txt");

fn vector(name: &str) -> &'static str {
    VECTORS
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no vector {name}"))
}

fn vector_hex(name: &str) -> Vec<u8> {
    hex::decode(vector(name)).unwrap()
}

fn vector_hit(name: &str) -> Hit {
    Hit::from(vector(name).parse::<Ipv6Addr>().unwrap())
}

fn pem(run: &str, host: &str, file: &str) -> &'static str {
    match (run, host, file) {
        ("rsa", "A", "public") => {
            include_str!("../../../tests/data/hip/thirdparty/rsa/A/public.pem")
        }
        ("rsa", "B", "public") => {
            include_str!("../../../tests/data/hip/thirdparty/rsa/B/public.pem")
        }
        ("ecdsa", "A", "public") => {
            include_str!("../../../tests/data/hip/thirdparty/ecdsa/A/public.pem")
        }
        ("ecdsa", "B", "public") => {
            include_str!("../../../tests/data/hip/thirdparty/ecdsa/B/public.pem")
        }
        ("rsa", "A", "private") => {
            include_str!("../../../tests/data/hip/thirdparty/rsa/A/private.pem")
        }
        ("rsa", "B", "private") => {
            include_str!("../../../tests/data/hip/thirdparty/rsa/B/private.pem")
        }
        ("ecdsa", "A", "private") => {
            include_str!("../../../tests/data/hip/thirdparty/ecdsa/A/private.pem")
        }
        ("ecdsa", "B", "private") => {
            include_str!("../../../tests/data/hip/thirdparty/ecdsa/B/private.pem")
        }
        _ => unreachable!(),
    }
}

/// Walks the parameters of a HIP packet (RFC 7401 Section 5.2.1):
/// (type, value, offset of the parameter).
fn params(packet: &[u8]) -> Vec<(u16, &[u8], usize)> {
    let end = (usize::from(packet[1]) + 1) * 8;
    let mut off = 40;
    let mut out = Vec::new();
    while off + 4 <= end {
        let t = u16::from_be_bytes([packet[off], packet[off + 1]]);
        let l = usize::from(u16::from_be_bytes([packet[off + 2], packet[off + 3]]));
        out.push((t, &packet[off + 4..off + 4 + l], off));
        off += (4 + l).div_ceil(8) * 8;
    }
    out
}

fn param(packet: &[u8], ty: u16) -> (&[u8], usize) {
    params(packet).into_iter().find(|p| p.0 == ty).map(|p| (p.1, p.2)).unwrap()
}

/// The bytes a HIP_MAC or HIP_SIGNATURE covers (RFC 7401 Sections 5.2.12,
/// 5.2.14): the packet up to the parameter, header length set to that
/// length, checksum zeroed.
fn covered(packet: &[u8], upto: usize) -> Vec<u8> {
    let mut b = packet[..upto].to_vec();
    b[1] = u8::try_from(upto / 8 - 1).unwrap();
    b[4] = 0;
    b[5] = 0;
    b
}

const HOST_ID: u16 = 705;
const SOLUTION: u16 = 321;
const HIP_MAC: u16 = 61505;
const HIP_SIGNATURE: u16 = 61697;

/// KEY TEST: the HITs derived from the third-party public keys equal the
/// HITs the implementation used. The ECDSA run is P-384 with HIT suite 2
/// (ECDSA/SHA-384, OGA ID 2 in 2001:22::/32).
#[test]
fn thirdparty_hits_from_public_pem() {
    for run in ["rsa", "ecdsa"] {
        for (host, hit) in [("A", "hit_a"), ("B", "hit_b")] {
            let public = HostIdPublic::from_spki_pem(pem(run, host, "public")).unwrap();
            let expected = vector_hit(&format!("{run}.{hit}"));
            assert_eq!(Hit::from_host_id(&public).unwrap(), expected, "{run} {host}");
            assert!(expected.is_orchid());
            assert_eq!(expected.oga_id(), if run == "rsa" { 1 } else { 2 });
            // The private keys give the same public HI.
            let private = HostIdentity::from_pem(pem(run, host, "private")).unwrap();
            assert_eq!(private.public(), public);
        }
    }
    let ecdsa = HostIdPublic::from_spki_pem(pem("ecdsa", "A", "public")).unwrap();
    assert!(matches!(ecdsa, HostIdPublic::Ecdsa { curve: EcdsaCurve::P384, .. }));
}

/// The HOST_ID parameters on the wire hold exactly our encoding, and
/// decoding them gives back the keys from the PEM files.
#[test]
fn thirdparty_host_id_parameters_match_encoding() {
    for run in ["rsa", "ecdsa"] {
        let i2 = vector_hex(&format!("{run}.i2"));
        let (host_id, _) = param(&i2, HOST_ID);
        let hi_len = usize::from(u16::from_be_bytes([host_id[0], host_id[1]]));
        let algorithm = u16::from_be_bytes([host_id[4], host_id[5]]);
        let hi = &host_id[6..6 + hi_len];
        let public = HostIdPublic::from_spki_pem(pem(run, "A", "public")).unwrap();
        assert_eq!(algorithm, public.algorithm() as u16);
        assert_eq!(hi, &public.to_host_identity()[..], "{run}");
        assert_eq!(HostIdPublic::from_host_identity(algorithm, hi).unwrap(), public);
        assert_eq!(Hit::from_host_identity(public.hit_suite().unwrap(), hi), vector_hit(&format!("{run}.hit_a")));
    }
}

struct Run {
    suite: HitSuite,
    keymat: Keymat,
    hit_a: Hit,
    hit_b: Hit,
}

/// KEY TEST input: KEYMAT from the logged Kij, the HITs, and I and J from
/// the I2's SOLUTION parameter (#K, lifetime, opaque, #I, #J).
fn run(name: &str) -> Run {
    let suite = if name == "rsa" { HitSuite::RsaDsaSha256 } else { HitSuite::EcdsaSha384 };
    let i2 = vector_hex(&format!("{name}.i2"));
    let (solution, _) = param(&i2, SOLUTION);
    let n = suite.rhash_len();
    assert_eq!(solution.len(), 4 + 2 * n);
    let (i, j) = (&solution[4..4 + n], &solution[4 + n..]);
    let hit_a = vector_hit(&format!("{name}.hit_a"));
    let hit_b = vector_hit(&format!("{name}.hit_b"));
    // Both hosts logged the same Kij.
    assert_eq!(vector(&format!("{name}.A.kij")), vector(&format!("{name}.B.kij")));
    let kij = vector_hex(&format!("{name}.A.kij"));
    let keymat = Keymat::derive(suite, &kij, &hit_b, &hit_a, i, j).unwrap();
    Run { suite, keymat, hit_a, hit_b }
}

/// KEY TEST: re-derive the logged ESP keys. Both runs negotiated HIP_CIPHER
/// AES-256-CBC and ESP transform 9 (AES-256-CBC, HMAC-SHA-256: 32 + 32 octets).
#[test]
fn thirdparty_keymat_reproduces_logged_esp_keys() {
    for name in ["rsa", "ecdsa"] {
        for (host, ours, peer) in [("A", true, false), ("B", false, true)] {
            let mut r = run(name);
            let (our_hit, peer_hit) = if ours { (r.hit_a, r.hit_b) } else { (r.hit_b, r.hit_a) };
            let _ = peer;
            HipKeys::draw(&mut r.keymat, r.suite, HipCipher::Aes256Cbc, &our_hit, &peer_hit).unwrap();
            assert_eq!(r.keymat.index(), 2 * (32 + r.suite.rhash_len()));
            let esp = EspKeyPair::draw(&mut r.keymat, 32, 32, &our_hit, &peer_hit).unwrap();
            assert_eq!(hex::encode(&*esp.outbound.encryption), vector(&format!("{name}.{host}.esp_out_enc")));
            assert_eq!(hex::encode(&*esp.outbound.authentication), vector(&format!("{name}.{host}.esp_out_auth")));
            // Each host's inbound keys are the other's outbound keys.
            let other = if host == "A" { "B" } else { "A" };
            assert_eq!(hex::encode(&*esp.inbound.encryption), vector(&format!("{name}.{other}.esp_out_enc")));
        }
    }
}

/// The HIP_MACs of the UPDATE packets verify with the HIP integrity key of
/// the sender's direction (greater-to-lesser = gl), and fail with the other.
#[test]
fn thirdparty_update_hip_macs_verify() {
    for name in ["rsa", "ecdsa"] {
        for (packet, sender_is_a) in [("update_from_a", true), ("update_from_b", false)] {
            let mut r = run(name);
            let (our, peer) = if sender_is_a { (r.hit_a, r.hit_b) } else { (r.hit_b, r.hit_a) };
            let keys = HipKeys::draw(&mut r.keymat, r.suite, HipCipher::Aes256Cbc, &our, &peer).unwrap();
            let update = vector_hex(&format!("{name}.{packet}"));
            let (received, offset) = param(&update, HIP_MAC);
            let data = covered(&update, offset);
            assert_eq!(received.len(), r.suite.rhash_len());
            mac::verify(r.suite, &keys.outbound.integrity, &data, received).unwrap();
            assert_eq!(mac::compute(r.suite, &keys.outbound.integrity, &data), received);
            assert_eq!(mac::verify(r.suite, &keys.inbound.integrity, &data, received), Err(CryptoError::BadMac));
            let mut tampered = data.clone();
            tampered[45] ^= 1;
            assert_eq!(mac::verify(r.suite, &keys.outbound.integrity, &tampered, received), Err(CryptoError::BadMac));
        }
    }
}

/// cutehip departs from RFC 7401 in its I2 only: the Initiator (lesser HIT)
/// MACs the I2 with the HIP-gl key. Recorded here so the departure is known.
#[test]
fn thirdparty_i2_hip_mac_uses_the_gl_key() {
    let mut r = run("rsa");
    let keys = HipKeys::draw(&mut r.keymat, r.suite, HipCipher::Aes256Cbc, &r.hit_a, &r.hit_b).unwrap();
    let i2 = vector_hex("rsa.i2");
    let (received, offset) = param(&i2, HIP_MAC);
    let data = covered(&i2, offset);
    assert!(r.hit_a < r.hit_b);
    assert_eq!(mac::verify(r.suite, &keys.inbound.integrity, &data, received), Ok(()));
    assert_eq!(mac::verify(r.suite, &keys.outbound.integrity, &data, received), Err(CryptoError::BadMac));
}

/// HIP_SIGNATURE of real packets: ECDSA P-384 (r || s, SHA-384) verifies as
/// RFC 7401 specifies; cutehip's RSA signatures are RSASSA-PSS/SHA-256, not
/// the RFC's PKCS#1 v1.5, so they verify only with the interop padding.
#[test]
fn thirdparty_signatures_verify() {
    for (name, packet, signer) in [
        ("ecdsa", "i2", "A"),
        ("ecdsa", "update_from_a", "A"),
        ("ecdsa", "update_from_b", "B"),
        ("rsa", "i2", "A"),
        ("rsa", "update_from_b", "B"),
    ] {
        let public = HostIdPublic::from_spki_pem(pem(name, signer, "public")).unwrap();
        let bytes = vector_hex(&format!("{name}.{packet}"));
        let (sig_param, offset) = param(&bytes, HIP_SIGNATURE);
        let algorithm = u16::from_be_bytes([sig_param[0], sig_param[1]]);
        assert_eq!(algorithm, public.algorithm() as u16);
        let data = covered(&bytes, offset);
        let sig = &sig_param[2..];
        if name == "rsa" {
            assert_eq!(public.verify(&data, sig), Err(CryptoError::BadSignature));
            public.verify_with(RsaPadding::PssSha256, &data, sig).unwrap();
        } else {
            assert_eq!(sig.len(), 96);
            public.verify(&data, sig).unwrap();
        }
        let mut tampered = data.clone();
        tampered[9] ^= 1;
        assert_eq!(public.verify_with(RsaPadding::PssSha256, &tampered, sig), Err(CryptoError::BadSignature));
    }
}

/// cutehip hashes I | HIT-R | HIT-I | J, not RFC 7401's I | HIT-I | HIT-R | J:
/// its solutions (K = 16) verify only with the HITs swapped.
#[test]
fn thirdparty_puzzle_solution_has_swapped_hits() {
    for name in ["rsa", "ecdsa"] {
        let suite = if name == "rsa" { HitSuite::RsaDsaSha256 } else { HitSuite::EcdsaSha384 };
        let i2 = vector_hex(&format!("{name}.i2"));
        let (solution, _) = param(&i2, SOLUTION);
        let n = suite.rhash_len();
        let (k, i, j) = (solution[0], &solution[4..4 + n], &solution[4 + n..]);
        assert_eq!(k, 16);
        let hit_i = vector_hit(&format!("{name}.hit_a"));
        let hit_r = vector_hit(&format!("{name}.hit_b"));
        assert_eq!(puzzle::verify(suite, i, &hit_r, &hit_i, k, j), Ok(()));
        assert_eq!(puzzle::verify(suite, i, &hit_i, &hit_r, k, j), Err(CryptoError::BadPuzzleSolution));
    }
}

/// ECDH over P-256 as in the capture: our public value is X || Y (64
/// octets), the peer's R1 value is accepted and both sides agree.
#[test]
fn thirdparty_r1_dh_public_value_accepted() {
    let r1 = vector_hex("rsa.r1");
    let (dh, _) = param(&r1, 513);
    assert_eq!(dh[0], DhGroupId::NistP256.id());
    let len = usize::from(u16::from_be_bytes([dh[1], dh[2]]));
    let peer = &dh[3..3 + len];
    let mut counter = 1u8;
    let mut rng = |buf: &mut [u8]| {
        buf.fill(counter);
        counter += 1;
    };
    let ours = DhKeyPair::generate(DhGroupId::NistP256, &mut rng).unwrap();
    assert_eq!(ours.shared_secret(peer).unwrap().len(), 32);
    let mut off_curve = peer.to_vec();
    off_curve[63] ^= 1;
    assert_eq!(ours.shared_secret(&off_curve).unwrap_err(), CryptoError::InvalidDhPublicValue);
}

/// RFC 5903 Section 8.1: ECDH P-256 with fixed private keys.
#[test]
fn ecdh_p256_rfc5903_known_answer() {
    let i = hex::decode("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433").unwrap();
    let gix = "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180";
    let giy = "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
    let grx = "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63";
    let gry = "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB";
    let girx = "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE";
    let mut fixed = |buf: &mut [u8]| buf.copy_from_slice(&i);
    let initiator = DhKeyPair::generate(DhGroupId::NistP256, &mut fixed).unwrap();
    assert_eq!(hex::encode_upper(initiator.public_value()), format!("{gix}{giy}"));
    let responder_public = hex::decode(format!("{grx}{gry}")).unwrap();
    let kij = initiator.shared_secret(&responder_public).unwrap();
    assert_eq!(hex::encode_upper(&*kij), girx);
}

#[test]
fn dh_every_group_agrees_and_rejects_bad_lengths() {
    // A deterministic test RNG: SHA-256 of a counter.
    let mut counter = 0u64;
    let mut rng = move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(32) {
            counter += 1;
            let block = HitSuite::RsaDsaSha256.rhash(&[&counter.to_be_bytes()]);
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
    };
    for group in [
        DhGroupId::Modp1536,
        DhGroupId::Modp2048,
        DhGroupId::Modp3072,
        DhGroupId::NistP256,
        DhGroupId::NistP384,
        DhGroupId::NistP521,
    ] {
        let a = DhKeyPair::generate(group, &mut rng).unwrap();
        let b = DhKeyPair::generate(group, &mut rng).unwrap();
        assert_eq!(a.public_value().len(), group.public_value_len());
        let ka = a.shared_secret(b.public_value()).unwrap();
        let kb = b.shared_secret(a.public_value()).unwrap();
        assert_eq!(*ka, *kb, "{group:?}");
        assert_ne!(a.public_value(), b.public_value());
        let short = &b.public_value()[1..];
        assert_eq!(a.shared_secret(short).unwrap_err(), CryptoError::InvalidDhPublicValue);
        assert_eq!(DhGroupId::from_u8(group.id()), Ok(group));
    }
    assert_eq!(DhGroupId::from_u8(10), Err(CryptoError::UnsupportedDhGroup(10)));
    assert_eq!(CryptoError::InvalidDhPublicValue.notify_code(), Some(15));
}

#[test]
fn dh_group_negotiation() {
    let ours = DhGroupPreference(vec![DhGroupId::NistP384, DhGroupId::NistP256, DhGroupId::Modp2048]);
    // Responder: first of its own list that the Initiator offered.
    assert_eq!(ours.select_as_responder(&[11, 7]), Ok(DhGroupId::NistP256));
    assert_eq!(ours.select_as_responder(&[3, 10]), Err(CryptoError::NoDhProposalChosen));
    // Initiator: the group R1 must carry is the first of R1's list we support.
    assert_eq!(ours.expected_from_r1(&[10, 11, 7]), Ok(DhGroupId::Modp2048));
    assert_eq!(ours.expected_from_r1(&[200, 3]), Err(CryptoError::NoDhProposalChosen));
    assert_eq!(ours.to_list(), vec![8, 7, 11]);
}

#[test]
fn generate_sign_verify_pem_round_trip_every_algorithm() {
    for kind in [HostIdKind::Rsa2048, HostIdKind::EcdsaP256, HostIdKind::EcdsaP384, HostIdKind::Ed25519] {
        let identity = HostIdentity::generate(kind).unwrap();
        let public = identity.public();
        let msg = b"HIP packet up to HIP_SIGNATURE";
        let sig = identity.sign(msg).unwrap();
        public.verify(msg, &sig).unwrap();
        assert_eq!(public.verify(b"HIP packet up to HIP_SIGNATURF", &sig), Err(CryptoError::BadSignature));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert_eq!(public.verify(msg, &bad), Err(CryptoError::BadSignature));
        let sig_len = match kind {
            HostIdKind::Rsa2048 => 256,
            HostIdKind::EcdsaP256 | HostIdKind::Ed25519 => 64,
            _ => 96,
        };
        assert_eq!(sig.len(), sig_len);

        // PKCS#8 PEM round trip keeps the key.
        let pem_text = identity.to_pkcs8_pem().unwrap();
        assert!(pem_text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let loaded = HostIdentity::from_pem(&pem_text).unwrap();
        assert_eq!(loaded.public(), public);
        public.verify(msg, &loaded.sign(msg).unwrap()).unwrap();

        // HOST_ID round trip.
        let hi = public.to_host_identity();
        let decoded = HostIdPublic::from_host_identity(public.algorithm() as u16, &hi).unwrap();
        assert_eq!(decoded, public);
        for n in 0..hi.len() {
            assert!(
                HostIdPublic::from_host_identity(public.algorithm() as u16, &hi[..n]).is_err()
                    || kind == HostIdKind::Rsa2048
            );
        }
        let hit = Hit::from_host_id(&public).unwrap();
        assert!(hit.is_orchid() && hit.matches(&public));
    }
}

#[test]
fn host_id_encodings_and_malformed_input() {
    // RFC 3110: a 3-octet exponent has a 1-octet length.
    let rsa = HostIdPublic::from_rsa_components(&[0, 1, 0, 1], &[0xc5; 256]).unwrap();
    let hi = rsa.to_host_identity();
    assert_eq!(&hi[..4], &[3, 1, 0, 1]);
    assert_eq!(hi.len(), 4 + 256);
    // A 256-octet exponent takes the 0, 2-octet-length form.
    let big = HostIdPublic::from_rsa_components(&[1; 256], &[0xc5; 256]).unwrap();
    let hi = big.to_host_identity();
    assert_eq!(&hi[..3], &[0, 1, 0]);
    assert_eq!(HostIdPublic::from_host_identity(5, &hi).unwrap(), big);
    // Truncations and unknown algorithms and curves are typed errors.
    assert_eq!(HostIdPublic::from_host_identity(5, &[]), Err(CryptoError::MalformedHostId));
    assert_eq!(HostIdPublic::from_host_identity(5, &[0, 1]), Err(CryptoError::MalformedHostId));
    assert_eq!(HostIdPublic::from_host_identity(5, &[4, 1, 0, 1]), Err(CryptoError::MalformedHostId));
    assert_eq!(HostIdPublic::from_host_identity(5, &[3, 1, 0, 1]), Err(CryptoError::MalformedHostId));
    assert_eq!(HostIdPublic::from_host_identity(3, &[0; 20]), Err(CryptoError::UnsupportedHiAlgorithm(3)));
    assert_eq!(HostIdPublic::from_host_identity(9, &[0; 20]), Err(CryptoError::UnsupportedHiAlgorithm(9)));
    assert_eq!(HostIdPublic::from_host_identity(7, &[0, 3, 4]), Err(CryptoError::UnsupportedCurve(3)));
    assert_eq!(HostIdPublic::from_host_identity(7, &[0, 1, 4, 0]), Err(CryptoError::MalformedHostId));
    let mut not_on_curve = vec![0, 1, 4];
    not_on_curve.extend_from_slice(&[1; 64]);
    assert_eq!(HostIdPublic::from_host_identity(7, &not_on_curve), Err(CryptoError::KeyRejected));
    assert_eq!(HostIdPublic::from_host_identity(13, &[0, 2]), Err(CryptoError::UnsupportedCurve(2)));
    assert_eq!(HostIdPublic::from_host_identity(13, &[0, 1, 0]), Err(CryptoError::MalformedHostId));
    assert_eq!(HostIdPublic::from_spki_pem("not pem"), Err(CryptoError::MalformedPem));
    assert_eq!(HostIdentity::from_pem(pem("rsa", "A", "public")).unwrap_err(), CryptoError::MalformedPem);
}

#[test]
fn ecdsa_points_without_the_0x04_octet_are_accepted() {
    let public = HostIdPublic::from_spki_pem(pem("ecdsa", "B", "public")).unwrap();
    let hi = public.to_host_identity();
    assert_eq!(hi.len(), 2 + 97);
    assert_eq!(hi[2], 0x04);
    let mut without = hi[..2].to_vec();
    without.extend_from_slice(&hi[3..]);
    assert_eq!(HostIdPublic::from_host_identity(7, &without).unwrap(), public);
}

#[test]
fn keymat_draw_order_and_exhaustion() {
    let a = Hit([0x20, 0x01, 0x00, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let b = Hit([0x20, 0x01, 0x00, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let suite = HitSuite::RsaDsaSha256;
    let derive = || Keymat::derive(suite, &[7; 32], &a, &b, &[1; 32], &[2; 32]).unwrap();
    // The HIT order passed in does not matter.
    let mut m1 = derive();
    let mut m2 = Keymat::derive(suite, &[7; 32], &b, &a, &[1; 32], &[2; 32]).unwrap();
    let all = m1.draw(160).unwrap();
    assert_eq!(*all, *m2.draw(160).unwrap());
    // RFC 5869 HKDF with salt I | J and info sort(HIT-I | HIT-R): first block.
    let mut info = a.0.to_vec();
    info.extend_from_slice(&b.0);
    let prk = mac::compute(suite, &[[1u8; 32], [2u8; 32]].concat(), &[7; 32]);
    let t1 = mac::compute(suite, &prk, &[info, vec![1]].concat());
    assert_eq!(&all[..32], &t1[..]);
    // Host a (lesser HIT) sends with the lg keys, b with the gl keys.
    let mut ma = derive();
    let ka = HipKeys::draw(&mut ma, suite, HipCipher::Aes128Cbc, &a, &b).unwrap();
    let mut mb = derive();
    let kb = HipKeys::draw(&mut mb, suite, HipCipher::Aes128Cbc, &b, &a).unwrap();
    assert_eq!(&*kb.outbound.encryption, &all[0..16]);
    assert_eq!(&*kb.outbound.integrity, &all[16..48]);
    assert_eq!(&*ka.outbound.encryption, &all[48..64]);
    assert_eq!(&*ka.outbound.integrity, &all[64..96]);
    assert_eq!(*ka.inbound.integrity, *kb.outbound.integrity);
    assert_eq!(ma.index(), 96);
    let esp = EspKeyPair::draw(&mut ma, 16, 32, &a, &b).unwrap();
    assert_eq!(&*esp.inbound.encryption, &all[96..112]);
    assert_eq!(&*esp.outbound.encryption, &all[144..160]);
    assert_eq!(ma.index(), 192);
    // 255 blocks of SHA-256 output, then exhausted.
    assert_eq!(ma.set_index(255 * 32), Ok(()));
    assert_eq!(ma.draw(1).unwrap_err(), CryptoError::KeymatExhausted);
    assert_eq!(ma.set_index(255 * 32 + 1), Err(CryptoError::KeymatExhausted));
}

/// HIP_SIGNATURE_2 of the real R1s (RFC 7401 Section 5.2.15): signed with
/// the Receiver's HIT, the PUZZLE's Opaque and #I zeroed, besides the usual
/// checksum and header length. Shows the daemon's wire layer which bytes to feed.
#[test]
fn thirdparty_r1_signature_2_verifies() {
    const PUZZLE: u16 = 257;
    const HIP_SIGNATURE_2: u16 = 61633;
    for name in ["ecdsa", "rsa"] {
        let public = HostIdPublic::from_spki_pem(pem(name, "B", "public")).unwrap();
        let r1 = vector_hex(&format!("{name}.r1"));
        let (sig_param, sig_offset) = param(&r1, HIP_SIGNATURE_2);
        let (puzzle_value, puzzle_offset) = param(&r1, PUZZLE);
        let mut data = covered(&r1, sig_offset);
        data[24..40].fill(0);
        // PUZZLE value: #K, Lifetime, Opaque (2), #I.
        let value = puzzle_offset + 4;
        data[value + 2..value + puzzle_value.len()].fill(0);
        let sig = &sig_param[2..];
        let result = if name == "rsa" {
            public.verify_with(RsaPadding::PssSha256, &data, sig)
        } else {
            public.verify(&data, sig)
        };
        assert_eq!(result, Ok(()), "{name}");
        // Without zeroing #I the signature does not verify.
        let unzeroed = covered(&r1, sig_offset);
        assert_eq!(public.verify_with(RsaPadding::PssSha256, &unzeroed, sig), Err(CryptoError::BadSignature));
    }
}
