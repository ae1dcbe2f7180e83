//! Rekeying by UPDATE (RFC 7402 §6.8 - §6.10) between two hosts on the
//! virtual network of `mobility_tests`, with a model of each host's ESP
//! datapath fed by the Rekeyed events: both ends derive the same new keys
//! (from a new Diffie-Hellman by default), no host ever sends on an SA its
//! peer lacks, forgeries change nothing, crossing rekeys resolve to one.

use std::collections::HashMap;
use std::time::Duration;

use super::event::{RekeyStep, Rekeyed};
use super::mobility_tests::{INIT, Net, RESP, parse};
use super::tests::{hit, host};
use super::*;
use crate::hip::crypto::Hit;
use crate::hip::wire::PacketType;
use crate::hip::wire::param::ParamRepr;
use crate::hip::wire::param::dh::DiffieHellman;
use crate::hip::wire::param::esp::EspInfo;
use crate::hip::wire::param::update::{Ack, Seq};

/// One host's SAs as its ESP datapath would hold them.
#[derive(Default, Debug)]
struct Datapath {
    /// SPI -> key (None: installed before the model started).
    inbound: HashMap<u32, Option<Vec<u8>>>,
    outbound: (u32, Option<Vec<u8>>),
    /// Inbound SAs replaced by a switch (the daemon keeps them a while).
    retired: Vec<u32>,
}

/// The two hosts after a base exchange (0 = Initiator at INIT, 1 =
/// Responder at RESP) and their datapaths, keys from the Established events.
fn pair() -> (Net, [Datapath; 2]) {
    let mut net =
        Net::new(vec![(host(HostConfig::default(), 1), vec![INIT]), (host(HostConfig::default(), 3), vec![RESP])]);
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).initiate(now, None, resp, vec![(INIT, RESP)]).unwrap();
    net.drive_for(Duration::from_secs(2));
    let mut dp: [Datapath; 2] = Default::default();
    for (i, ev) in &net.event_log {
        if let Event::Established(e) = ev {
            dp[*i].inbound = [(e.inbound_spi, Some(e.inbound_key.to_vec()))].into();
            dp[*i].outbound = (e.outbound_spi, Some(e.outbound_key.to_vec()));
        }
    }
    assert!(dp.iter().all(|d| d.outbound.1.is_some()), "both established");
    net.events.iter_mut().for_each(Vec::clear);
    net.event_log.clear();
    net.log.clear();
    (net, dp)
}

