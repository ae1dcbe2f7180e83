//! Three hosts on a virtual network routed by address (so a host that
//! moves really stops receiving at its old address): registration with a
//! rendezvous server (RFC 8003), I1 relay with FROM / RVS_HMAC and R1 with
//! VIA_RVS (RFC 8004), mobility with UPDATE and the address check (RFC
//! 8046), and the forgeries each must reject.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use core::net::{IpAddr, Ipv4Addr};

use super::registration::{RegistrarConfig, lifetime_duration};
use super::tests::{hit, host};
use super::*;
use crate::hip::crypto::Hit;
use crate::hip::wire::param::auth::{HipMac, HipSignature};
use crate::hip::wire::param::locator::{Locator, LocatorSet, LocatorValue, TrafficType};
use crate::hip::wire::param::rvs::{RvsFrom, RvsHmac, ViaRvs};
use crate::hip::wire::{HipPacket, Packet, PacketType, Param};

pub(super) const INIT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));
const RVS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1));
pub(super) const RESP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 3, 1));
pub(super) const RESP_NEW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 4, 1));
pub(super) const NOWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 9, 9));

pub(super) type Tamper = Box<dyn FnMut(&Transmit) -> Option<Transmit>>;

/// Hosts with addresses; packets go to whoever holds the destination.
pub(super) struct Net {
    pub(super) hosts: Vec<(HipHost, Vec<IpAddr>)>,
    pub(super) events: Vec<Vec<Event>>,
    /// Every event in the order the hosts raised them: (host index, event).
    pub(super) event_log: Vec<(usize, Event)>,
    pub(super) now: Instant,
    latency: Duration,
    in_flight: Vec<(Instant, Transmit)>,
    /// Every packet sent: (sender index, type, packet).
    pub(super) log: Vec<(usize, PacketType, Transmit)>,
    /// Rewrite or drop (None) packets on the wire.
    pub(super) tamper: Tamper,
}

impl Net {
    pub(super) fn new(hosts: Vec<(HipHost, Vec<IpAddr>)>) -> Self {
        let n = hosts.len();
        Net {
            hosts,
            events: vec![Vec::new(); n],
            event_log: Vec::new(),
            now: Instant::now(),
            latency: Duration::from_millis(10),
            in_flight: Vec::new(),
            log: Vec::new(),
            tamper: Box::new(|t| Some(t.clone())),
        }
    }

    fn collect(&mut self) {
        for (i, (h, _)) in self.hosts.iter_mut().enumerate() {
            while let Some(t) = h.poll_transmit() {
                self.log.push((i, Packet::new_unchecked(&t.payload[..]).packet_type(), t.clone()));
                if let Some(t) = (self.tamper)(&t) {
                    self.in_flight.push((self.now + self.latency, t));
                }
            }
            while let Some(e) = h.poll_event() {
                self.event_log.push((i, e.clone()));
                self.events[i].push(e);
            }
        }
    }

    pub(super) fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.collect();
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let timers = self.hosts.iter().filter_map(|(h, _)| h.poll_timeout());
            let Some(next) = next_packet.into_iter().chain(timers).min().filter(|&n| n <= end) else { break };
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.0 <= now);
            self.in_flight = later;
            for (_, t) in due {
                if let Some((h, _)) = self.hosts.iter_mut().find(|(_, a)| a.contains(&t.dst)) {
                    h.handle_packet(now, t.src, t.dst, &t.payload);
                }
            }
            for (h, _) in &mut self.hosts {
                h.handle_timeout(now);
            }
        }
        self.now = self.now.max(end);
    }

    pub(super) fn sent(&self, from: usize, ty: PacketType) -> Vec<Transmit> {
        self.log.iter().filter(|(i, t, _)| *i == from && *t == ty).map(|(_, _, p)| p.clone()).collect()
    }

    pub(super) fn h(&mut self, i: usize) -> &mut HipHost {
        &mut self.hosts[i].0
    }
}

pub(super) fn registrar_cfg(allowed: Option<HashSet<Hit>>) -> HostConfig {
    HostConfig { registrar: Some(RegistrarConfig { allowed, ..RegistrarConfig::default() }), ..HostConfig::default() }
}

/// 0 = Initiator, 1 = RVS, 2 = Responder registered with the RVS.
pub(super) fn registered() -> Net {
    registered_with(HostConfig::default())
}

