//! Interop with the third-party captures (cutehip, tests/data/hip/thirdparty):
//! our host, holding that run's private keys, accepts their I1 and R1
//! bytes and answers them.

use std::time::Instant;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::hip::crypto::{Hit, HostIdentity};
use crate::hip::wire::param::dh::DhGroupList;
use crate::hip::wire::{HipPacket, PacketType};

const VECTORS: &str = include_str!("../../../tests/data/hip/thirdparty/vectors.txt");
/// Host A (Initiator) and B (Responder) of both runs.
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2));
/// The I1 of bex.pcap (RSA run, frame 1), A -> B.
const RSA_I1: &str =
    "3b06012152410000200100215cecfdcd2e22bcf402ab958820010021c1e164fce0f2d98580bfc6bc01ff000607090803040a000000000000";

fn vector(name: &str) -> &'static str {
    VECTORS.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('='))).unwrap()
}

fn hit(name: &str) -> Hit {
    Hit::from(vector(name).parse::<Ipv6Addr>().unwrap())
}

fn host(pem: &str) -> HipHost {
    let id = LocalIdentity::new(HostIdentity::from_pem(pem).unwrap()).unwrap();
    let mut n = 0u8;
    HipHost::new(
        HostConfig::default(),
        vec![id],
        Box::new(move |b: &mut [u8]| {
            for x in b.iter_mut() {
                n = n.wrapping_add(7);
                *x = n;
            }
        }),
    )
}

#[test]
fn thirdparty_r1_is_answered_with_an_i2() {
    let mut a = host(include_str!("../../../tests/data/hip/thirdparty/ecdsa/A/private.pem"));
    assert_eq!(a.local_hits()[0], hit("ecdsa.hit_a"));
    let now = Instant::now();
    a.initiate(now, None, hit("ecdsa.hit_b"), vec![(A, B)]).unwrap();
    assert_eq!(a.poll_transmit().map(|t| t.dst), Some(B));
    let r1 = hex::decode(vector("ecdsa.r1")).unwrap();
    a.handle_packet(now, B, A, &r1);
    assert_eq!(a.counters().dropped_total(), 0, "{:?}", a.counters());
    assert_eq!(a.association(now, &hit("ecdsa.hit_b")).unwrap().state, State::I2Sent);
    let i2 = a.poll_transmit().expect("I2");
    let i2 = HipPacket::parse_bytes(&i2.payload).unwrap();
    assert_eq!(i2.packet_type, PacketType::I2);
    assert_eq!(Hit::from(i2.receiver_hit), hit("ecdsa.hit_b"));
}

#[test]
fn thirdparty_i1_is_answered_with_an_r1() {
    let mut b = host(include_str!("../../../tests/data/hip/thirdparty/rsa/B/private.pem"));
    assert_eq!(b.local_hits()[0], hit("rsa.hit_b"));
    let now = Instant::now();
    b.handle_packet(now, A, B, &hex::decode(RSA_I1).unwrap());
    assert_eq!(b.counters().dropped_total(), 0, "{:?}", b.counters());
    let r1 = b.poll_transmit().expect("R1");
    assert_eq!((r1.src, r1.dst), (B, A));
    let r1 = HipPacket::parse_bytes(&r1.payload).unwrap();
    assert_eq!(r1.packet_type, PacketType::R1);
    assert_eq!(Hit::from(r1.receiver_hit), hit("rsa.hit_a"));
    assert!(r1.get::<DhGroupList>().is_some());
    // Stateless until a valid I2.
    assert!(b.associations(now).is_empty());
}
