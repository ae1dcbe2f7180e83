use super::*;
use crate::esp::spec::SaSpec;
use std::time::Duration;

fn spec(dir: Direction, spi: u32) -> SaSpec {
    SaSpec {
        spi,
        direction: dir,
        mode: ModeName::Beet,
        transform: "aes128-gcm16".into(),
        key: "ab".repeat(20),
        local: "192.0.2.1".parse().unwrap(),
        peer: "192.0.2.2".parse().unwrap(),
        inner_local: Some("2001:20::1".parse().unwrap()),
        inner_peer: Some("2001:20::2".parse().unwrap()),
        wildcard_source: false,
    }
}

fn v(s: SaSpec) -> ValidSa {
    s.validate().unwrap()
}

#[test]
fn install_lookup_remove() {
    let t = SaTable::new(None);
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    {
        let r = t.read();
        assert!(r.outbound_for("2001:20::2".parse().unwrap()).is_some());
        assert!(r.outbound_for("2001:20::3".parse().unwrap()).is_none());
        assert!(r.inbound(0x300).is_some());
        assert!(r.inbound(0x200).is_none());
    }
    assert_eq!(t.install(v(spec(Direction::In, 0x300))), Err(SaError::Duplicate(Direction::In, 0x300)));
    let e = t.install(v(spec(Direction::Out, 0x201))).unwrap_err();
    assert!(matches!(e, SaError::DuplicateSelector(_, 0x200)), "{e}");
    t.remove(Direction::Out, 0x200).unwrap();
    assert!(t.read().outbound_for("2001:20::2".parse().unwrap()).is_none());
    assert_eq!(t.remove(Direction::Out, 0x200), Err(SaError::NotFound(Direction::Out, 0x200)));
    t.remove(Direction::In, 0x300).unwrap();
    assert!(t.read().is_empty());
}

#[test]
fn pair_is_all_or_nothing() {
    let t = SaTable::new(None);
    t.install(v(spec(Direction::In, 0x300))).unwrap();
    assert!(t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).is_err());
    assert!(t.read().outbound_for("2001:20::2".parse().unwrap()).is_none());
}

#[test]
fn tunnel_default_sa_catches_everything() {
    let t = SaTable::new(None);
    let s = SaSpec { mode: ModeName::Tunnel, inner_local: None, inner_peer: None, ..spec(Direction::Out, 0x400) };
    t.install(v(s.clone())).unwrap();
    let r = t.read();
    let e = r.outbound_for("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!(e.mode, Mode::Tunnel);
    assert!(e.inner.is_none());
    drop(r);
    assert!(matches!(t.install(v(SaSpec { spi: 0x401, ..s })), Err(SaError::DuplicateSelector(_, 0x400))));
}

#[test]
fn move_outer_keeps_the_sa_and_updates_list_and_export() {
    let dir = std::env::temp_dir().join(format!("esp-export-{}", std::process::id()));
    let t = SaTable::new(Some(dir.clone()));
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    let text = std::fs::read_to_string(&dir).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("\"192.0.2.2\",\"192.0.2.1\",\"0x00000300\""), "{text}");
    let (l, p): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
    t.move_outer(Direction::Out, 0x200, l, p).unwrap();
    let rows = t.list(false);
    let out = rows.iter().find(|r| r.direction == Direction::Out).unwrap();
    assert_eq!((out.local, out.peer, out.esp_sa.clone()), (l, p, None));
    assert!(std::fs::read_to_string(&dir).unwrap().contains("\"198.51.100.1\",\"198.51.100.2\",\"0x00000200\""));
    assert!(t.move_outer(Direction::In, 0x999, l, p).is_err());
    assert!(t.move_outer(Direction::In, 0x300, l, "2001:db8::1".parse().unwrap()).is_err());
    let _ = std::fs::remove_file(dir);
}