/// [`registered`] with the Initiator's settings `init`.
fn registered_with(init: HostConfig) -> Net {
    let responder = host(HostConfig::default(), 3);
    let rvs = host(registrar_cfg(Some([hit(&responder)].into())), 2);
    let rvs_hit = hit(&rvs);
    let mut net = Net::new(vec![(host(init, 1), vec![INIT]), (rvs, vec![RVS]), (responder, vec![RESP])]);
    let now = net.now;
    net.h(2).register(now, rvs_hit, vec![(RESP, RVS)], 100).unwrap();
    net.drive_for(Duration::from_secs(2));
    net
}

pub(super) fn parse(t: &Transmit) -> HipPacket {
    HipPacket::parse_bytes(&t.payload).unwrap()
}

#[test]
fn registration_in_the_base_exchange() {
    let net = registered();
    let r1 = parse(&net.sent(1, PacketType::R1)[0]);
    assert!(r1.get::<crate::hip::wire::param::registration::RegInfo>().is_some(), "R1 offers REG_INFO");
    let i2 = parse(&net.sent(2, PacketType::I2)[0]);
    assert_eq!(i2.get::<crate::hip::wire::param::registration::RegRequest>().unwrap().lifetime, 100);
    let r2 = parse(&net.sent(1, PacketType::R2)[0]);
    assert_eq!(r2.get::<crate::hip::wire::param::registration::RegResponse>().unwrap().reg_types, vec![1]);
    assert!(
        net.events[2]
            .iter()
            .any(|e| matches!(e, Event::Registered { lifetime, .. } if *lifetime == lifetime_duration(100)))
    );
    let regs = net.hosts[1].0.registrations(net.now);
    assert_eq!(regs.len(), 1);
    assert!(regs[0].registrar && regs[0].lifetime == 100 && regs[0].locator == Some(RESP));
    assert_eq!(net.hosts[1].0.counters().mobility.registrations_granted, 1);
}

#[test]
fn not_allowed_registration_fails_and_is_not_relayed() {
    let stranger = host(HostConfig::default(), 9);
    let rvs = host(registrar_cfg(Some(HashSet::new())), 2);
    let (rvs_hit, stranger_hit) = (hit(&rvs), hit(&stranger));
    let mut net =
        Net::new(vec![(host(HostConfig::default(), 1), vec![INIT]), (rvs, vec![RVS]), (stranger, vec![RESP])]);
    let now = net.now;
    net.h(2).register(now, rvs_hit, vec![(RESP, RVS)], 100).unwrap();
    net.drive_for(Duration::from_secs(2));
    assert!(net.events[2].iter().any(|e| matches!(e, Event::RegistrationFailed { failure_type: Some(0), .. })));
    assert_eq!(net.hosts[1].0.counters().mobility.registrations_refused, 1);
    assert!(net.hosts[1].0.registrations(net.now).is_empty());
    let now = net.now;
    net.h(0).initiate(now, None, stranger_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_secs(1));
    assert!(net.hosts[1].0.counters().dropped(DropReason::NotRegistered) >= 1);
    assert_eq!(net.hosts[1].0.counters().mobility.i1_relayed, 0);
}

#[test]
fn i1_relayed_with_from_and_rvs_hmac_r1_via_rvs_then_direct() {
    let mut net = registered();
    let resp_hit = hit(&net.hosts[2].0);
    let now = net.now;
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_secs(2));
    // The relayed I1: RVS -> Responder, FROM = the Initiator, RVS_HMAC.
    let relayed: Vec<_> = net.sent(1, PacketType::I1);
    assert_eq!(relayed.len(), 1);
    assert_eq!((relayed[0].src, relayed[0].dst), (RVS, RESP));
    let i1 = parse(&relayed[0]);
    assert_eq!(registration::from_wire(i1.get::<RvsFrom>().unwrap().address), INIT);
    assert!(i1.get::<RvsHmac>().is_some());
    // The R1 goes straight to the Initiator, naming the RVS.
    let r1 = net.sent(2, PacketType::R1);
    let r1 = r1.iter().find(|t| t.dst == INIT).expect("R1 to the Initiator");
    assert_eq!(r1.src, RESP);
    let via = parse(r1).get::<ViaRvs>().unwrap().addresses.clone();
    assert_eq!(via, vec![registration::to_wire(RVS)]);
    // I2 and everything after go directly.
    assert!(net.sent(0, PacketType::I2).iter().all(|t| t.dst == RESP));
    let a = net.hosts[0].0.association(net.now, &resp_hit).unwrap();
    assert_eq!((a.state, a.peer_locator), (State::Established, RESP));
    let c = &net.hosts[0].0.counters().mobility;
    assert_eq!(c.r1_via_rvs, 1);
    assert_eq!(net.hosts[1].0.counters().mobility.i1_relayed, 1);
    assert_eq!(net.hosts[2].0.counters().mobility.relayed_i1_answered, 1);
}

