//! The VPN's tunnel-mode inbound SA (the ESP engine's
//! `esp::tunnel::open_tunnel_packet` on an `InboundSa` in tunnel mode) and
//! the re-establishment handshake never panic on any input; a Responder
//! never accepts an Init it could not have been sent (no key for it here).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::{
    esp::{EspCipher, InboundSa, Mode, Transform, tunnel::open_tunnel_packet},
    vpn::reestablish,
};

fuzz_target!(|data: &[u8]| {
    let mut sa = InboundSa::new(
        u32::from_be_bytes([data.first().copied().unwrap_or(0), 0, 0x10, 0]),
        EspCipher::new(Transform::Aes128Gcm16, &[7u8; 20]).unwrap(),
    )
    .with_mode(Mode::Tunnel);
    let mut pkt = data.to_vec();
    let len = pkt.len();
    if let Ok(inner) = open_tunnel_packet(&mut sa, &mut pkt, 0..len) {
        assert!(inner.end <= len);
    }
    let mut gw = reestablish::Responder::default();
    gw.add_node(core::net::Ipv4Addr::new(10, 2, 0, 5), b"psk");
    assert!(gw.handle_init(data, 0x1234, [0; 16]).is_err() || data.len() == reestablish::LEN);
    let (mn, _) = reestablish::Initiator::start(b"psk", core::net::Ipv4Addr::new(10, 2, 0, 5), 1, 0x99, [1; 16]);
    let _ = mn.handle_response(data);
});