#[test]
fn remove_peer_takes_both_directions_and_signals() {
    let t = SaTable::new(None);
    let signalled = || {
        let mut fds = [libc::pollfd { fd: t.changed_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) } == 1;
        t.ack_changed();
        r
    };
    // Nobody holds packets: a change wakes nobody.
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    assert!(!signalled(), "install signalled with nothing held");
    t.remove_peer("2001:20::2".parse().unwrap());
    t.set_holding(true);
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    assert!(signalled(), "install not signalled to a sender holding packets");
    assert_eq!(t.remove_peer("2001:20::9".parse().unwrap()), 0);
    assert_eq!(t.remove_peer("2001:20::2".parse().unwrap()), 2);
    assert!(t.read().is_empty());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    assert!(!t.report_miss("2001:20::2".parse().unwrap()));
    t.set_miss_sender(tx, |a| a.is_ipv6());
    assert!(!t.report_miss("10.0.0.1".parse().unwrap()), "filtered");
    assert!(t.report_miss("2001:20::2".parse().unwrap()));
    assert_eq!(rx.try_recv().unwrap(), "2001:20::2".parse::<IpAddr>().unwrap());
}

#[test]
fn tunnel_sa_carries_packets_for_its_outer_peer_and_follows_moves() {
    let t = SaTable::new(None);
    let s = SaSpec {
        mode: ModeName::Tunnel,
        inner_local: None,
        inner_peer: Some("10.2.0.5".parse().unwrap()),
        local: "192.0.2.1".parse().unwrap(),
        peer: "198.51.100.23".parse().unwrap(),
        ..spec(Direction::Out, 0x500)
    };
    t.install(v(s)).unwrap();
    let spi_for = |d: &str| t.read().outbound_for(d.parse().unwrap()).map(|e| e.state.lock().unwrap().sa.spi());
    // The inner selector and the outer peer (IP-in-IP to a care-of address).
    assert_eq!(spi_for("10.2.0.5"), Some(0x500));
    assert_eq!(spi_for("198.51.100.23"), Some(0x500));
    assert_eq!(spi_for("203.0.113.23"), None);
    t.move_outer(Direction::Out, 0x500, "192.0.2.1".parse().unwrap(), "203.0.113.23".parse().unwrap()).unwrap();
    assert_eq!(spi_for("203.0.113.23"), Some(0x500));
    assert_eq!(spi_for("198.51.100.23"), None, "the old care-of address is no longer sealed for");
    // BEET SAs never match on their outer peer.
    t.install(v(spec(Direction::Out, 0x600))).unwrap();
    assert_eq!(spi_for("192.0.2.2"), None);
    t.remove(Direction::Out, 0x500).unwrap();
    assert_eq!(spi_for("203.0.113.23"), None);
}

/// esp/table/leaving.rs: the VPN gateway's SA whose peer is on the move.
#[test]
fn a_peer_on_the_move_is_held_for_until_the_sa_moves_then_its_old_address_follows() {
    let t = SaTable::new(None);
    let (a, b) = ("198.51.100.23", "203.0.113.23");
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let s = SaSpec {
        mode: ModeName::Tunnel,
        inner_local: None,
        inner_peer: Some(ip("10.2.0.5")),
        local: ip("192.0.2.1"),
        peer: ip(a),
        ..spec(Direction::Out, 0x500)
    };
    t.install(v(s.clone())).unwrap();
    let spi_for = |d: &str| t.read().outbound_for(ip(d)).map(|e| e.state.lock().unwrap().sa.spi());
    let held_moving = || t.counters.list().into_iter().find(|(n, _)| *n == "held_moving").unwrap().1;
    // The MN registers from b: packets for a (and b) wait, the home
    // address's do not; a miss for them is taken (no sink needed), counted.
    t.suspend_peers(&[ip(a), ip(b)], Duration::from_secs(60));
    assert!(t.holds_for(ip(a)) && t.holds_for(ip(b)) && !t.holds_for(ip("10.2.0.5")));
    assert_eq!(spi_for(a), Some(0x500), "the tables are untouched: the sender asks holds_for");
    assert!(t.outbound_now(&t.read(), ip(a)).is_none(), "nothing is sealed for a marked address");
    assert!(t.report_miss(ip(a)));
    assert_eq!(held_moving(), 1);
    assert!(!t.report_miss(ip("192.0.2.99")), "any other address: no sink, not held");
    // The move: nothing waits any more, and both addresses select the SA,
    // which seals to the new one.
    t.move_outer(Direction::Out, 0x500, ip("192.0.2.1"), ip(b)).unwrap();
    assert!(!t.holds_for(ip(a)) && !t.holds_for(ip(b)));
    assert_eq!((spi_for(a), spi_for(b)), (Some(0x500), Some(0x500)));
    assert!(t.outbound_now(&t.read(), ip(a)).is_some());
    assert!(!t.report_miss(ip(a)), "no longer on the move");
    // A rekey before the next move keeps the name of the address left
    // (what the HA still sends there follows the MN under the new keys).
    let rekeyed = SaSpec { spi: 0x501, peer: ip(b), ..s.clone() };
    t.switch_outbound(0x500, v(rekeyed)).unwrap();
    assert_eq!((spi_for(a), spi_for(b)), (Some(0x501), Some(0x501)));
    let s = SaSpec { spi: 0x501, peer: ip(b), ..s };
    // A mark whose deadline passed holds nothing (a failed registration).
    t.suspend_peers(&[ip(b)], Duration::ZERO);
    assert!(!t.holds_for(ip(b)));
    // The next move (back to a) drops the older name: a move without a
    // mark keeps none.
    t.move_outer(Direction::Out, s.spi, ip("192.0.2.1"), ip(a)).unwrap();
    assert_eq!((spi_for(a), spi_for(b)), (Some(0x501), None));
}

