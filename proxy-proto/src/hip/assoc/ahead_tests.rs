//! Make-before-break (RFC 8046 §3.2.1, §5.4): a host that gains an
//! address lists it beside the one in use; the peer checks it ahead, so
//! the later move needs no address check before data. Strictness kept: a
//! locator is used only after its own echo.

use std::time::Duration;

use core::net::IpAddr;

use super::mobility_tests::{INIT, NOWHERE, Net, RESP, RESP_NEW, established_pair, parse};
use super::tests::hit;
use super::*;
use crate::hip::wire::PacketType;
use crate::hip::wire::param::echo::{EchoRequestSigned, EchoResponseSigned};
use crate::hip::wire::param::locator::{Locator, LocatorSet, LocatorValue, TrafficType};

fn peer_locator(net: &Net) -> IpAddr {
    let resp = hit(&net.hosts[2].0);
    net.hosts[0].0.association(net.now, &resp).unwrap().peer_locator
}

fn moved_to(net: &Net) -> Vec<IpAddr> {
    net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::LocatorChanged { peer_locator, .. } => Some(*peer_locator),
            _ => None,
        })
        .collect()
}

fn echo_requests(net: &Net) -> Vec<IpAddr> {
    net.sent(0, PacketType::Update)
        .iter()
        .filter(|t| parse(t).get::<EchoRequestSigned>().is_some())
        .map(|t| t.dst)
        .collect()
}

/// The mover (host 2) gains RESP_NEW while RESP still works.
fn checked_ahead() -> Net {
    let mut net = established_pair();
    net.hosts[2].1 = vec![RESP, RESP_NEW];
    let now = net.now;
    assert_eq!(net.h(2).announce_added(now, &[RESP, RESP_NEW]), 1, "the data peer, not the RVS");
    assert_eq!(net.h(2).announce_added(now, &[RESP, RESP_NEW]), 0, "announced once");
    net.drive_for(Duration::from_secs(1));
    net
}

#[test]
fn a_new_address_is_checked_ahead_and_the_move_needs_no_check() {
    let mut net = checked_ahead();
    // The announcement: RESP preferred, RESP_NEW beside it, to the peer only.
    let sent = net.sent(2, PacketType::Update);
    assert!(sent.iter().all(|t| t.dst == INIT), "nothing to the RVS");
    let set = parse(&sent[0]).get::<LocatorSet>().unwrap().clone();
    assert_eq!(set.locators.len(), 2);
    assert!(set.locators[0].preferred && !set.locators[1].preferred);
    // The peer checked RESP_NEW, answered from RESP_NEW, and kept the data on RESP.
    assert_eq!(echo_requests(&net), vec![RESP_NEW]);
    let answer = sent.iter().find(|t| parse(t).get::<EchoResponseSigned>().is_some()).unwrap();
    assert_eq!(answer.src, RESP_NEW, "the echo leaves from the address under test");
    assert_eq!(peer_locator(&net), RESP);
    assert!(moved_to(&net).is_empty(), "no move before the host moves");
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.switched_to_checked), (1, 1, 0));
    assert_eq!(net.hosts[2].0.counters().mobility.locators_announced_ahead, 1);

    // The old address goes: the peer moves on the UPDATE itself (one
    // one-way latency of 10 ms), no second check.
    net.log.clear();
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    assert_eq!(net.h(2).update_locators(now, &[RESP_NEW]), 2);
    net.drive_for(Duration::from_millis(15));
    assert_eq!(moved_to(&net), vec![RESP_NEW]);
    assert_eq!(peer_locator(&net), RESP_NEW);
    net.drive_for(Duration::from_secs(1));
    assert!(echo_requests(&net).is_empty(), "no address check at the move");
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.switched_to_checked), (1, 1, 1));
    assert_eq!(net.hosts[2].0.counters().mobility.update_retransmits, 0);
}

#[test]
fn a_move_during_the_check_ahead_waits_for_its_echo() {
    let mut net = established_pair();
    net.hosts[2].1 = vec![RESP_NEW];
    let now = net.now;
    // Both announcements leave before the peer has checked anything.
    assert_eq!(net.h(2).announce_added(now, &[RESP, RESP_NEW]), 1);
    assert_eq!(net.h(2).update_locators(now, &[RESP_NEW]), 2);
    net.drive_for(Duration::from_millis(15));
    assert!(moved_to(&net).is_empty(), "strict: not before the echo");
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moved_to(&net), vec![RESP_NEW]);
    assert_eq!(echo_requests(&net), vec![RESP_NEW], "the check under way decides, no second one");
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.switched_to_checked), (1, 1, 0));
}

fn set(locators: &[(IpAddr, bool)]) -> LocatorSet {
    LocatorSet {
        locators: locators
            .iter()
            .map(|&(a, preferred)| Locator {
                traffic_type: TrafficType::Both,
                preferred,
                lifetime: 120,
                value: LocatorValue::Address(registration::to_wire(a)),
            })
            .collect(),
    }
}

#[test]
fn a_locator_failing_the_check_ahead_is_never_used() {
    let mut net = established_pair();
    let key = (hit(&net.hosts[2].0), hit(&net.hosts[0].0));
    let now = net.now;
    net.h(2).send_update(now, key, vec![set(&[(RESP, true), (NOWHERE, false)]).into()], None, None).unwrap();
    net.drive_for(Duration::from_secs(40));
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.address_checks_failed), (1, 0, 1));
    // Preferring it later means a full check again, and it fails again.
    let now = net.now;
    net.h(2).send_update(now, key, vec![set(&[(NOWHERE, true)]).into()], None, None).unwrap();
    net.drive_for(Duration::from_secs(40));
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.address_checks_failed, c.switched_to_checked), (2, 2, 0));
    assert_eq!(peer_locator(&net), RESP);
    assert!(moved_to(&net).is_empty());
}

#[test]
fn a_locator_no_longer_listed_is_checked_again() {
    let mut net = checked_ahead();
    let key = (hit(&net.hosts[2].0), hit(&net.hosts[0].0));
    // RFC 8046 §5.4: a set without RESP_NEW deprecates it...
    let now = net.now;
    net.h(2).send_update(now, key, vec![set(&[(RESP, true)]).into()], None, None).unwrap();
    net.drive_for(Duration::from_secs(1));
    // ...so preferring it afterwards takes a strict check.
    let now = net.now;
    net.h(2).send_update(now, key, vec![set(&[(RESP_NEW, true)]).into()], None, None).unwrap();
    net.drive_for(Duration::from_millis(15));
    assert!(moved_to(&net).is_empty());
    net.drive_for(Duration::from_secs(1));
    assert_eq!(moved_to(&net), vec![RESP_NEW]);
    let c = net.hosts[0].0.counters().mobility.clone();
    assert_eq!((c.address_checks, c.locators_verified, c.switched_to_checked), (2, 2, 0));
}
