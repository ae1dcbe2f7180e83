//! Two hosts, a virtual clock, latency and loss (quinn's `Pair`): the base
//! exchange, its retransmissions, collisions, every rejection, CLOSE.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::esp::{EspCipher, Transform};
use crate::hip::crypto::{DhGroupId, DhGroupPreference, HipCipher, Hit, HostIdKind, HostIdentity, puzzle};
use crate::hip::wire::param::auth::{HipMac, HipSignature};
use crate::hip::wire::param::notification::{Notification, NotifyMessageType};
use crate::hip::wire::param::puzzle::Puzzle;
use crate::hip::wire::{HipPacket, Packet, PacketType, Param};

const A4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const B6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

/// A deterministic RNG (SplitMix64), so failures reproduce.
pub(super) fn rng(seed: u64) -> host::Rng {
    let mut s = seed;
    Box::new(move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(8) {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
    })
}

fn identity(kind: HostIdKind) -> LocalIdentity {
    LocalIdentity::new(HostIdentity::generate(kind).unwrap()).unwrap()
}

/// A host with one fresh ECDSA P-256 identity.
pub(super) fn host(cfg: HostConfig, seed: u64) -> HipHost {
    HipHost::new(cfg, vec![identity(HostIdKind::EcdsaP256)], rng(seed))
}

pub(super) fn hit(h: &HipHost) -> Hit {
    h.local_hits()[0]
}

fn ptype(t: &Transmit) -> PacketType {
    Packet::new_unchecked(&t.payload[..]).packet_type()
}

/// Parse, change, re-emit with a fresh checksum.
fn rewrite(t: &Transmit, f: impl FnOnce(&mut HipPacket)) -> Transmit {
    let mut p = HipPacket::parse_bytes(&t.payload).unwrap();
    f(&mut p);
    let mut payload = p.to_bytes().unwrap();
    Packet::new_unchecked(&mut payload[..]).fill_checksum(t.src, t.dst).unwrap();
    Transmit { payload, ..t.clone() }
}

fn deliver(to: &mut HipHost, now: Instant, t: &Transmit) {
    to.handle_packet(now, t.src, t.dst, &t.payload);
}

fn one(h: &mut HipHost) -> Transmit {
    let t = h.poll_transmit().expect("a packet to send");
    assert!(h.poll_transmit().is_none(), "exactly one packet");
    t
}

fn events(h: &mut HipHost) -> Vec<Event> {
    core::iter::from_fn(|| h.poll_event()).collect()
}

fn established(evs: &[Event]) -> Vec<Established> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Established(x) => Some((**x).clone()),
            _ => None,
        })
        .collect()
}

/// Return true to drop a packet: (sent by a?, packet).
type Loss = Box<dyn FnMut(bool, &Transmit) -> bool>;