fn rekey_steps(evs: &[Event]) -> Vec<Rekeyed> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Rekeyed(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

/// Replay the rekey events in the order they were raised, checking the
/// invariant the ordering exists for: an outbound switch only to an SA
/// the peer already opens, with the same key.
fn replay(net: &Net, dp: &mut [Datapath; 2]) {
    for (i, ev) in &net.event_log {
        let Event::Rekeyed(r) = ev else { continue };
        let (me, peer) = (*i, 1 - *i);
        match &r.step {
            RekeyStep::AddInbound { spi, key } => {
                assert!(dp[me].inbound.insert(*spi, Some(key.to_vec())).is_none(), "inbound {spi:#x} added twice");
            }
            RekeyStep::SwitchOutbound { spi, key, old_outbound_spi, old_inbound_spi, new_inbound_spi } => {
                assert_eq!(dp[me].outbound.0, *old_outbound_spi, "host {me} switches from an SA it does not use");
                assert!(dp[me].inbound.contains_key(new_inbound_spi), "switch before the new inbound SA");
                assert_eq!(
                    dp[peer].inbound.get(spi),
                    Some(&Some(key.to_vec())),
                    "host {me} switched to {spi:#x} before its peer could open it"
                );
                dp[me].outbound = (*spi, Some(key.to_vec()));
                assert!(dp[me].inbound.contains_key(old_inbound_spi));
                dp[me].retired.push(*old_inbound_spi);
            }
            RekeyStep::DropInbound { spi } => {
                assert!(dp[me].inbound.remove(spi).is_some());
            }
        }
    }
}

/// Both sessions agree with each other and with the datapaths.
fn assert_agree(net: &Net, dp: &[Datapath; 2]) -> (u32, u32) {
    let (h0, h1) = (hit(&net.hosts[0].0), hit(&net.hosts[1].0));
    let a = net.hosts[0].0.association(net.now, &h1).unwrap();
    let b = net.hosts[1].0.association(net.now, &h0).unwrap();
    assert_eq!((a.inbound_spi, a.outbound_spi), (b.outbound_spi, b.inbound_spi), "the two ends disagree");
    assert_eq!(dp[0].outbound.0, a.outbound_spi);
    assert_eq!(dp[1].outbound.0, b.outbound_spi);
    for (me, peer) in [(0, 1), (1, 0)] {
        let (spi, key) = &dp[me].outbound;
        assert_eq!(dp[peer].inbound.get(spi), Some(key), "host {me}'s outbound key is not its peer's inbound key");
    }
    (a.inbound_spi, a.outbound_spi)
}

fn updates(net: &Net, from: usize) -> Vec<crate::hip::wire::HipPacket> {
    net.sent(from, PacketType::Update).iter().map(parse).collect()
}

/// The offset of the first parameter of type `ty` in a HIP packet.
fn param_at(bytes: &[u8], ty: u16) -> Option<usize> {
    let mut at = 40;
    while at + 4 <= bytes.len() {
        let t = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if t == ty {
            return Some(at);
        }
        at += (4 + len).div_ceil(8) * 8;
    }
    None
}

/// Flip a bit of the DIFFIE_HELLMAN public value in UPDATEs from `src`
/// (checksum recomputed, as a forger would).
fn tamper_dh(src: core::net::IpAddr) -> super::mobility_tests::Tamper {
    Box::new(move |t: &Transmit| {
        let mut t = t.clone();
        if t.src == src
            && let Some(at) = param_at(&t.payload, DiffieHellman::TYPE)
        {
            t.payload[at + 4 + 3 + 5] ^= 0x01;
            crate::hip::wire::Packet::new_unchecked(&mut t.payload[..]).fill_checksum(t.src, t.dst).unwrap();
        }
        Some(t)
    })
}

#[test]
fn rekey_with_new_dh_gives_both_sides_identical_new_keys() {
    let (mut net, mut dp) = pair();
    let old = (dp[0].outbound.1.clone(), dp[1].outbound.1.clone());
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(2));
    // UPDATE(ESP_INFO, SEQ, DIFFIE_HELLMAN), UPDATE(ESP_INFO, SEQ, ACK,
    // DIFFIE_HELLMAN), UPDATE(ACK); nothing retransmitted.
    let (u0, u1) = (updates(&net, 0), updates(&net, 1));
    assert_eq!((u0.len(), u1.len()), (2, 1), "{u0:?} {u1:?}");
    let (req, ans, ack) = (&u0[0], &u1[0], &u0[1]);
    for (p, what) in [(req, "request"), (ans, "answer")] {
        let info = p.get::<EspInfo>().unwrap();
        assert_eq!(info.keymat_index, 0, "{what}: RFC 7402 §5.1.1, Keymat Index 0 with a new DH");
        assert_ne!(info.old_spi, info.new_spi);
        assert!(p.get::<DiffieHellman>().is_some_and(|d| d.public_value.len() == 96), "{what} carries DH (P-384)");
        assert!(p.get::<Seq>().is_some());
    }
    assert!(ans.get::<Ack>().is_some());
    assert!(ack.get::<Ack>().is_some() && ack.get::<Seq>().is_none() && ack.get::<EspInfo>().is_none());
    assert_ne!(req.get::<DiffieHellman>(), ans.get::<DiffieHellman>());
    replay(&net, &mut dp);
    let (spi_in, spi_out) = assert_agree(&net, &dp);
    assert_eq!(spi_in, req.get::<EspInfo>().unwrap().new_spi);
    assert_eq!(spi_out, ans.get::<EspInfo>().unwrap().new_spi);
    // New keys, not the old ones: in both directions, and not each other.
    assert_ne!(dp[0].outbound.1, old.0);
    assert_ne!(dp[1].outbound.1, old.1);
    assert_ne!(dp[0].outbound.1, dp[1].outbound.1);
    for h in [&net.hosts[0].0, &net.hosts[1].0] {
        let m = &h.counters().mobility;
        assert_eq!((m.rekeys, m.rekeys_new_dh), (1, 1));
    }
    assert_eq!(net.hosts[0].0.counters().mobility.rekeys_started, 1);
    // Each side retired exactly its old inbound SA.
    assert_eq!(dp[0].retired.len() + dp[1].retired.len(), 2);
    // And again, from the other end: fresh keys again.
    let first = dp[0].outbound.1.clone();
    net.event_log.clear();
    let (now, init) = (net.now, hit(&net.hosts[0].0));
    net.h(1).rekey(now, init, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(2));
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
    assert_ne!(dp[0].outbound.1, first);
    assert_eq!(net.hosts[0].0.counters().mobility.rekeys_new_dh, 2);
}

