//! Cross-check with an independent implementation: seal packets, write
//! them to a pcap, and let Wireshark (tshark) decrypt them with the
//! `esp_sa` line we generate. tshark must be installed: a missing tshark
//! fails the test rather than skipping it.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use proxy_proto::esp::{EspCipher, OutboundSa, Transform, wireshark_esp_sa_line};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const SRC_PORT: u16 = 40123;
const DST_PORT: u16 = 7777;

/// A BEET payload: a UDP datagram (its IPv6/HIT header is not sent).
fn udp_segment() -> Vec<u8> {
    let payload = b"BEET mode says hello to Wireshark";
    let len = (8 + payload.len()) as u16;
    let mut seg = Vec::new();
    seg.extend_from_slice(&SRC_PORT.to_be_bytes());
    seg.extend_from_slice(&DST_PORT.to_be_bytes());
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(payload);
    seg
}

/// Ethernet + IPv4 (protocol 50) around an ESP packet.
fn frame(esp: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + esp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 50, 0, 0]);
    ip.extend_from_slice(&SRC.octets());
    ip.extend_from_slice(&DST.octets());
    let c = proxy_proto::checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(esp);
    f
}

/// The classic pcap format: global header, then one record per frame.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn tshark(pcap_path: &std::path::Path, uat: &str) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(pcap_path)
        .args(["-o", "esp.enable_encryption_decode:TRUE"])
        .args(["-o", "esp.enable_authentication_check:TRUE"])
        .arg("-o")
        .arg(format!("uat:esp_sa:{uat}"))
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "frame.protocols", "-e", "esp.sequence", "-e", "udp.srcport", "-e", "udp.dstport"])
        .args(["-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "esp.pad_len", "-e", "esp.protocol"])
        .output()
        .unwrap_or_else(|e| panic!("tshark is required for this test (apt install tshark): {e}"));
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_decrypts_what_we_seal() {
    let dir = std::env::temp_dir().join(format!("esp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for t in Transform::ALL {
        let keymat: Vec<u8> = (0..t.key_len()).map(|i| (i as u8).wrapping_mul(13).wrapping_add(1)).collect();
        let spi = 0x0102_0304;
        let mut sa = OutboundSa::new(spi, EspCipher::new(t, &keymat).unwrap());
        let seg = udp_segment();
        let mut rng_state = 0u8;
        let mut rng = |b: &mut [u8]| {
            for x in b {
                rng_state = rng_state.wrapping_add(17);
                *x = rng_state;
            }
        };
        let frames: Vec<Vec<u8>> = (0..2)
            .map(|_| {
                let mut buf = vec![0u8; sa.sealed_len(seg.len())];
                let off = sa.payload_offset();
                buf[off..off + seg.len()].copy_from_slice(&seg);
                let n = sa.seal(&mut buf, seg.len(), 17, &mut rng).unwrap();
                frame(&buf[..n])
            })
            .collect();
        let path = dir.join(format!("{t:?}.pcap"));
        std::fs::write(&path, pcap(&frames)).unwrap();
        let line = wireshark_esp_sa_line(IpAddr::V4(SRC), IpAddr::V4(DST), spi, t, &keymat).unwrap();
        let out = tshark(&path, &line);
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 2, "{t:?}: {out}");
        for (i, row) in rows.iter().enumerate() {
            let f: Vec<&str> = row.split('|').collect();
            assert!(f[0].ends_with(":esp:udp:data"), "{t:?}: inner protocol not decoded: {row}");
            assert_eq!(f[1], (i + 1).to_string(), "{t:?}: {row}");
            assert_eq!((f[2], f[3]), ("40123", "7777"), "{t:?}: {row}");
            assert!(f[7] == "17" || f[7] == "0x11", "{t:?}: next header: {row}");
            assert_eq!(f[6], t.pad_len(seg.len()).to_string(), "{t:?}: pad length: {row}");
            // Wireshark checks HMAC ICVs itself; GCM's tag is checked by
            // the decryption (a wrong key would not give UDP above).
            if t.integrity_key_len() > 0 {
                assert!(f[4] == "1" || f[4] == "True", "{t:?}: ICV not good: {row}");
                assert!(f[5] == "0" || f[5] == "False", "{t:?}: {row}");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