#[test]
fn list_shows_the_origin() {
    let t = SaTable::new(None);
    let hip = |d, spi| ValidSa { from_hip: true, ..v(spec(d, spi)) };
    t.install_pair(hip(Direction::Out, 0x200), hip(Direction::In, 0x300)).unwrap();
    t.install(v(SaSpec { inner_peer: Some("2001:20::9".parse().unwrap()), ..spec(Direction::Out, 0x400) })).unwrap();
    let rows: Vec<(u32, String)> = t.list(false).into_iter().map(|r| (r.spi, r.origin)).collect();
    assert_eq!(rows, [(0x300, "hip".into()), (0x200, "hip".into()), (0x400, "manual".into())]);
    // Older clients' JSON without the field still parses.
    let mut j = serde_json::to_value(&t.list(false)[0]).unwrap();
    j.as_object_mut().unwrap().remove("origin");
    assert_eq!(serde_json::from_value::<SaInfo>(j).unwrap().origin, "manual");
}

#[test]
fn soft_limit_reaches_new_outbound_sas_and_names_the_hip_peer() {
    let t = SaTable::new(None);
    t.set_soft_limit(2);
    let hip = |s: SaSpec| ValidSa { from_hip: true, ..v(s) };
    t.install_pair(hip(spec(Direction::Out, 0x200)), hip(spec(Direction::In, 0x300))).unwrap();
    t.install(v(SaSpec { inner_peer: Some("2001:20::7".parse().unwrap()), ..spec(Direction::Out, 0x201) })).unwrap();
    let peer: IpAddr = "2001:20::2".parse().unwrap();
    assert_eq!(t.hip_peer_of_outbound(0x200), Some(peer));
    assert_eq!(t.hip_peer_of_outbound(0x201), None, "manual SA");
    assert_eq!(t.hip_peer_of_outbound(0x300), None, "inbound SPI");
    let r = t.read();
    let mut st = r.outbound_by_spi(0x200).unwrap().state.lock().unwrap();
    let mut events = Vec::new();
    for _ in 0..3 {
        let mut buf = vec![0u8; st.sa.sealed_len(20)];
        st.sa.seal(&mut buf, 20, 59, &mut |iv| iv.fill(0)).unwrap();
        events.extend(st.sa.poll_event());
    }
    assert_eq!(events, [SaEvent::RekeyNeeded { spi: 0x200 }], "once, at the configured limit");
}