/// Two hosts joined by a link with latency and a loss filter.
struct Pair {
    a: HipHost,
    b: HipHost,
    now: Instant,
    latency: Duration,
    /// (deliver at, to b?, packet)
    in_flight: Vec<(Instant, bool, Transmit)>,
    /// Return true to drop a packet (from_a, packet).
    loss: Loss,
    /// Every packet put on the wire: (from_a, type, dropped).
    log: Vec<(bool, PacketType, bool)>,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new(a: HipHost, b: HipHost) -> Self {
        Pair {
            a,
            b,
            now: Instant::now(),
            latency: Duration::from_millis(10),
            in_flight: Vec::new(),
            loss: Box::new(|_, _| false),
            log: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    fn default_pair() -> Self {
        Pair::new(host(HostConfig::default(), 1), host(HostConfig::default(), 2))
    }

    fn collect(&mut self) {
        for (from_a, h) in [(true, &mut self.a), (false, &mut self.b)] {
            while let Some(t) = h.poll_transmit() {
                let dropped = (self.loss)(from_a, &t);
                self.log.push((from_a, ptype(&t), dropped));
                if !dropped {
                    self.in_flight.push((self.now + self.latency, from_a, t));
                }
            }
        }
        self.a_events.extend(core::iter::from_fn(|| self.a.poll_event()));
        self.b_events.extend(core::iter::from_fn(|| self.b.poll_event()));
    }

    /// Run until nothing is in flight and no timer is due before `limit`.
    fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.collect();
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let next = [next_packet, self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|&n| n <= end) else { break };
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.0 <= now);
            self.in_flight = later;
            for (_, to_b, t) in due {
                let h = if to_b { &mut self.b } else { &mut self.a };
                h.handle_packet(now, t.src, t.dst, &t.payload);
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
    }

    fn drive(&mut self) {
        self.drive_for(Duration::from_secs(5));
    }

    fn connect(&mut self, paths: Vec<(IpAddr, IpAddr)>) {
        let peer = hit(&self.b);
        self.a.initiate(self.now, None, peer, paths).unwrap();
    }

    fn types(&self) -> Vec<(bool, PacketType)> {
        self.log.iter().map(|(a, t, _)| (*a, *t)).collect()
    }
}

/// The two hosts' ESTABLISHED events fit together: SPIs and keys crossed,
/// one transform, keys usable by the ESP datapath.
fn check_established(p: &Pair) -> (Established, Established) {
    let ea = established(&p.a_events);
    let eb = established(&p.b_events);
    assert_eq!((ea.len(), eb.len()), (1, 1), "one ESTABLISHED each: {:?} {:?}", p.a_events, p.b_events);
    let (ea, eb) = (ea[0].clone(), eb[0].clone());
    assert!(ea.initiator && !eb.initiator);
    assert_eq!(ea.local_hit, eb.peer_hit);
    assert_eq!(ea.peer_hit, eb.local_hit);
    assert_eq!(ea.inbound_spi, eb.outbound_spi);
    assert_eq!(ea.outbound_spi, eb.inbound_spi);
    assert!(ea.inbound_spi >= 256 && ea.outbound_spi >= 256);
    assert_eq!(ea.transform, eb.transform);
    assert_eq!(*ea.inbound_key, *eb.outbound_key);
    assert_eq!(*ea.outbound_key, *eb.inbound_key);
    assert_ne!(*ea.inbound_key, *ea.outbound_key);
    assert_eq!(ea.inbound_key.len(), ea.transform.key_len());
    EspCipher::new(ea.transform, &ea.inbound_key).unwrap();
    assert_eq!(ea.local_locator, eb.peer_locator);
    (ea, eb)
}

#[test]
fn base_exchange_ipv4() {
    let mut p = Pair::default_pair();
    p.connect(vec![(A4, B4)]);
    p.drive();
    use PacketType::*;
    assert_eq!(p.types(), [(true, I1), (false, R1), (true, I2), (false, R2)]);
    let (ea, _) = check_established(&p);
    // ESP_TRANSFORM: suite 13 first in both lists.
    assert_eq!(ea.transform, Transform::Aes128Gcm16);
    assert_eq!(ea.peer_locator, B4);
    let now = p.now;
    assert_eq!(p.a.association(now, &hit(&p.b)).unwrap().state, State::Established);
    // The Responder leaves R2-SENT when its timer runs out (§4.4.2).
    assert_eq!(p.b.association(now, &hit(&p.a)).unwrap().state, State::R2Sent);
    p.drive_for(HostConfig::default().r2_sent_timeout);
    assert_eq!(p.b.association(p.now, &hit(&p.a)).unwrap().state, State::Established);
    assert_eq!(p.a.counters().dropped_total() + p.b.counters().dropped_total(), 0);
    assert_eq!(p.a.counters().established, 1);
}

#[test]
fn base_exchange_ipv6_rsa_modp_aes256_null_esp() {
    let cfg = HostConfig {
        dh_groups: DhGroupPreference(vec![DhGroupId::Modp2048]),
        hip_ciphers: vec![HipCipher::Aes256Cbc],
        esp_transforms: vec![Transform::NullHmacSha256],
        ..HostConfig::default()
    };
    let a = HipHost::new(cfg.clone(), vec![identity(HostIdKind::Rsa2048)], rng(3));
    let b = HipHost::new(cfg, vec![identity(HostIdKind::Rsa2048)], rng(4));
    let mut p = Pair::new(a, b);
    p.connect(vec![(A6, B6)]);
    p.drive();
    let (ea, _) = check_established(&p);
    assert_eq!(ea.transform, Transform::NullHmacSha256);
    assert_eq!(ea.local_locator, A6);
}

#[test]
fn mixed_identities_and_null_hip_cipher() {
    // P-384 meets RSA; the HOST_ID goes in the clear with NULL-ENCRYPT.
    let cfg = HostConfig { hip_ciphers: vec![HipCipher::NullEncrypt], ..HostConfig::default() };
    let a = HipHost::new(cfg.clone(), vec![identity(HostIdKind::EcdsaP384)], rng(5));
    let b = HipHost::new(cfg, vec![identity(HostIdKind::Rsa2048)], rng(6));
    let mut p = Pair::new(a, b);
    p.connect(vec![(A4, B4)]);
    p.drive();
    check_established(&p);
}

/// Drop the first packet of `ty`; retransmission recovers.
fn lose_first(ty: PacketType) -> Pair {
    let mut p = Pair::default_pair();
    let mut dropped = false;
    p.loss = Box::new(move |_, t| {
        if !dropped && ptype(t) == ty {
            dropped = true;
            return true;
        }
        false
    });
    p.connect(vec![(A4, B4)]);
    p.drive();
    check_established(&p);
    assert!(p.log.iter().any(|(_, t, d)| *t == ty && *d), "a {ty:?} was dropped");
    p
}

#[test]
fn lost_i1_is_retransmitted() {
    let p = lose_first(PacketType::I1);
    assert_eq!(p.a.counters().retransmits, 1);
}

#[test]
fn lost_r1_is_recovered_by_i1_retransmission() {
    let p = lose_first(PacketType::R1);
    assert_eq!(p.a.counters().retransmits, 1);
    assert_eq!(p.b.counters().sent[1], 2);
}

#[test]
fn lost_i2_is_retransmitted() {
    let p = lose_first(PacketType::I2);
    assert_eq!(p.a.counters().retransmits, 1);
    assert_eq!(p.b.counters().received[2], 1);
}

#[test]
fn lost_r2_is_resent_for_the_retransmitted_i2() {
    let p = lose_first(PacketType::R2);
    // The second I2 carries the same solution: R2 again, no second association.
    assert_eq!(p.b.counters().sent[3], 2);
    assert_eq!(p.b.counters().dropped(DropReason::ReplayedI2), 1);
    assert_eq!(p.b.counters().established, 1);
}

#[test]
fn everything_lost_fails_after_retransmissions() {
    let mut p = Pair::default_pair();
    p.loss = Box::new(|_, _| true);
    p.connect(vec![(A4, B4), (A6, B6)]);
    p.drive_for(Duration::from_secs(60));
    let max = HostConfig::default().max_retransmits as usize;
    assert_eq!(p.log.len(), 1 + max);
    assert!(matches!(p.a_events.as_slice(), [Event::Failed { reason: FailReason::Timeout("I1"), .. }]));
    // Retransmissions alternate between the locator pairs.
    let peer = hit(&p.b);
    assert_eq!(p.a.association(p.now, &peer).unwrap().state, State::EFailed);
    // E-FAILED lingers, then the entry goes.
    p.drive_for(Duration::from_secs(60));
    assert!(p.a.association(p.now, &peer).is_none());
}

#[test]
fn simultaneous_i1s_make_one_association() {
    let mut p = Pair::default_pair();
    let (ha, hb) = (hit(&p.a), hit(&p.b));
    p.a.initiate(p.now, None, hb, vec![(A4, B4)]).unwrap();
    p.b.initiate(p.now, None, ha, vec![(B4, A4)]).unwrap();
    p.drive();
    let ea = established(&p.a_events);
    let eb = established(&p.b_events);
    assert_eq!((ea.len(), eb.len()), (1, 1));
    assert_eq!(ea[0].inbound_spi, eb[0].outbound_spi);
    assert_eq!(ea[0].outbound_key.to_vec(), eb[0].inbound_key.to_vec());
    // The host with the greater HIT answered; the other one initiated.
    let (hi, lo) = if ha > hb { (&ea[0], &eb[0]) } else { (&eb[0], &ea[0]) };
    assert!(lo.initiator && !hi.initiator);
    let r1s = p.log.iter().filter(|(_, t, _)| *t == PacketType::R1).count();
    let i2s = p.log.iter().filter(|(_, t, _)| *t == PacketType::I2).count();
    assert_eq!((r1s, i2s), (1, 1));
    assert_eq!(p.a.associations(p.now).len(), 1);
    assert_eq!(p.b.associations(p.now).len(), 1);
}

/// I1 -> R1 -> I2 by hand, so tests can change the I2.
fn up_to_i2(cfg_b: HostConfig) -> (HipHost, HipHost, Instant, Transmit) {
    let mut a = host(HostConfig::default(), 11);
    let mut b = host(cfg_b, 12);
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let i1 = one(&mut a);
    deliver(&mut b, now, &i1);
    let r1 = one(&mut b);
    deliver(&mut a, now, &r1);
    let i2 = one(&mut a);
    assert_eq!(ptype(&i2), PacketType::I2);
    (a, b, now, i2)
}

/// A rejected I2: counted under `reason`, no state at the Responder, the
/// Initiator still in I2-SENT.
fn assert_i2_rejected(a: &HipHost, b: &mut HipHost, now: Instant, reason: DropReason) {
    assert_eq!(b.counters().dropped(reason), 1, "{reason}: {:?}", b.counters());
    assert_eq!(b.counters().dropped_total(), 1);
    assert!(b.associations(now).is_empty());
    assert!(established(&events(b)).is_empty());
    assert_eq!(a.association(now, &hit(b)).unwrap().state, State::I2Sent);
    assert!(b.poll_transmit().is_none_or(|t| ptype(&t) == PacketType::Notify));
}

#[test]
fn wrong_puzzle_solution_rejected() {
    let cfg = HostConfig { puzzle_k: 10, ..HostConfig::default() };
    let (a, mut b, now, i2) = up_to_i2(cfg);
    let (ha, hb) = (hit(&a), hit(&b));
    let bad = rewrite(&i2, |p| {
        for x in p.params.iter_mut() {
            if let Param::Solution(s) = x {
                assert_eq!(s.k, 10);
                let suite = b.locals[0].id.suite;
                while puzzle::verify(suite, &s.random_i, &ha, &hb, 10, &s.solution_j).is_ok() {
                    s.solution_j[0] = s.solution_j[0].wrapping_add(1);
                }
            }
        }
    });
    deliver(&mut b, now, &bad);
    assert_i2_rejected(&a, &mut b, now, DropReason::BadPuzzleSolution);
    // The genuine I2 still works.
    deliver(&mut b, now, &i2);
    assert_eq!(b.counters().established, 1);
}

#[test]
fn foreign_puzzle_i_rejected() {
    let (a, mut b, now, i2) = up_to_i2(HostConfig::default());
    let bad = rewrite(&i2, |p| {
        if let Some(Param::Solution(s)) = p.params.iter_mut().find(|x| matches!(x, Param::Solution(_))) {
            s.random_i[0] ^= 1;
        }
    });
    deliver(&mut b, now, &bad);
    assert_i2_rejected(&a, &mut b, now, DropReason::BadPuzzleSolution);
}

#[test]
fn bad_hip_mac_rejected_with_notify() {
    let (a, mut b, now, i2) = up_to_i2(HostConfig::default());
    let bad = rewrite(&i2, |p| {
        if let Some(Param::HipMac(HipMac { hmac })) = p.params.iter_mut().find(|x| matches!(x, Param::HipMac(_))) {
            hmac[0] ^= 1;
        }
    });
    deliver(&mut b, now, &bad);
    let n = b.poll_transmit().expect("NOTIFY");
    let n = HipPacket::parse_bytes(&n.payload).unwrap();
    assert_eq!(n.packet_type, PacketType::Notify);
    assert_eq!(n.get::<Notification>().unwrap().message_type, NotifyMessageType::HipMacFailed);
    assert_i2_rejected(&a, &mut b, now, DropReason::BadHipMac);
}

#[test]
fn bad_i2_signature_rejected() {
    let (a, mut b, now, i2) = up_to_i2(HostConfig::default());
    let bad = rewrite(&i2, |p| {
        if let Some(Param::HipSignature(HipSignature { signature, .. })) =
            p.params.iter_mut().find(|x| matches!(x, Param::HipSignature(_)))
        {
            signature[5] ^= 1;
        }
    });
    deliver(&mut b, now, &bad);
    assert_i2_rejected(&a, &mut b, now, DropReason::BadSignature);
}

#[test]
fn bad_r1_signature_rejected_initiator_stays_in_i1_sent() {
    let mut a = host(HostConfig::default(), 21);
    let mut b = host(HostConfig::default(), 22);
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let i1 = one(&mut a);
    deliver(&mut b, now, &i1);
    let r1 = one(&mut b);
    // Raising #K invalidates HIP_SIGNATURE_2 (only #I and Opaque are left out).
    let bad = rewrite(&r1, |p| {
        if let Some(Param::Puzzle(Puzzle { k, .. })) = p.params.iter_mut().find(|x| matches!(x, Param::Puzzle(_))) {
            *k = 2;
        }
    });
    deliver(&mut a, now, &bad);
    assert_eq!(a.counters().dropped(DropReason::BadSignature), 1);
    assert_eq!(a.association(now, &hit(&b)).unwrap().state, State::I1Sent);
    assert!(a.poll_transmit().is_none());
    // #I is not signed: a changed #I passes the signature (and fails at
    // the Responder's cookie check instead).
    deliver(&mut a, now, &r1);
    assert_eq!(a.association(now, &hit(&b)).unwrap().state, State::I2Sent);
}

#[test]
fn replayed_i2_rejected_state_unchanged() {
    let (mut a, mut b, now, i2) = up_to_i2(HostConfig::default());
    deliver(&mut b, now, &i2);
    let r2 = one(&mut b);
    deliver(&mut a, now, &r2);
    let before = b.associations(now);
    let ev = established(&events(&mut b));
    assert_eq!(ev.len(), 1);
    // After R2-SENT times out, a replay gets nothing at all.
    let later = now + Duration::from_secs(30);
    b.handle_timeout(later);
    deliver(&mut b, later, &i2);
    assert_eq!(b.counters().dropped(DropReason::ReplayedI2), 1);
    assert!(b.poll_transmit().is_none());
    assert!(events(&mut b).is_empty());
    let after = b.associations(later);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].state, State::Established);
    assert_eq!(after[0].inbound_spi, before[0].inbound_spi);
}