#[test]
fn relayed_i1_with_bad_rvs_hmac_is_dropped() {
    let mut net = registered();
    net.tamper = Box::new(|t| {
        if Packet::new_unchecked(&t.payload[..]).packet_type() != PacketType::I1 || t.src != RVS {
            return Some(t.clone());
        }
        let mut p = HipPacket::parse_bytes(&t.payload).unwrap();
        for q in p.params.iter_mut() {
            if let Param::RvsHmac(h) = q {
                h.hmac[0] ^= 1;
            }
        }
        let mut payload = p.to_bytes().unwrap();
        Packet::new_unchecked(&mut payload[..]).fill_checksum(t.src, t.dst).unwrap();
        Some(Transmit { payload, ..t.clone() })
    });
    let resp_hit = hit(&net.hosts[2].0);
    let now = net.now;
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_secs(1));
    assert!(net.hosts[2].0.counters().dropped(DropReason::BadRvsHmac) >= 1);
    assert!(net.sent(2, PacketType::R1).iter().all(|t| t.dst != INIT));
}

#[test]
fn r1_from_elsewhere_without_via_rvs_is_rejected() {
    let mut net = registered();
    // Strip VIA_RVS from the Responder's R1: the Initiator must not take it.
    net.tamper = Box::new(|t| {
        if Packet::new_unchecked(&t.payload[..]).packet_type() != PacketType::R1 || t.dst != INIT {
            return Some(t.clone());
        }
        let mut bytes = t.payload.clone();
        let n = bytes.len() - 24;
        bytes.truncate(n);
        let mut view = Packet::new_unchecked(&mut bytes[..]);
        view.set_header_length(u8::try_from(n / 8 - 1).unwrap());
        view.fill_checksum(t.src, t.dst).unwrap();
        Some(Transmit { payload: bytes, ..t.clone() })
    });
    let resp_hit = hit(&net.hosts[2].0);
    let now = net.now;
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_millis(300));
    assert!(net.hosts[0].0.counters().dropped(DropReason::UnexpectedPacket) >= 1);
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().state, State::I1Sent);
}

#[test]
fn registration_is_refreshed_with_update_and_expires_without() {
    let mut net = registered();
    let resp_hit = hit(&net.hosts[2].0);
    let life = lifetime_duration(100);
    net.drive_for(life.mul_f64(0.9));
    assert!(
        net.sent(2, PacketType::Update)
            .iter()
            .any(|t| parse(t).get::<crate::hip::wire::param::registration::RegRequest>().is_some())
    );
    let regs = net.hosts[1].0.registrations(net.now);
    assert!(regs[0].remaining > life.mul_f64(0.5), "refreshed: {regs:?}");
    assert!(net.events[2].iter().filter(|e| matches!(e, Event::Registered { .. })).count() >= 2);
    // The client goes away: the registration lapses and I1s are no longer relayed.
    net.hosts[2].1.clear();
    net.tamper = Box::new(|t| (t.src != RESP).then(|| t.clone()));
    net.drive_for(life * 2);
    assert!(net.hosts[1].0.registrations(net.now).is_empty());
    let now = net.now;
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_millis(100));
    assert!(net.hosts[1].0.counters().dropped(DropReason::NotRegistered) >= 1);
}

/// Initiator and Responder established directly; the RVS idle.
pub(super) fn established_pair() -> Net {
    established_pair_with(HostConfig::default())
}

/// [`established_pair`] with the Initiator's settings `init`.
pub(super) fn established_pair_with(init: HostConfig) -> Net {
    let mut net = registered_with(init);
    let resp_hit = hit(&net.hosts[2].0);
    let now = net.now;
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RESP)]).unwrap();
    net.drive_for(Duration::from_secs(2));
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().state, State::Established);
    net.events.iter_mut().for_each(Vec::clear);
    net.event_log.clear();
    net.log.clear();
    net
}