#[test]
fn rekey_from_keymat_when_asked_and_new_dh_once_it_is_used_up() {
    let (mut net, mut dp) = pair();
    let old = dp[0].outbound.1.clone();
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::Keymat).unwrap();
    net.drive_for(Duration::from_secs(2));
    let req = &updates(&net, 0)[0];
    assert!(req.get::<DiffieHellman>().is_none(), "the KEYMAT variant carries no DH");
    assert!(req.get::<EspInfo>().unwrap().keymat_index > 0);
    assert!(updates(&net, 1)[0].get::<DiffieHellman>().is_none());
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
    assert_ne!(dp[0].outbound.1, old);
    assert_eq!(net.hosts[0].0.counters().mobility.rekeys_new_dh, 0);
    // Use up the KEYMAT (RFC 7402 §6.8: then a new DH is needed).
    let init = hit(&net.hosts[0].0);
    for h in [0, 1] {
        let peer = if h == 0 { resp } else { init };
        let a = net.h(h).assocs.values_mut().find(|a| a.peer_hit == peer).unwrap();
        let s = a.session.as_mut().unwrap();
        let max = 255 * s.suite.rhash_len();
        s.keymat.set_index(max - 10).unwrap();
    }
    net.log.clear();
    net.event_log.clear();
    let now = net.now;
    net.h(0).rekey(now, resp, RekeyKeying::Keymat).unwrap();
    net.drive_for(Duration::from_secs(2));
    let req = &updates(&net, 0)[0];
    assert!(req.get::<DiffieHellman>().is_some(), "a used-up KEYMAT forces a new DH");
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
    assert_eq!(net.hosts[1].0.counters().mobility.rekeys_new_dh, 1);
}

#[test]
fn tampered_dh_changes_nothing_and_is_counted() {
    let (mut net, mut dp) = pair();
    let before = assert_agree(&net, &dp);
    net.tamper = tamper_dh(INIT);
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_millis(1200));
    // HIP_MAC covers DIFFIE_HELLMAN: every copy (retransmissions too) dropped.
    let b = &net.hosts[1].0;
    assert!(b.counters().dropped(DropReason::BadHipMac) >= 2, "{:?}", b.counters());
    assert!(rekey_steps(&net.events[1]).is_empty(), "a forged DH changed the answerer's SAs");
    assert_eq!(assert_agree(&net, &dp), before);
    // The genuine UPDATE (a retransmission) then goes through.
    net.tamper = Box::new(|t| Some(t.clone()));
    net.drive_for(Duration::from_secs(5));
    replay(&net, &mut dp);
    assert_ne!(assert_agree(&net, &dp), before);
    assert_eq!(net.hosts[1].0.counters().mobility.rekeys_new_dh, 1);
}

