//! Wireshark's Mobile IP dissector reads our Registration Request and Reply
//! as RFC 5944 messages: the test writes a pcap (Ethernet/IPv4/UDP 434; the
//! file format written by hand) and checks `tshark -V` output.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;

use proxy_proto::vpn::auth::{AuthAlgorithm, MnHaKey};
use proxy_proto::vpn::extension::Extension;
use proxy_proto::vpn::identification::Identification;
use proxy_proto::vpn::reply::{RegistrationReplyRepr, ReplyCode};
use proxy_proto::vpn::request::{RegistrationRequestRepr, RequestFlags};
use proxy_proto::vpn::udp;

const HOME: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const COA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);

/// libpcap file: global header (magic, v2.4, snaplen, LINKTYPE_ETHERNET)
/// and one record per frame, little-endian.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    f.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    f.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    f.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, frame) in frames.iter().enumerate() {
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(frame);
    }
    f
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut e = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00];
    e.extend_from_slice(ip);
    e
}

#[test]
fn tshark_dissects_request_and_reply_as_mobile_ip() {
    let key = MnHaKey::new(0x1001, AuthAlgorithm::HmacMd5, b"mn-ha secret").unwrap();
    let req = RegistrationRequestRepr {
        flags: RequestFlags(RequestFlags::D | RequestFlags::T),
        lifetime: 1800,
        home_address: HOME,
        home_agent: HA,
        care_of_address: COA,
        identification: Identification(0xe8a1_0203_0405_0607),
        extensions: vec![],
    }
    .to_signed_bytes(&key)
    .unwrap();
    let rep = RegistrationReplyRepr {
        code: ReplyCode::HaIdentificationMismatch,
        lifetime: 0,
        home_address: HOME,
        home_agent: HA,
        identification: Identification(0xe8a1_0999_0405_0607),
        extensions: vec![Extension::Other { ext_type: 200, data: vec![1, 2] }],
    }
    .to_bytes(Some(&key))
    .unwrap();
    let mn = SocketAddrV4::new(COA, 1434);
    let ha = SocketAddrV4::new(HA, 434);
    let frames =
        vec![ethernet(&udp::build(mn, ha, 64, &req).unwrap()), ethernet(&udp::build(ha, mn, 64, &rep).unwrap())];
    let path = std::env::temp_dir().join(format!("vpn_mipv4_{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    // Checksum validation on, so tshark also judges our IPv4/UDP checksums.
    let out = Command::new("tshark")
        .args(["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-V", "-r"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.expect("tshark is required for this test (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "[Protocols in frame: eth:ethertype:ip:udp:mip]",
        "Message Type: Registration Request (1)",
        "Flags: 0x22, Co-located Care-of Address, Reverse Tunneling",
        "0... .... = Simultaneous Bindings: False",
        "..1. .... = Co-located Care-of Address: True",
        ".... ..1. = Reverse Tunneling: True",
        "Lifetime: 1800",
        "Home Address: 10.1.0.5",
        "Home Agent: 10.1.0.1",
        "Care of Address: 198.51.100.23",
        // 0xe8a10203 s after 1900-01-01, fraction 0x04050607.
        "Identification: Sep  5, 2023 01:25:23.0157",
        "Extension Type: Mobile-Home Authentication Extension (32)",
        "Extension Length: 20",
        "SPI: 0x00001001",
        "Message Type: Registration Reply (3)",
        "Reply Code: Reg Deny (HA)- Registration ID Mismatch (133)",
        "Lifetime: 0",
        "Extension Type: Unknown (200)",
        "[Header checksum status: Good]",
        "[Checksum Status: Good]",
    ] {
        assert!(text.contains(needle), "tshark output lacks {needle:?}:\n{text}");
    }
    assert_eq!(text.matches("\nMobile IP\n").count(), 2, "{text}");
    assert!(!text.contains("Bad]"), "a checksum was judged bad:\n{text}");
    // The authenticators tshark shows are the ones we computed.
    assert!(text.contains(&format!("Authenticator: {}", hex::encode(&req[req.len() - 16..]))));
    assert!(text.contains(&format!("Authenticator: {}", hex::encode(&rep[rep.len() - 16..]))));
}