#[test]
fn replayed_i2_after_the_association_is_gone_is_still_caught() {
    let (mut a, mut b, now, i2) = up_to_i2(HostConfig::default());
    deliver(&mut b, now, &i2);
    deliver(&mut a, now, &one(&mut b));
    // Close and let the CLOSED entry expire; the R1 generation lives on.
    b.close(now, None, hit(&a)).unwrap();
    deliver(&mut a, now, &one(&mut b));
    deliver(&mut b, now, &one(&mut a));
    let later = now + Duration::from_secs(31);
    b.handle_timeout(later);
    assert!(b.associations(later).is_empty());
    deliver(&mut b, later, &i2);
    assert_eq!(b.counters().dropped(DropReason::ReplayedI2), 1);
    assert!(b.associations(later).is_empty());
}

#[test]
fn stale_r1_counter_rejected() {
    let cfg = HostConfig { r1_rotate: Duration::from_secs(1), r1_generations: 2, ..HostConfig::default() };
    let (a, mut b, now, i2) = up_to_i2(cfg);
    // Two rotations later the I2's generation is gone.
    b.handle_timeout(now + Duration::from_secs(1));
    b.handle_timeout(now + Duration::from_secs(2));
    deliver(&mut b, now + Duration::from_secs(2), &i2);
    assert_i2_rejected(&a, &mut b, now + Duration::from_secs(2), DropReason::StaleR1Counter);
}