fn moved(evs: &[Event]) -> Vec<(IpAddr, IpAddr)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::LocatorChanged { local_locator, peer_locator, .. } => Some((*local_locator, *peer_locator)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_peer_s_update_goes_out_before_the_rvs_s() {
    let mut net = established_pair();
    let (init_hit, rvs_hit) = (hit(&net.hosts[0].0), hit(&net.hosts[1].0));
    let keys = net.hosts[2].0.stranded(&[RESP_NEW]);
    let resp = hit(&net.hosts[2].0);
    assert_eq!(keys, vec![(resp, init_hit), (resp, rvs_hit)], "data peers first, registrars last");
    assert!(net.hosts[2].0.stranded(&[RESP, RESP_NEW]).is_empty(), "the old address is still there");
    let now = net.now;
    assert!(net.h(2).update_locator(now, keys[0], &[RESP_NEW]));
    assert!(!net.h(2).update_locator(now, keys[0], &[RESP_NEW]), "moved already");
    let first = net.h(2).poll_transmit().unwrap();
    assert_eq!((first.src, first.dst), (RESP_NEW, INIT));
    assert!(net.h(2).poll_transmit().is_none(), "the RVS's UPDATE is not signed yet");
}

#[test]
fn move_updates_peer_and_rvs_after_the_address_check() {
    let mut net = established_pair();
    let resp_hit = hit(&net.hosts[2].0);
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    assert_eq!(net.h(2).update_locators(now, &[RESP_NEW]), 2, "the peer and the RVS");
    net.drive_for(Duration::from_secs(1));
    // Mover: moved its own end at once.
    assert!(moved(&net.events[2]).contains(&(RESP_NEW, INIT)));
    // Peer: UPDATE(SEQ, ACK, ECHO_REQUEST) went to the new address, then moved.
    let checks: Vec<_> = net.sent(0, PacketType::Update);
    assert_eq!(checks.len(), 1, "one address check, no retransmission");
    assert_eq!(checks[0].dst, RESP_NEW);
    assert!(parse(&checks[0]).get::<crate::hip::wire::param::echo::EchoRequestSigned>().is_some());
    assert_eq!(moved(&net.events[0]), vec![(INIT, RESP_NEW)]);
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP_NEW);
    // Three UPDATEs per peer (RFC 8046 §3.2.1).
    assert_eq!(net.sent(2, PacketType::Update).len(), 4);
    // The RVS follows too, so relayed I1s reach the new address.
    let regs = net.hosts[1].0.registrations(net.now);
    assert_eq!(regs[0].locator, Some(RESP_NEW));
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.address_checks_failed), (1, 1, 0));
}

#[test]
fn lost_update_is_retransmitted() {
    let mut net = established_pair();
    let mut dropped = false;
    net.tamper = Box::new(move |t| {
        if !dropped && Packet::new_unchecked(&t.payload[..]).packet_type() == PacketType::Update {
            dropped = true;
            return None;
        }
        Some(t.clone())
    });
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    net.h(2).update_locators(now, &[RESP_NEW]);
    net.drive_for(Duration::from_secs(3));
    assert!(net.hosts[2].0.counters().mobility.update_retransmits >= 1);
    let resp_hit = hit(&net.hosts[2].0);
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP_NEW);
}

/// Flip a bit of the named authentication parameter of the mover's first UPDATE.
fn forge(which: u16) -> Tamper {
    Box::new(move |t| {
        if Packet::new_unchecked(&t.payload[..]).packet_type() != PacketType::Update || t.src != RESP_NEW {
            return Some(t.clone());
        }
        let mut p = HipPacket::parse_bytes(&t.payload).unwrap();
        if p.get::<LocatorSet>().is_none() {
            return Some(t.clone());
        }
        for q in p.params.iter_mut() {
            match q {
                Param::HipMac(m) if which == HipMac::TYPE => m.hmac[0] ^= 1,
                Param::HipSignature(s) if which == HipSignature::TYPE => s.signature[5] ^= 1,
                _ => {}
            }
        }
        let mut payload = p.to_bytes().unwrap();
        Packet::new_unchecked(&mut payload[..]).fill_checksum(t.src, t.dst).unwrap();
        Some(Transmit { payload, ..t.clone() })
    })
}

use crate::hip::wire::param::ParamRepr;

#[test]
fn forged_updates_change_nothing_and_are_counted() {
    for (which, reason) in [(HipMac::TYPE, DropReason::BadHipMac), (HipSignature::TYPE, DropReason::BadSignature)] {
        let mut net = established_pair();
        net.tamper = forge(which);
        net.hosts[2].1 = vec![RESP_NEW];
        let now = net.now;
        net.h(2).update_locators(now, &[RESP_NEW]);
        net.drive_for(Duration::from_secs(1));
        let resp_hit = hit(&net.hosts[2].0);
        assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP);
        assert!(net.hosts[0].0.counters().dropped(reason) >= 1, "{reason}");
        assert!(net.sent(0, PacketType::Update).is_empty(), "no answer to a forgery");
        assert!(moved(&net.events[0]).is_empty());
    }
}

