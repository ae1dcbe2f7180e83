//! HIP packet parser: never panics on any input, and whatever parses
//! re-emits to bytes that parse to the same value. The MAC/signature input
//! builder must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::hip::wire::param::host_id::{DiType, HostId};
use proxy_proto::hip::wire::{AuthParam, HipPacket, Packet, ParamIter, auth_input};

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = Packet::new_checked(data) {
        for raw in ParamIter::new(view.parameters()) {
            if raw.is_err() {
                break;
            }
        }
    }
    let host_id = HostId {
        algorithm: 7,
        host_identity: vec![1; 8],
        di_type: DiType::None,
        domain_identifier: vec![],
    };
    for which in [
        AuthParam::HipMac,
        AuthParam::HipMac2 {
            sender_host_id: &host_id,
        },
        AuthParam::HipSignature,
        AuthParam::HipSignature2,
        AuthParam::RvsHmac,
    ] {
        if let Ok(input) = auth_input(data, which) {
            assert!(input.len() % 8 == 0 && input.len() >= 40);
        }
    }
    let Ok(packet) = HipPacket::parse_bytes(data) else {
        return;
    };
    let bytes = packet.to_bytes().expect("a parsed packet fits 2048 octets");
    let again = HipPacket::parse_bytes(&bytes).expect("emitted packet parses");
    assert_eq!(packet, again);
    // Canonical input (zero reserved fields) re-emits byte for byte,
    // checksum aside.
    let n = bytes.len();
    assert_eq!(n, Packet::new_checked(data).unwrap().packet_len());
});