#[test]
fn unknown_hit_rejected_without_answer() {
    let mut a = host(HostConfig::default(), 31);
    let mut b = host(HostConfig::default(), 32);
    let now = Instant::now();
    let stranger = hit(&host(HostConfig::default(), 33));
    a.initiate(now, None, stranger, vec![(A4, B4)]).unwrap();
    let i1 = one(&mut a);
    deliver(&mut b, now, &i1);
    assert_eq!(b.counters().dropped(DropReason::UnknownHit), 1);
    assert!(b.poll_transmit().is_none());
    assert!(b.associations(now).is_empty());
}

#[test]
fn peer_not_allowed_rejected() {
    let mut a = host(HostConfig::default(), 41);
    let mut b = host(HostConfig::default(), 42);
    b.set_allowed_peers(Some(HashSet::new()));
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    deliver(&mut b, now, &one(&mut a));
    assert_eq!(b.counters().dropped(DropReason::PeerNotAllowed), 1);
    assert!(b.poll_transmit().is_none());
    assert_eq!(b.initiate(now, None, hit(&a), vec![(B4, A4)]), Err(InitiateError::NotAllowed(hit(&a).to_ipv6())));
}

#[test]
fn bad_checksum_and_garbage_counted() {
    let mut a = host(HostConfig::default(), 51);
    let mut b = host(HostConfig::default(), 52);
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let mut i1 = one(&mut a);
    // Right bytes, wrong pseudo-header.
    b.handle_packet(now, A6, B6, &i1.payload);
    assert_eq!(b.counters().dropped(DropReason::BadChecksum), 1);
    i1.payload[45] ^= 0xff;
    deliver(&mut b, now, &i1);
    assert_eq!(b.counters().dropped(DropReason::BadChecksum), 2);
    b.handle_packet(now, A4, B4, &[0u8; 12]);
    assert_eq!(b.counters().dropped(DropReason::Malformed), 1);
    assert!(b.poll_transmit().is_none());
}