#[test]
fn locator_failing_the_address_check_is_not_used() {
    let mut net = established_pair();
    let resp_hit = hit(&net.hosts[2].0);
    // The Responder announces an address nobody holds (as a redirection
    // attack would): the echo never comes back.
    let now = net.now;
    let key = (hit(&net.hosts[2].0), hit(&net.hosts[0].0));
    let set = LocatorSet {
        locators: vec![Locator {
            traffic_type: TrafficType::Both,
            preferred: true,
            lifetime: 120,
            value: LocatorValue::Address(registration::to_wire(NOWHERE)),
        }],
    };
    net.h(2).send_update(now, key, vec![set.into()], None, None).unwrap();
    net.drive_for(Duration::from_secs(40));
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.address_checks_failed), (1, 0, 1));
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP);
    assert!(moved(&net.events[0]).is_empty());
    assert!(net.sent(0, PacketType::Update).iter().all(|t| t.dst == NOWHERE));
}

#[test]
fn wrong_echo_response_is_rejected() {
    let mut net = established_pair();
    net.tamper = Box::new(|t| {
        let mut p = HipPacket::parse_bytes(&t.payload).unwrap();
        let mut changed = false;
        for q in p.params.iter_mut() {
            if let Param::EchoResponseSigned(e) = q {
                e.opaque[0] ^= 1;
                changed = true;
            }
        }
        if !changed {
            return Some(t.clone());
        }
        // Re-signing is impossible for an attacker; here the MAC breaks
        // first, which is the point: the echo is covered.
        let mut payload = p.to_bytes().unwrap();
        Packet::new_unchecked(&mut payload[..]).fill_checksum(t.src, t.dst).unwrap();
        Some(Transmit { payload, ..t.clone() })
    });
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    net.h(2).update_locators(now, &[RESP_NEW]);
    net.drive_for(Duration::from_secs(1));
    let resp_hit = hit(&net.hosts[2].0);
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP);
    assert!(net.hosts[0].0.counters().dropped(DropReason::BadHipMac) >= 1);
}

#[test]
fn rebex_after_a_move_replaces_the_association_from_the_new_address() {
    let mut net = established_pair();
    let (resp_hit, init_hit) = (hit(&net.hosts[2].0), hit(&net.hosts[0].0));
    let old_spi = net.hosts[0].0.association(net.now, &resp_hit).unwrap().outbound_spi;
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    assert_eq!(net.h(2).restart_moved(now, &[RESP_NEW]), 2, "the peer and the RVS");
    net.drive_for(Duration::from_secs(2));
    assert!(net.events[2].iter().any(|e| matches!(e, Event::Closed { peer_hit, .. } if *peer_hit == init_hit)));
    let a = net.hosts[0].0.association(net.now, &resp_hit).unwrap();
    // The peer is now the Responder: R2-SENT until the first ESP.
    assert_eq!((a.state, a.peer_locator), (State::R2Sent, RESP_NEW));
    assert_ne!(a.outbound_spi, old_spi, "new SAs");
    assert!(net.sent(2, PacketType::Update).is_empty(), "no UPDATE in this mode");
    // The RVS registration was renewed in the new base exchange.
    assert_eq!(net.hosts[1].0.registrations(net.now)[0].locator, Some(RESP_NEW));
}

#[test]
fn double_jump_recovers_through_the_rvs() {
    const INIT_NEW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 6, 1));
    let mut net = registered();
    let resp_hit = hit(&net.hosts[2].0);
    let now = net.now;
    // The Initiator knows the Responder only by its RVS.
    net.h(0).initiate(now, None, resp_hit, vec![(INIT, RVS)]).unwrap();
    net.drive_for(Duration::from_secs(2));
    assert_eq!(net.hosts[0].0.association(net.now, &resp_hit).unwrap().peer_locator, RESP);
    // Both move at once: each one's UPDATE goes to the other's old address.
    net.hosts[0].1 = vec![INIT_NEW];
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    net.h(0).update_locators(now, &[INIT_NEW]);
    net.h(2).update_locators(now, &[RESP_NEW]);
    net.drive_for(Duration::from_secs(5));
    let a = net.hosts[0].0.association(net.now, &resp_hit).unwrap();
    assert_eq!((a.state, a.local_locator, a.peer_locator), (State::Established, INIT_NEW, RESP_NEW));
    assert_eq!(net.hosts[0].0.counters().mobility.rvs_recoveries, 1);
    // The new exchange went through the RVS (its second relayed I1).
    assert_eq!(net.hosts[1].0.counters().mobility.i1_relayed, 2);
    let b = net.hosts[2].0.association(net.now, &hit(&net.hosts[0].0)).unwrap();
    assert_eq!(b.peer_locator, INIT_NEW);
}