#[test]
fn tampered_answer_changes_nothing_and_the_answerer_gives_up() {
    let (mut net, mut dp) = pair();
    let before = assert_agree(&net, &dp);
    net.tamper = tamper_dh(RESP);
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(60));
    assert!(net.hosts[0].0.counters().dropped(DropReason::BadHipMac) >= 2);
    assert!(rekey_steps(&net.events[0]).is_empty(), "a forged answer changed the Initiator's SAs");
    // The answerer added its inbound SA, never switched, and took it back.
    let steps: Vec<_> = rekey_steps(&net.events[1]).into_iter().map(|r| r.step).collect();
    assert!(matches!(steps[..], [RekeyStep::AddInbound { .. }, RekeyStep::DropInbound { .. }]), "{steps:?}");
    replay(&net, &mut dp);
    assert_eq!(assert_agree(&net, &dp), before);
    assert_eq!(dp[1].inbound.len(), 1);
    // Both can rekey again.
    net.tamper = Box::new(|t| Some(t.clone()));
    net.event_log.clear();
    let now = net.now;
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(2));
    replay(&net, &mut dp);
    assert_ne!(assert_agree(&net, &dp), before);
}

#[test]
fn crossing_rekeys_resolve_to_the_lower_hits() {
    let (mut net, mut dp) = pair();
    let (h0, h1) = (hit(&net.hosts[0].0), hit(&net.hosts[1].0));
    let now = net.now;
    net.h(0).rekey(now, h1, RekeyKeying::NewDh).unwrap();
    net.h(1).rekey(now, h0, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(3));
    let (winner, loser) = if h0 < h1 { (0, 1) } else { (1, 0) };
    assert_eq!(net.hosts[winner].0.counters().dropped(DropReason::RekeyCollision), 1);
    assert_eq!(net.hosts[loser].0.counters().dropped(DropReason::RekeyCollision), 0);
    for h in [&net.hosts[0].0, &net.hosts[1].0] {
        assert_eq!(h.counters().mobility.rekeys, 1, "exactly one rekey completes");
    }
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
    // The winner's proposal is what both use.
    let winner_req = updates(&net, winner)[0].get::<EspInfo>().copied().unwrap();
    let winner_peer = if winner == 0 { h1 } else { h0 };
    assert_eq!(net.hosts[winner].0.association(net.now, &winner_peer).unwrap().inbound_spi, winner_req.new_spi);
    // Nothing left in flight: a further rekey from either end works.
    net.event_log.clear();
    let now = net.now;
    net.h(loser).rekey(now, if loser == 0 { h1 } else { h0 }, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_secs(2));
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
}