#[test]
fn unknown_critical_parameter_answered_with_notify() {
    let mut a = host(HostConfig::default(), 61);
    let mut b = host(HostConfig::default(), 62);
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let i1 = rewrite(&one(&mut a), |p| p.params.push(Param::Unknown { ty: 4001, contents: vec![1, 2] }));
    deliver(&mut b, now, &i1);
    assert_eq!(b.counters().dropped(DropReason::UnsupportedCriticalParam), 1);
    let n = one(&mut b);
    assert_eq!((n.src, n.dst), (B4, A4));
    let n = HipPacket::parse_bytes(&n.payload).unwrap();
    assert_eq!(n.get::<Notification>(), Some(&Notification::unsupported_critical_parameter(4001)));
    // An unknown non-critical parameter is ignored.
    let mut a2 = host(HostConfig::default(), 63);
    a2.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let i1 = rewrite(&one(&mut a2), |p| p.params.push(Param::Unknown { ty: 4000, contents: vec![1] }));
    deliver(&mut b, now, &i1);
    assert_eq!(ptype(&one(&mut b)), PacketType::R1);
}

#[test]
fn puzzle_raised_under_load() {
    let cfg = HostConfig { puzzle_k: 0, puzzle_k_under_load: 12, load_threshold: 3, ..HostConfig::default() };
    let mut b = host(cfg, 71);
    let now = Instant::now();
    let mut ks = Vec::new();
    for i in 0..6 {
        let mut a = host(HostConfig::default(), 100 + i);
        a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
        deliver(&mut b, now, &one(&mut a));
        let r1 = HipPacket::parse_bytes(&one(&mut b).payload).unwrap();
        ks.push(r1.get::<Puzzle>().unwrap().k);
    }
    assert_eq!(ks, [0, 0, 0, 12, 12, 12]);
    // After a quiet second, #K comes down again.
    let later = now + Duration::from_secs(2);
    let mut ks = Vec::new();
    for i in 0..2 {
        let t = later + Duration::from_millis(1100 * i);
        let mut a = host(HostConfig::default(), 200 + i);
        a.initiate(t, None, hit(&b), vec![(A4, B4)]).unwrap();
        deliver(&mut b, t, &one(&mut a));
        let r1 = HipPacket::parse_bytes(&one(&mut b).payload).unwrap();
        ks.push(r1.get::<Puzzle>().unwrap().k);
    }
    // The window that ended held 6 I1s; the next one only 1.
    assert_eq!(ks, [12, 0]);
    // A solution to the hard puzzle completes (K = 12 solved by the Initiator).
    let mut p =
        Pair::new(host(HostConfig::default(), 300), host(HostConfig { puzzle_k: 12, ..HostConfig::default() }, 301));
    p.connect(vec![(A4, B4)]);
    p.drive();
    let (_, _) = check_established(&p);
}

