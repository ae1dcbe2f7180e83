//! The association layer on hostile input: any bytes, with a valid
//! checksum and addressed to our HIT (so they get past the cheap checks),
//! handed to a HipHost that has an exchange in progress with the sender.
//! Nothing may panic, and no rejected packet may create state.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use proxy_proto::hip::assoc::{HipHost, HostConfig, LocalIdentity, RegistrarConfig};
use proxy_proto::hip::crypto::{Hit, HostIdKind, HostIdentity};
use proxy_proto::hip::wire::Packet;

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| HostIdentity::generate(HostIdKind::EcdsaP256).unwrap().to_pkcs8_der().unwrap().to_vec())
}

/// An Ed25519 identity (RFC 9374 HIT suite 5: cSHAKE128 RHASH, KMAC128 MAC).
fn ed25519_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| HostIdentity::generate(HostIdKind::Ed25519).unwrap().to_pkcs8_der().unwrap().to_vec())
}

fuzz_target!(|data: &[u8]| {
    // Odd-length inputs meet the Ed25519 host, even-length the ECDSA one,
    // so both HIT suites' code paths see every kind of input.
    let key = if data.len() % 2 == 1 { ed25519_key() } else { key() };
    let id = LocalIdentity::new(HostIdentity::from_pkcs8_der(key).unwrap()).unwrap();
    let ours = id.hit;
    let mut n = 0u8;
    let rng = Box::new(move |b: &mut [u8]| {
        for x in b.iter_mut() {
            n = n.wrapping_add(1);
            *x = n;
        }
    });
    // Every other pair of lengths: a rendezvous server (REG_INFO in R1,
    // REG_REQUEST in I2, I1 relay for HITs not ours, RFC 8003/8004).
    let registrar = (data.len() % 4 >= 2).then(RegistrarConfig::default);
    let mut host = HipHost::new(HostConfig { puzzle_k: 0, registrar, ..HostConfig::default() }, vec![id], rng);
    let now = Instant::now();
    let mut bytes = data.to_vec();
    let Ok(mut view) = Packet::new_checked(&mut bytes[..]) else {
        host.handle_packet(now, SRC, DST, data);
        return;
    };
    let peer = Hit::from(view.sender_hit());
    if peer != ours {
        // An exchange in progress with the sender, so R1/R2 handlers run.
        let _ = host.initiate(now, None, peer, vec![(DST, SRC)]);
    }
    let before = host.associations(now).len();
    // One input in eight keeps its receiver HIT: the relay path (not
    // ours, not registered) must drop it.
    if data.len() % 8 != 7 {
        view.set_receiver_hit(ours.to_ipv6());
    }
    let _ = view.fill_checksum(SRC, DST);
    host.handle_packet(now, SRC, DST, &bytes);
    // Our address changes (RFC 8046): only established associations move.
    host.update_locators(now, &[IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3))]);
    host.handle_timeout(now + std::time::Duration::from_secs(100));
    while host.poll_transmit().is_some() {}
    while host.poll_event().is_some() {}
    // Random bytes cannot complete an I2 (MAC and signature): no new state.
    assert!(host.associations(now).len() <= before.max(1));
});