#[test]
fn switch_outbound_replaces_the_peer_selector_in_one_step() {
    let t = SaTable::new(None);
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    // The rekey's new inbound SA goes in beside the current one.
    t.install(v(spec(Direction::In, 0x301))).unwrap();
    t.switch_outbound(0x200, v(spec(Direction::Out, 0x201))).unwrap();
    let peer: IpAddr = "2001:20::2".parse().unwrap();
    assert_eq!(t.read().outbound_for(peer).map(|e| e.state.lock().unwrap().sa.spi()), Some(0x201));
    assert!(t.read().outbound_by_spi(0x200).is_none());
    assert_eq!(t.inbound_packets(0x301), Some(0));
    assert_eq!(t.inbound_packets(0x999), None);
    // The old SA gone already is fine; a duplicate SPI is refused and
    // changes nothing.
    assert!(matches!(t.switch_outbound(0x200, v(spec(Direction::Out, 0x201))), Err(SaError::Duplicate(..))));
    t.switch_outbound(0x200, v(spec(Direction::Out, 0x202))).unwrap_err();
    t.switch_outbound(0x201, v(spec(Direction::Out, 0x202))).unwrap();
    assert_eq!(t.list(false).len(), 3);
    t.remove(Direction::In, 0x300).unwrap();
    assert_eq!(t.list(false).len(), 2);
}

#[test]
fn a_rekeyed_vpn_tunnel_sa_keeps_its_outer_peer_selector_credit_and_hip_peer() {
    // The VPN gateway's outbound SA toward a care-of address on credit
    // (not verified yet): the rekey changes the keys, not that.
    let t = SaTable::new(None);
    let hit: IpAddr = "2001:20::5".parse().unwrap();
    let tunnel = |d, spi| ValidSa {
        from_hip: true,
        hip_peer: Some(hit),
        ..v(SaSpec {
            mode: ModeName::Tunnel,
            inner_local: None,
            inner_peer: Some("10.2.0.5".parse().unwrap()),
            local: "192.0.2.1".parse().unwrap(),
            peer: "203.0.113.23".parse().unwrap(),
            ..spec(d, spi)
        })
    };
    t.install_pair(tunnel(Direction::Out, 0x200), tunnel(Direction::In, 0x300)).unwrap();
    t.set_credit(0x200, Some(1000)).unwrap();
    assert_eq!(t.hip_peer_of_outbound(0x200), Some(hit));
    t.switch_outbound(0x200, tunnel(Direction::Out, 0x201)).unwrap();
    let r = t.read();
    for dst in ["10.2.0.5", "203.0.113.23"] {
        let e = r.outbound_for(dst.parse().unwrap()).unwrap();
        let s = e.state.lock().unwrap();
        assert_eq!((s.sa.spi(), s.credit), (0x201, Some(1000)), "{dst}");
    }
    drop(r);
    assert_eq!(t.hip_peer_of_outbound(0x201), Some(hit));
}

/// Records the SPIs it is told to steer, and whether the SA was already
/// in the table then (it must not be: steering comes first).
#[derive(Default)]
struct Recorder {
    table: std::sync::OnceLock<std::sync::Weak<SaTable>>,
    steered: Mutex<Vec<(u32, bool)>>,
}

impl InboundSteering for Recorder {
    fn steer(&self, spi: u32) {
        let installed = self.table.get().and_then(|w| w.upgrade()).is_some_and(|t| t.read().inbound(spi).is_some());
        self.steered.lock().unwrap().push((spi, installed));
    }
}

#[test]
fn new_inbound_spis_are_steered_before_they_are_installed() {
    let t = std::sync::Arc::new(SaTable::new(None));
    let r = std::sync::Arc::new(Recorder::default());
    r.table.set(std::sync::Arc::downgrade(&t)).unwrap();
    t.set_steering(Some(r.clone()));
    t.install_pair(v(spec(Direction::Out, 0x200)), v(spec(Direction::In, 0x300))).unwrap();
    let s = SaSpec { inner_peer: Some("2001:20::3".parse().unwrap()), ..spec(Direction::Out, 0x201) };
    t.install(v(s)).unwrap();
    t.install(v(spec(Direction::In, 0x301))).unwrap();
    // Outbound SAs are not steered; each inbound one before it went in.
    assert_eq!(*r.steered.lock().unwrap(), [(0x300, false), (0x301, false)]);
    assert!(t.read().inbound(0x301).is_some());
    t.set_steering(None);
    t.install(v(spec(Direction::In, 0x302))).unwrap();
    assert_eq!(r.steered.lock().unwrap().len(), 2, "no steering once unset");
}