#[test]
fn puzzle_harder_than_accepted_fails() {
    let mut p = Pair::new(
        host(HostConfig { max_puzzle_k: 8, ..HostConfig::default() }, 81),
        host(HostConfig { puzzle_k: 20, ..HostConfig::default() }, 82),
    );
    p.connect(vec![(A4, B4)]);
    p.drive();
    assert!(matches!(p.a_events.as_slice(), [Event::Failed { reason: FailReason::PuzzleTooHard, .. }]));
    assert_eq!(p.a.counters().dropped(DropReason::PuzzleTooHard), 1);
}

#[test]
fn no_common_esp_transform_fails_with_notify() {
    let mut p = Pair::new(
        host(HostConfig { esp_transforms: vec![Transform::Aes128Gcm16], ..HostConfig::default() }, 91),
        host(HostConfig { esp_transforms: vec![Transform::NullHmacSha256], ..HostConfig::default() }, 92),
    );
    p.connect(vec![(A4, B4)]);
    p.drive();
    assert!(matches!(p.a_events.as_slice(), [Event::Failed { reason: FailReason::NoCommonProposal, .. }]));
    assert!(matches!(
        p.b_events.as_slice(),
        [Event::Notified { message_type: NotifyMessageType::NoEspProposalChosen, .. }]
    ));
}

