//! The crypto of a whole HIPv2 base exchange (RFC 7401 Section 4.1) through
//! the public API of `proxy_proto::hip::crypto`, as the daemon will drive it:
//! both sides must end up with the same keys, and every check must reject
//! tampering with a typed error.

use proxy_proto::hip::crypto::{
    CryptoError, DhGroupId, DhGroupPreference, DhKeyPair, EspKeyPair, HipCipher, HipKeys, Hit, HitSuite, HostIdKind,
    HostIdPublic, HostIdentity, Keymat, mac, puzzle,
};

/// Deterministic test randomness: SHA-256 of a label and a counter.
fn test_rng(label: u8) -> impl FnMut(&mut [u8]) {
    let mut counter = 0u64;
    move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(32) {
            counter += 1;
            let block = HitSuite::RsaDsaSha256.rhash(&[&[label], &counter.to_be_bytes()]);
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
    }
}

#[test]
fn base_exchange_keys_agree() {
    let initiator_id = HostIdentity::generate(HostIdKind::EcdsaP384).unwrap();
    let responder_id = HostIdentity::generate(HostIdKind::EcdsaP256).unwrap();
    let hit_i = Hit::from_host_id(&initiator_id.public()).unwrap();
    let hit_r = Hit::from_host_id(&responder_id.public()).unwrap();
    let suite = HitSuite::from_id(hit_r.oga_id()).unwrap();
    assert_eq!(suite, HitSuite::EcdsaSha384);
    let mut rng_i = test_rng(1);
    let mut rng_r = test_rng(2);

    // I1 carries the Initiator's DH_GROUP_LIST; the Responder picks.
    let prefs_i = DhGroupPreference(vec![DhGroupId::Modp2048, DhGroupId::NistP256]);
    let prefs_r = DhGroupPreference::default();
    let group = prefs_r.select_as_responder(&prefs_i.to_list()).unwrap();
    assert_eq!(group, DhGroupId::NistP256);
    // R1: puzzle, DH value, signature 2 over the R1 bytes.
    let mut i = vec![0u8; suite.rhash_len()];
    rng_r(&mut i);
    let dh_r = DhKeyPair::generate(group, &mut rng_r).unwrap();
    let r1 = [b"R1 up to HIP_SIGNATURE_2".as_slice(), dh_r.public_value()].concat();
    let r1_sig = responder_id.sign(&r1).unwrap();

    // Initiator: check the group choice, the signature, solve the puzzle.
    assert_eq!(prefs_i.expected_from_r1(&prefs_r.to_list()).unwrap(), group);
    let responder_public = responder_id.public();
    assert!(hit_r.matches(&responder_public));
    responder_public.verify(&r1, &r1_sig).unwrap();
    let mut start = vec![0u8; suite.rhash_len()];
    rng_i(&mut start);
    let solution = puzzle::solve(suite, &i, &hit_i, &hit_r, 10, &start, 1 << 20).unwrap();
    assert!(solution.attempts >= 1);
    let dh_i = DhKeyPair::generate(group, &mut rng_i).unwrap();
    let kij_i = dh_i.shared_secret(dh_r.public_value()).unwrap();
    let mut keymat_i = Keymat::derive(suite, &kij_i, &hit_i, &hit_r, &i, &solution.j).unwrap();
    let keys_i = HipKeys::draw(&mut keymat_i, suite, HipCipher::Aes256Cbc, &hit_i, &hit_r).unwrap();

    // I2: ENCRYPTED HOST_ID, HIP_MAC, signature.
    let host_id = initiator_id.public().to_host_identity();
    let encrypted = HipCipher::Aes256Cbc.encrypt(&keys_i.outbound.encryption, &host_id, &mut rng_i).unwrap();
    let i2 = [b"I2 up to HIP_MAC".as_slice(), &encrypted].concat();
    let i2_mac = mac::compute(suite, &keys_i.outbound.integrity, &i2);

    // Responder: puzzle, DH, KEYMAT, MAC, decrypt, HIT check.
    puzzle::verify(suite, &i, &hit_i, &hit_r, 10, &solution.j).unwrap();
    let kij_r = dh_r.shared_secret(dh_i.public_value()).unwrap();
    assert_eq!(*kij_i, *kij_r);
    let mut keymat_r = Keymat::derive(suite, &kij_r, &hit_i, &hit_r, &i, &solution.j).unwrap();
    let keys_r = HipKeys::draw(&mut keymat_r, suite, HipCipher::Aes256Cbc, &hit_r, &hit_i).unwrap();
    mac::verify(suite, &keys_r.inbound.integrity, &i2, &i2_mac).unwrap();
    let plain = HipCipher::Aes256Cbc.decrypt(&keys_r.inbound.encryption, &encrypted).unwrap();
    let decoded = HostIdPublic::from_host_identity(7, &plain[..host_id.len()]).unwrap();
    assert!(hit_i.matches(&decoded));

    // ESP keys: each side's outbound SA is the other's inbound SA.
    let esp_i = EspKeyPair::draw(&mut keymat_i, 32, 32, &hit_i, &hit_r).unwrap();
    let esp_r = EspKeyPair::draw(&mut keymat_r, 32, 32, &hit_r, &hit_i).unwrap();
    assert_eq!(*esp_i.outbound.encryption, *esp_r.inbound.encryption);
    assert_eq!(*esp_i.inbound.authentication, *esp_r.outbound.authentication);
    assert_ne!(*esp_i.outbound.encryption, *esp_i.inbound.encryption);
    assert_eq!(keymat_i.index(), keymat_r.index());

    // Tampering is caught with typed errors.
    let mut bad_i2 = i2.clone();
    bad_i2[0] ^= 1;
    assert_eq!(mac::verify(suite, &keys_r.inbound.integrity, &bad_i2, &i2_mac), Err(CryptoError::BadMac));
    let mut bad_j = solution.j.clone();
    bad_j[0] ^= 0x80;
    // Flipping the top bit leaves the low-order 10 bits, so pick a low bit.
    bad_j[suite.rhash_len() - 1] ^= 0x01;
    assert_eq!(puzzle::verify(suite, &i, &hit_i, &hit_r, 10, &bad_j), Err(CryptoError::BadPuzzleSolution));
    let mut bad_sig = r1_sig.clone();
    bad_sig[5] ^= 1;
    assert_eq!(responder_public.verify(&r1, &bad_sig), Err(CryptoError::BadSignature));
}