#[test]
fn lost_ack_the_answerer_switches_on_the_first_esp_of_the_new_sa() {
    let (mut net, mut dp) = pair();
    // Every UPDATE from the Initiator after its request is lost (the ACKs).
    let mut seen = 0;
    net.tamper = Box::new(move |t: &Transmit| {
        if t.src == INIT && crate::hip::wire::Packet::new_unchecked(&t.payload[..]).packet_type() == PacketType::Update
        {
            seen += 1;
            if seen > 1 {
                return None;
            }
        }
        Some(t.clone())
    });
    let (now, resp, init) = (net.now, hit(&net.hosts[1].0), hit(&net.hosts[0].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    net.drive_for(Duration::from_millis(300));
    // The Initiator switched; the answerer added its SA but waits.
    assert_eq!(rekey_steps(&net.events[0]).len(), 2);
    let steps = rekey_steps(&net.events[1]);
    let [Rekeyed { step: RekeyStep::AddInbound { spi, .. }, .. }] = &steps[..] else { panic!("{steps:?}") };
    let spi = *spi;
    // ESP on another SA proves nothing; on the new one it does.
    let now = net.now;
    net.h(1).esp_received_on(now, resp, init, spi ^ 1);
    assert!(net.h(1).poll_event().is_none());
    net.h(1).esp_received_on(now, resp, init, spi);
    net.drive_for(Duration::from_millis(10));
    replay(&net, &mut dp);
    assert_agree(&net, &dp);
    assert_eq!(net.hosts[1].0.counters().mobility.rekeys, 1);
}

#[test]
fn a_second_rekey_waits_for_the_first() {
    let (mut net, _) = pair();
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    assert_eq!(net.h(0).rekey(now, resp, RekeyKeying::NewDh), Err(InitiateError::RekeyInProgress(resp.to_ipv6())));
    let stranger = Hit::from(core::net::Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 9));
    assert_eq!(
        net.h(0).rekey(now, stranger, RekeyKeying::NewDh),
        Err(InitiateError::NotEstablished(stranger.to_ipv6()))
    );
}

/// Rekeys from either end at random moments over a lossy network (one
/// packet in eight lost, seeded): whatever crosses or is lost, no host
/// switches to an SA its peer lacks, and once the network is quiet again
/// both ends agree on one pair whose keys match.
#[test]
fn random_rekeys_over_a_lossy_network_converge() {
    for seed in 1..=64u64 {
        let (mut net, mut dp) = pair();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut lose = super::tests::rng(seed);
        net.tamper = Box::new(move |t: &Transmit| {
            let mut b = [0u8; 1];
            lose(&mut b);
            (b[0] >= 32).then(|| t.clone())
        });
        let hits = [hit(&net.hosts[0].0), hit(&net.hosts[1].0)];
        for _ in 0..8 {
            let who = (next() % 2) as usize;
            let keying = if next() % 3 == 0 { RekeyKeying::Keymat } else { RekeyKeying::NewDh };
            let now = net.now;
            // Refused while one is under way: fine.
            let _ = net.h(who).rekey(now, hits[1 - who], keying);
            net.drive_for(Duration::from_millis(next() % 400));
        }
        net.tamper = Box::new(|t| Some(t.clone()));
        net.drive_for(Duration::from_secs(70));
        replay(&net, &mut dp);
        assert_agree(&net, &dp);
        let (c0, c1) = (net.hosts[0].0.counters(), net.hosts[1].0.counters());
        assert_eq!(c0.mobility.rekeys, c1.mobility.rekeys, "seed {seed}");
        assert!(c0.mobility.rekeys >= 1, "seed {seed}: no rekey completed");
    }
}

/// A peer that ACKs our rekey UPDATE without an ESP_INFO (it does not
/// rekey): the rekey is over, nothing changed, and the next one can start.
#[test]
fn a_rekey_acked_without_esp_info_is_over() {
    let (mut net, dp) = pair();
    let before = assert_agree(&net, &dp);
    let (now, resp) = (net.now, hit(&net.hosts[1].0));
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
    let req = net.h(0).poll_transmit().unwrap();
    let id = parse(&req).get::<Seq>().unwrap().update_id;
    // What a peer that does not rekey answers: UPDATE(ACK), authentic
    // (sealed with the Responder's own keys), in place of the real answer.
    let init = hit(&net.hosts[0].0);
    let ack = {
        let b = net.h(1);
        let key = (resp, init);
        let a = b.assocs.get(&key).unwrap();
        let s = a.session.as_ref().unwrap();
        let pkt = crate::hip::wire::HipPacket {
            next_header: crate::hip::wire::NEXT_HEADER_NONE,
            packet_type: PacketType::Update,
            controls: 0,
            sender_hit: resp.to_ipv6(),
            receiver_hit: init.to_ipv6(),
            params: vec![Ack { peer_update_ids: vec![id] }.into()],
        };
        let mac = super::seal::MacSpec {
            kind: super::seal::MacKind::Mac,
            suite: s.suite,
            key: &s.hip_keys.outbound.integrity,
        };
        let mut bytes = super::seal::seal(pkt, Some(mac), Some((&b.locals[0].id, super::seal::SigKind::Sig))).unwrap();
        crate::hip::wire::Packet::new_unchecked(&mut bytes[..]).fill_checksum(RESP, INIT).unwrap();
        bytes
    };
    net.h(0).handle_packet(now, RESP, INIT, &ack);
    assert!(net.h(0).poll_event().is_none(), "nothing changes");
    assert_eq!(assert_agree(&net, &dp), before);
    // Not stuck: the next rekey starts.
    net.h(0).rekey(now, resp, RekeyKeying::NewDh).unwrap();
}