#[test]
fn close_and_close_ack() {
    let mut p = Pair::default_pair();
    p.connect(vec![(A4, B4)]);
    p.drive();
    let (ea, eb) = check_established(&p);
    let peer = hit(&p.b);
    p.a.close(p.now, None, peer).unwrap();
    p.drive_for(Duration::from_secs(1));
    let closed = |evs: &[Event]| {
        evs.iter()
            .filter_map(|e| match e {
                Event::Closed { inbound_spi, .. } => Some(*inbound_spi),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(closed(&p.a_events), [ea.inbound_spi]);
    assert_eq!(closed(&p.b_events), [eb.inbound_spi]);
    assert_eq!(p.a.association(p.now, &peer).unwrap().state, State::Closed);
    assert_eq!(p.b.association(p.now, &hit(&p.a)).unwrap().state, State::Closed);
    // CLOSED lingers, then both entries go; a new exchange then works.
    p.drive_for(Duration::from_secs(60));
    assert!(p.a.associations(p.now).is_empty() && p.b.associations(p.now).is_empty());
    p.a_events.clear();
    p.b_events.clear();
    p.connect(vec![(A4, B4)]);
    p.drive();
    check_established(&p);
}

#[test]
fn lost_close_ack_is_recovered() {
    let mut p = Pair::default_pair();
    p.connect(vec![(A4, B4)]);
    p.drive();
    let mut dropped = false;
    p.loss = Box::new(move |_, t| {
        if !dropped && ptype(t) == PacketType::CloseAck {
            dropped = true;
            return true;
        }
        false
    });
    let peer = hit(&p.b);
    p.a.close(p.now, None, peer).unwrap();
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.a.association(p.now, &peer).unwrap().state, State::Closed);
    assert_eq!(p.b.counters().sent[6], 2);
}

#[test]
fn forged_close_ack_rejected() {
    let mut p = Pair::default_pair();
    p.connect(vec![(A4, B4)]);
    p.drive();
    let peer = hit(&p.b);
    p.a.close(p.now, None, peer).unwrap();
    let close = one(&mut p.a);
    deliver(&mut p.b, p.now, &close);
    let ack = one(&mut p.b);
    let forged = rewrite(&ack, |pk| {
        if let Some(Param::EchoResponseSigned(e)) =
            pk.params.iter_mut().find(|x| matches!(x, Param::EchoResponseSigned(_)))
        {
            e.opaque[0] ^= 1;
        }
    });
    deliver(&mut p.a, p.now, &forged);
    // The nonce is under the MAC: the MAC check catches it first.
    assert_eq!(p.a.counters().dropped(DropReason::BadHipMac), 1);
    assert_eq!(p.a.association(p.now, &peer).unwrap().state, State::Closing);
    deliver(&mut p.a, p.now, &ack);
    assert_eq!(p.a.association(p.now, &peer).unwrap().state, State::Closed);
}

#[test]
fn unexpected_packets_counted() {
    let (mut a, mut b, now, i2) = up_to_i2(HostConfig::default());
    deliver(&mut b, now, &i2);
    let r2 = one(&mut b);
    // R2 delivered to the Responder itself: it has no I2-SENT association.
    deliver(&mut b, now, &Transmit { src: r2.dst, dst: r2.src, payload: r2.payload.clone() });
    // (wrong direction: the checksum still matches, HITs don't)
    assert_eq!(b.counters().dropped(DropReason::UnknownHit), 1);
    deliver(&mut a, now, &r2);
    deliver(&mut a, now, &r2);
    assert_eq!(a.counters().dropped(DropReason::UnexpectedPacket), 1);
}

#[test]
fn sessions_with_many_peers() {
    let mut b = host(HostConfig::default(), 500);
    let now = Instant::now();
    let mut peers = Vec::new();
    for i in 0..5u64 {
        let mut a = host(HostConfig::default(), 600 + i);
        a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
        deliver(&mut b, now, &one(&mut a));
        deliver(&mut a, now, &one(&mut b));
        deliver(&mut b, now, &one(&mut a));
        deliver(&mut a, now, &one(&mut b));
        assert_eq!(a.association(now, &hit(&b)).unwrap().state, State::Established);
        peers.push(a);
    }
    let list = b.associations(now);
    assert_eq!(list.len(), 5);
    let spis: HashSet<u32> = list.iter().map(|x| x.inbound_spi).collect();
    assert_eq!(spis.len(), 5);
    assert_eq!(b.counters().r1_generations, 1);
}

#[test]
fn esp_from_the_initiator_confirms_r2_sent() {
    let (mut a, mut b, now, i2) = up_to_i2(HostConfig::default());
    deliver(&mut b, now, &i2);
    deliver(&mut a, now, &one(&mut b));
    let ha = hit(&a);
    assert_eq!(b.association(now, &ha).unwrap().state, State::R2Sent);
    // ESP for another pair changes nothing.
    b.esp_received(now, ha, ha);
    assert_eq!(b.association(now, &ha).unwrap().state, State::R2Sent);
    b.esp_received(now, hit(&b), ha);
    assert_eq!(b.association(now, &ha).unwrap().state, State::Established);
    assert_eq!(b.poll_timeout(), b.locals[0].pool.next_rotation(b.config()));
}

// ---- EdDSA Ed25519 identities, HIT suite 5 EdDSA/cSHAKE128 (RFC 9374) ----

/// A Pair of hosts with these identities (ECDH P-256 and the default proposals).
fn pair_of(kind_a: HostIdKind, kind_b: HostIdKind, cfg: HostConfig) -> Pair {
    let a = HipHost::new(cfg.clone(), vec![identity(kind_a)], rng(41));
    let b = HipHost::new(cfg, vec![identity(kind_b)], rng(42));
    Pair::new(a, b)
}

/// The packets of a base exchange, captured as they are sent.
fn capture_bex(p: &mut Pair) -> Vec<HipPacket> {
    let mut seen = Vec::new();
    let log = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
    let sink = log.clone();
    p.loss = Box::new(move |_, t| {
        sink.borrow_mut().push(t.payload.clone());
        false
    });
    p.connect(vec![(A6, B6)]);
    p.drive();
    for bytes in log.borrow().iter() {
        seen.push(HipPacket::parse_bytes(bytes).unwrap());
    }
    seen
}

#[test]
fn base_exchange_ed25519_both_sides() {
    use crate::hip::crypto::HitSuite;
    use crate::hip::wire::param::suites::HitSuiteList;
    // A non-zero puzzle so that the cSHAKE128 RHASH is exercised at both ends.
    let cfg = HostConfig { puzzle_k: 6, ..HostConfig::default() };
    let mut p = pair_of(HostIdKind::Ed25519, HostIdKind::Ed25519, cfg);
    let (ha, hb) = (hit(&p.a), hit(&p.b));
    assert_eq!((ha.oga_id(), hb.oga_id()), (5, 5));
    assert!(ha.is_orchid() && hb.is_orchid());
    let pkts = capture_bex(&mut p);
    use PacketType::*;
    assert_eq!(pkts.iter().map(|x| x.packet_type).collect::<Vec<_>>(), [I1, R1, I2, R2]);
    // R1 offers EdDSA/cSHAKE128 first (its own suite), then the others we implement.
    let list = pkts[1].get::<HitSuiteList>().unwrap();
    assert_eq!(list.suite_ids().collect::<Vec<_>>(), [5, 1, 2]);
    // #I, #J and HIP_MAC have RHASH_len = 32 octets for this suite.
    assert_eq!(pkts[1].get::<Puzzle>().unwrap().random_i.len(), 32);
    assert_eq!(pkts[2].get::<HipMac>().unwrap().hmac.len(), 32);
    // HIP_SIGNATURE carries the Ed25519 signature (64 octets, algorithm 13).
    let sig = pkts[2].get::<HipSignature>().unwrap();
    assert_eq!((sig.algorithm, sig.signature.len()), (13, 64));
    check_established(&p);
    assert_eq!(p.a.counters().dropped_total() + p.b.counters().dropped_total(), 0);
    assert_eq!(p.a.locals[0].id.suite, HitSuite::EddsaCshake128);
}

#[test]
fn mixed_ed25519_initiator_ecdsa_responder() {
    let mut p = pair_of(HostIdKind::Ed25519, HostIdKind::EcdsaP256, HostConfig::default());
    let pkts = capture_bex(&mut p);
    // The Responder's suite (ECDSA/SHA-384) fixes RHASH: 48-octet HIP_MAC.
    assert_eq!(pkts[2].get::<HipMac>().unwrap().hmac.len(), 48);
    check_established(&p);
}

#[test]
fn mixed_ecdsa_initiator_ed25519_responder() {
    let cfg = HostConfig { hip_ciphers: vec![HipCipher::Aes256Cbc], ..HostConfig::default() };
    let mut p = pair_of(HostIdKind::EcdsaP384, HostIdKind::Ed25519, cfg);
    let pkts = capture_bex(&mut p);
    // The Responder's suite (EdDSA/cSHAKE128) fixes RHASH: KMAC128, 32 octets.
    assert_eq!(pkts[2].get::<HipMac>().unwrap().hmac.len(), 32);
    check_established(&p);
}

/// I1 -> R1 -> I2 between two Ed25519 hosts, for tampering.
fn ed25519_up_to_i2() -> (HipHost, HipHost, Instant, Transmit) {
    let mut a = HipHost::new(HostConfig::default(), vec![identity(HostIdKind::Ed25519)], rng(51));
    let mut b = HipHost::new(HostConfig::default(), vec![identity(HostIdKind::Ed25519)], rng(52));
    let now = Instant::now();
    a.initiate(now, None, hit(&b), vec![(A4, B4)]).unwrap();
    let i1 = one(&mut a);
    deliver(&mut b, now, &i1);
    let r1 = one(&mut b);
    deliver(&mut a, now, &r1);
    let i2 = one(&mut a);
    assert_eq!(ptype(&i2), PacketType::I2);
    (a, b, now, i2)
}

#[test]
fn ed25519_bad_signature_and_bad_kmac_rejected() {
    let (a, mut b, now, i2) = ed25519_up_to_i2();
    let bad = rewrite(&i2, |p| {
        if let Some(Param::HipSignature(HipSignature { signature, .. })) =
            p.params.iter_mut().find(|x| matches!(x, Param::HipSignature(_)))
        {
            signature[7] ^= 1;
        }
    });
    deliver(&mut b, now, &bad);
    assert_i2_rejected(&a, &mut b, now, DropReason::BadSignature);

    let (a, mut b, now, i2) = ed25519_up_to_i2();
    let bad = rewrite(&i2, |p| {
        if let Some(Param::HipMac(HipMac { hmac })) = p.params.iter_mut().find(|x| matches!(x, Param::HipMac(_))) {
            hmac[31] ^= 1;
        }
    });
    deliver(&mut b, now, &bad);
    let _notify = b.poll_transmit();
    assert_i2_rejected(&a, &mut b, now, DropReason::BadHipMac);
    // The genuine I2 is still accepted.
    deliver(&mut b, now, &i2);
    assert_eq!(b.counters().established, 1);
}

#[test]
fn mixed_rsa_initiator_ed25519_responder_modp() {
    // RSA meets Ed25519 over a MODP group; the Responder's suite 5 keys it.
    let cfg = HostConfig { dh_groups: DhGroupPreference(vec![DhGroupId::Modp2048]), ..HostConfig::default() };
    let mut p = pair_of(HostIdKind::Rsa2048, HostIdKind::Ed25519, cfg);
    let pkts = capture_bex(&mut p);
    assert_eq!(pkts[2].get::<HipMac>().unwrap().hmac.len(), 32);
    check_established(&p);
}

#[test]
fn association_moved_by_the_vpn_records_its_locators_without_signalling() {
    // The mobile VPN moves the SAs of a HIP-keyed association with its own
    // registration (seed 004): the core only records where they went.
    let mut p = Pair::default_pair();
    p.connect(vec![(A4, B4)]);
    p.drive();
    check_established(&p);
    let (ha, hb) = (hit(&p.a), hit(&p.b));
    let coa = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 23));
    let sent = p.log.len();
    assert_eq!(p.a.note_moved(&hb, Some(coa), None), 1);
    assert_eq!(p.b.note_moved(&ha, None, Some(coa)), 1);
    p.collect();
    assert_eq!(p.log.len(), sent, "no HIP packet for a move another protocol made");
    assert!(p.a_events.iter().chain(&p.b_events).all(|e| !matches!(e, Event::LocatorChanged { .. })));
    let (a, b) = (p.a.association(p.now, &hb).unwrap(), p.b.association(p.now, &ha).unwrap());
    assert_eq!((a.local_locator, a.peer_locator), (coa, B4));
    assert_eq!((b.local_locator, b.peer_locator), (B4, coa));
    // Nothing to record: unchanged, another family, nobody.
    assert_eq!(p.a.note_moved(&hb, Some(coa), Some(B4)), 0);
    assert_eq!(p.a.note_moved(&hb, Some(A6), None), 0);
    assert_eq!(p.a.note_moved(&ha, Some(A4), None), 0);
    // What the core sends later on the association goes to the new locator.
    p.a.close(p.now, None, hb).unwrap();
    let close = one(&mut p.a);
    assert_eq!((close.src, close.dst), (coa, B4));
}
