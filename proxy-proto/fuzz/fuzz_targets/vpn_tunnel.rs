//! The VPN's tunnel-mode inbound SA and the re-establishment handshake
//! never panic on any input; a Responder never accepts an Init it could
//! not have been sent (no key for it here).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::{
    esp::{EspCipher, Transform},
    vpn::{reestablish, tunnel_sa::TunnelInboundSa},
};

fuzz_target!(|data: &[u8]| {
    let mut sa = TunnelInboundSa::new(
        u32::from_be_bytes([data.first().copied().unwrap_or(0), 0, 0x10, 0]),
        EspCipher::new(Transform::Aes128Gcm16, &[7u8; 20]).unwrap(),
    );
    let mut pkt = data.to_vec();
    let _ = sa.open(&mut pkt);
    let mut gw = reestablish::Responder::default();
    gw.add_node(core::net::Ipv4Addr::new(10, 2, 0, 5), b"psk");
    assert!(gw.handle_init(data, 0x1234, [0; 16]).is_err() || data.len() == reestablish::LEN);
    let (mn, _) = reestablish::Initiator::start(b"psk", core::net::Ipv4Addr::new(10, 2, 0, 5), 1, 0x99, [1; 16]);
    let _ = mn.handle_response(data);
});
