//! `cargo xtask bench bex`: complete HIP base exchanges per second on one
//! core, in process over the sans-IO API (no sockets, no kernel): an
//! Initiator and a Responder `HipHost` hand I1, R1, I2, R2 to each other
//! directly. Side by side, the crypto-only bound: the same public-key and
//! symmetric operations one exchange performs, in a loop, no protocol.
//!
//! Usage: bench_bex [SECONDS per case] (default 5).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use aws_lc_rs::{agreement, rand, signature};
use proxy_proto::hip::assoc::{HipHost, HostConfig, LocalIdentity, State};
use proxy_proto::hip::crypto::{DhGroupId, DhGroupPreference, HitSuite, HostIdKind, HostIdentity, Keymat, mac, puzzle};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn cfg(k: u8) -> HostConfig {
    HostConfig {
        dh_groups: DhGroupPreference(vec![DhGroupId::NistP256]),
        puzzle_k: k,
        puzzle_k_under_load: k,
        max_puzzle_k: 30,
        ..HostConfig::default()
    }
}

fn sysrng() -> proxy_proto::hip::assoc::host::Rng {
    Box::new(|b: &mut [u8]| rand::fill(b).expect("system random"))
}

fn id(kind: HostIdKind) -> LocalIdentity {
    LocalIdentity::new(HostIdentity::generate(kind).unwrap()).unwrap()
}

/// One complete exchange; returns its duration.
fn bex(a: &mut HipHost, b: &mut HipHost) -> Duration {
    let t0 = Instant::now();
    let (ha, hb) = (a.local_hits()[0], b.local_hits()[0]);
    a.initiate(t0, None, hb, vec![(A, B)]).unwrap();
    let mut to_b = true;
    loop {
        let (from, to) = if to_b { (&mut *a, &mut *b) } else { (&mut *b, &mut *a) };
        let Some(t) = from.poll_transmit() else { break };
        to.handle_packet(t0, t.src, t.dst, &t.payload);
        to_b = !to_b;
    }
    let dt = t0.elapsed();
    assert_eq!(a.association(t0, &hb).map(|x| x.state), Some(State::Established));
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    a.forget(&hb);
    b.forget(&ha);
    dt
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_ours(k: u8, secs: f64, kind: HostIdKind) -> (f64, Duration) {
    let mut a = HipHost::new(cfg(k), vec![id(kind)], sysrng());
    let mut b = HipHost::new(cfg(k), vec![id(kind)], sysrng());
    // Warm up: the Responder signs its R1 once per generation.
    bex(&mut a, &mut b);
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        lat.push(bex(&mut a, &mut b));
    }
    (lat.len() as f64 / start.elapsed().as_secs_f64(), median(lat))
}

/// The crypto of one exchange, no protocol: 2 ECDSA P-256 signatures
/// (I2, R2), 3 verifications (R1, I2, R2), 1 ECDH key generation (the
/// Initiator's; the Responder's comes with its pre-computed R1), 2 ECDH
/// agreements, 2 KEYMAT derivations, 4 HMACs (HIP_MAC and HIP_MAC_2,
/// computed and verified) over packet-sized input, and the puzzle hash at
/// both ends (at K = 0 one try).
fn run_crypto(secs: f64) -> (f64, Duration) {
    let rng = rand::SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let doc = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let key = signature::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
    let public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        signature::KeyPair::public_key(&key).as_ref().to_vec(),
    );
    let responder_dh = agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap();
    let responder_pub = responder_dh.compute_public_key().unwrap();
    let msg = vec![0x5au8; 600];
    let suite = HitSuite::EcdsaSha384;
    let hit = proxy_proto::hip::crypto::Hit([0x20; 16]);
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let t0 = Instant::now();
        let sig = key.sign(&rng, &msg).unwrap();
        for _ in 0..3 {
            public.verify(&msg, sig.as_ref()).unwrap();
        }
        key.sign(&rng, &msg).unwrap();
        let ours = agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap();
        let ours_pub = ours.compute_public_key().unwrap();
        let k1 = agreement::agree(
            &ours,
            agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, responder_pub.as_ref()),
            (),
            |s| Ok(s.to_vec()),
        )
        .unwrap();
        let k2 = agreement::agree(
            &responder_dh,
            agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ours_pub.as_ref()),
            (),
            |s| Ok(s.to_vec()),
        )
        .unwrap();
        for kij in [&k1, &k2] {
            std::hint::black_box(Keymat::derive(suite, kij, &hit, &hit, &[1; 48], &[2; 48]).unwrap());
        }
        let m = mac::compute(suite, &k1, &msg);
        mac::verify(suite, &k1, &msg, &m).unwrap();
        let m = mac::compute(suite, &k2, &msg);
        mac::verify(suite, &k2, &msg, &m).unwrap();
        for _ in 0..2 {
            let _ = std::hint::black_box(puzzle::verify(suite, &[1; 48], &hit, &hit, 0, &[2; 48]));
        }
        lat.push(t0.elapsed());
    }
    (lat.len() as f64 / start.elapsed().as_secs_f64(), median(lat))
}

fn main() {
    if std::env::var_os("KEYMAT_COST").is_some() {
        keymat_cost();
        return;
    }
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let (c, c_lat) = run_crypto(secs);
    println!("crypto-only: {c:.0} bex/s, median {:.0} us", c_lat.as_secs_f64() * 1e6);
    let (o0, l0) = run_ours(0, secs, HostIdKind::EcdsaP256);
    println!("ours K=0: {o0:.0} bex/s, median latency {:.0} us", l0.as_secs_f64() * 1e6);
    let (o10, l10) = run_ours(10, secs, HostIdKind::EcdsaP256);
    println!("ours K=10: {o10:.0} bex/s, median latency {:.0} us", l10.as_secs_f64() * 1e6);
    // Informational: Ed25519 identities (RFC 9374 suite 5: cSHAKE128 puzzle,
    // KMAC128 HIP_MAC and KEYMAT), same ECDH P-256; not part of the ratio.
    for k in [0, 10] {
        let (o, l) = run_ours(k, secs, HostIdKind::Ed25519);
        println!("ours Ed25519 K={k}: {o:.0} bex/s, median latency {:.0} us", l.as_secs_f64() * 1e6);
    }
    println!("ratio at K=10: {:.2}", o10 / c);
    println!("bench bex: ours {o0:.0} bex/s, crypto-only {c:.0} bex/s, ratio {:.2}", o0 / c);
}
#[allow(dead_code)]
fn keymat_cost() {
    let hit = proxy_proto::hip::crypto::Hit([0x20; 16]);
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(Keymat::derive(HitSuite::EcdsaSha384, &[7; 32], &hit, &hit, &[1; 48], &[2; 48]).unwrap());
    }
    println!("keymat derive: {:.1} us", t.elapsed().as_secs_f64() * 1e3);
}
