//! Credit-based authorization in the core (RFC 8046 §3.3.2, §5.5), on the
//! virtual network of `mobility_tests`: the Initiator (0) is the peer that
//! checks the Responder's (2) new locator.

use std::time::Duration;

use core::net::IpAddr;

use super::mobility_tests::{INIT, NOWHERE, Net, RESP, RESP_NEW, established_pair_with};
use super::tests::hit;
use super::*;
use crate::hip::crypto::Hit;
use crate::hip::wire::PacketType;
use crate::hip::wire::param::locator::{Locator, LocatorSet, LocatorValue, TrafficType};

fn cba() -> HostConfig {
    HostConfig { credit: Some(CreditConfig::default()), ..HostConfig::default() }
}

/// (peer locator, credit) of every LocatorChanged the peer (host 0) raised.
fn moves(net: &Net) -> Vec<(IpAddr, Option<u64>)> {
    net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::LocatorChanged { local_locator, peer_locator, credit, .. } => {
                assert_eq!(*local_locator, INIT);
                Some((*peer_locator, *credit))
            }
            _ => None,
        })
        .collect()
}

/// The peer's view of the Responder: (its HIT, our inbound SPI).
fn peer_sa(net: &Net) -> (Hit, Hit, u32) {
    let resp = hit(&net.hosts[2].0);
    let a = net.hosts[0].0.association(net.now, &resp).unwrap();
    (hit(&net.hosts[0].0), resp, a.inbound_spi)
}

/// The Responder moves to RESP_NEW and announces it.
fn move_responder(net: &mut Net) {
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    assert_eq!(net.h(2).update_locators(now, &[RESP_NEW]), 2);
}

#[test]
fn strict_by_default_no_data_before_the_echo() {
    let mut net = established_pair_with(HostConfig::default());
    let (l, p, spi) = peer_sa(&net);
    let now = net.now;
    net.h(0).observe_received(now, l, p, spi, 50_000);
    move_responder(&mut net);
    // The UPDATE has arrived (10 ms), the echo not yet (30 ms).
    net.drive_for(Duration::from_millis(15));
    assert!(moves(&net).is_empty(), "nothing moves while the check runs");
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moves(&net), vec![(RESP_NEW, None)]);
    assert_eq!(net.hosts[0].0.counters().mobility.credit_grants, 0);
}

#[test]
fn credit_allows_data_during_the_check_then_unlimited_after_the_echo() {
    let mut net = established_pair_with(cba());
    let (l, p, spi) = peer_sa(&net);
    let now = net.now;
    net.h(0).observe_received(now, l, p, spi, 3000);
    // Another SPI (not this association's SA) earns nothing.
    net.h(0).observe_received(now, l, p, spi ^ 1, 1_000_000);
    move_responder(&mut net);
    net.drive_for(Duration::from_millis(15));
    // At once, before the echo: the datapath may send 3000 bytes there.
    assert_eq!(moves(&net), vec![(RESP_NEW, Some(3000))]);
    let resp = hit(&net.hosts[2].0);
    assert_eq!(net.hosts[0].0.association(net.now, &resp).unwrap().peer_locator, RESP, "not verified yet");
    // The echo verifies: unlimited.
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moves(&net), vec![(RESP_NEW, Some(3000)), (RESP_NEW, None)]);
    assert_eq!(net.hosts[0].0.association(net.now, &resp).unwrap().peer_locator, RESP_NEW);
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.credit_grants, c.credit_granted_bytes, c.locators_verified), (1, 3000, 1));
}

#[test]
fn credit_is_spent_once_and_ages() {
    let mut net = established_pair_with(cba());
    let (l, p, spi) = peer_sa(&net);
    let now = net.now;
    net.h(0).observe_received(now, l, p, spi, 8000);
    // Ten seconds (two CreditAgingIntervals) pass: 8000 * 7/8 * 7/8.
    net.drive_for(Duration::from_secs(10));
    move_responder(&mut net);
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moves(&net), vec![(RESP_NEW, Some(6125)), (RESP_NEW, None)]);
    // Without new traffic from the peer a second move gets no credit: it
    // waits for its echo like a strict one.
    net.events[0].clear();
    net.hosts[2].1 = vec![RESP];
    let now = net.now;
    net.h(2).update_locators(now, &[RESP]);
    net.drive_for(Duration::from_millis(15));
    assert!(moves(&net).is_empty());
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moves(&net), vec![(RESP, None)]);
}

#[test]
fn a_locator_failing_the_check_gets_nothing_more() {
    let mut net = established_pair_with(cba());
    let (l, p, spi) = peer_sa(&net);
    let now = net.now;
    net.h(0).observe_received(now, l, p, spi, 4000);
    // The Responder announces an address nobody holds (a redirection
    // attempt): the echo never comes back.
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
    net.drive_for(Duration::from_millis(15));
    assert_eq!(moves(&net), vec![(NOWHERE, Some(4000))], "at most the credit went there");
    net.drive_for(Duration::from_secs(40));
    // Every retransmission unanswered: back to the verified locator.
    assert_eq!(moves(&net), vec![(NOWHERE, Some(4000)), (RESP, None)]);
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.address_checks_failed), (1, 0, 1));
    assert!(net.sent(0, PacketType::Update).iter().all(|t| t.dst == NOWHERE));
}
