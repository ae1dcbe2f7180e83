//! Seed 004 end to end: MN, HA and GW state machines wired by hand with a
//! fake clock. The "network" is this test: it carries each output to the
//! next input, and may drop, replay or tamper.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use proxy_proto::vpn::auth::{AuthAlgorithm, AuthError, MnHaKey};
use proxy_proto::vpn::gateway::{Gateway, GatewayConfig, GwAction, GwError, SaBundle};
use proxy_proto::vpn::home_agent::{HaError, HaTransmit, HomeAgent, HomeAgentConfig};
use proxy_proto::vpn::identification::ReplayError;
use proxy_proto::vpn::mobile_node::{MnAction, MobileNode, MobileNodeConfig};
use proxy_proto::vpn::reply::{self, ReplyCode};
use proxy_proto::vpn::siu::{self, SiuKey};
use proxy_proto::vpn::udp;

const HOME: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const GW: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 254);
const COA1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const COA2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
const SPI_IN: u32 = 0x1000_0001;
const SPI_OUT: u32 = 0x2000_0002;
const NTP0: u64 = 0xe8a1_0000_0000_0000;
const SIU_KEY_ID: u32 = 7;
const SIU_SECRET: [u8; 32] = [0x5a; 32];

fn mn_key() -> MnHaKey {
    MnHaKey::new(0x1001, AuthAlgorithm::HmacMd5, b"mn-ha secret").unwrap()
}

struct World {
    t0: Instant,
    elapsed: Duration,
    mn: MobileNode,
    ha: HomeAgent,
    gw: Gateway,
    nonce_counter: u8,
}

impl World {
    /// Strict return-routability (the SIU waits for the echo) when on.
    fn new(return_routability: bool) -> Self {
        Self::with_credit(return_routability, 0)
    }

    fn with_credit(return_routability: bool, rr_credit: u64) -> Self {
        let mut ha = HomeAgent::new(HomeAgentConfig::new(HA));
        ha.add_mobile_node(HOME, mn_key());
        ha.add_gateway(GW, SiuKey::new(SIU_KEY_ID, &SIU_SECRET), 1000);
        let mut cfg = GatewayConfig::new(GW);
        cfg.return_routability = return_routability;
        cfg.rr_credit = rr_credit;
        let mut gw = Gateway::new(cfg);
        gw.add_home_agent(HA, SiuKey::new(SIU_KEY_ID, &SIU_SECRET));
        gw.add_bundle(SaBundle {
            home_address: HOME,
            inbound_spi: SPI_IN,
            outbound_spi: SPI_OUT,
            care_of_address: COA1,
        });
        let mut w = Self {
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            mn: MobileNode::new(MobileNodeConfig::new(HOME, HA, mn_key())),
            ha,
            gw,
            nonce_counter: 0,
        };
        // Initial registration at COA1 (VPN just built there).
        let (now, ntp) = w.now();
        w.mn.register(now, ntp, COA1);
        let req = w.mn_request();
        w.gw_sees_request(COA1, &req);
        let siu = w.ha_siu(&req);
        w.gw_siu(&siu).unwrap();
        let acts = w.gw_actions();
        assert_eq!(acts.len(), 1, "same address: forward only, {acts:?}");
        let GwAction::Forward { dst, datagram, .. } = &acts[0] else { panic!() };
        assert_eq!(*dst, COA1);
        w.mn_reply(datagram).unwrap();
        assert!(matches!(w.mn.poll_action(), Some(MnAction::Registered { care_of_address: COA1, .. })));
        w
    }

    fn now(&self) -> (Instant, u64) {
        let ntp = NTP0 + (self.elapsed.as_secs() << 32);
        (self.t0 + self.elapsed, ntp)
    }

    fn advance(&mut self, d: Duration) {
        self.elapsed += d;
    }

    fn rng(&mut self) -> impl FnMut(&mut [u8]) + use<> {
        self.nonce_counter += 1;
        let c = self.nonce_counter;
        move |b: &mut [u8]| b.fill(c)
    }

    /// The next Transmit of the MN to the HA (other actions skipped).
    fn mn_request(&mut self) -> Vec<u8> {
        while let Some(a) = self.mn.poll_action() {
            if let MnAction::Transmit { dst, payload } = a {
                assert_eq!(dst, SocketAddrV4::new(HA, 434));
                return payload;
            }
        }
        panic!("MN sent no request");
    }

    fn gw_sees_request(&mut self, outer_src: Ipv4Addr, req: &[u8]) {
        let (now, _) = self.now();
        self.gw.accept_inbound(SPI_IN, outer_src).unwrap();
        let mut rng = self.rng();
        self.gw.handle_registration_request(now, SPI_IN, outer_src, req, &mut rng).unwrap();
    }

    fn ha_handle(&mut self, req: &[u8]) -> Result<ReplyCode, HaError> {
        let (now, ntp) = self.now();
        self.ha.handle_request(now, ntp, SocketAddrV4::new(HOME, 434), Some(GW), req)
    }

    fn ha_siu(&mut self, req: &[u8]) -> Vec<u8> {
        assert_eq!(self.ha_handle(req), Ok(ReplyCode::Accepted));
        match self.ha.poll_transmit() {
            Some(HaTransmit::Siu { dst, payload }) => {
                assert_eq!(dst, SocketAddrV4::new(GW, 434));
                payload
            }
            other => panic!("expected an SIU, got {other:?}"),
        }
    }

    fn gw_siu(&mut self, siu: &[u8]) -> Result<(), GwError> {
        let (now, _) = self.now();
        let mut rng = self.rng();
        self.gw.handle_siu(now, HA, siu, &mut rng)
    }

    fn gw_actions(&mut self) -> Vec<GwAction> {
        std::iter::from_fn(|| self.gw.poll_action()).collect()
    }

    fn mn_reply(&mut self, datagram: &[u8]) -> Result<ReplyCode, proxy_proto::vpn::mobile_node::MnError> {
        let d = udp::parse(datagram).unwrap();
        assert_eq!((d.src, d.dst), (SocketAddrV4::new(HA, 434), SocketAddrV4::new(HOME, 434)));
        let (now, ntp) = self.now();
        self.mn.handle_reply(now, ntp, d.payload)
    }

    /// Delivers a Challenge datagram to the MN and its echo to the GW.
    fn echo(&mut self, challenge: &[u8]) {
        let d = udp::parse(challenge).unwrap();
        assert_eq!((d.src, d.dst), (SocketAddrV4::new(GW, 434), SocketAddrV4::new(HOME, 434)));
        self.mn.handle_rr_challenge(d.src, d.payload).unwrap();
        let Some(MnAction::Transmit { dst, payload }) = self.mn.poll_action() else { panic!("no echo") };
        assert_eq!(dst, SocketAddrV4::new(GW, 434));
        self.gw.handle_rr_response(SPI_IN, &payload).unwrap();
    }

    /// No Reply for 2 s: the MN's retransmitted request.
    fn mn_retransmits(&mut self) -> Vec<u8> {
        self.advance(Duration::from_secs(2));
        let (now, ntp) = self.now();
        self.mn.handle_timeout(now, ntp);
        self.mn_request()
    }

    /// MN moves to COA2: checks the SA update comes first, returns the request.
    fn mn_moves(&mut self) -> Vec<u8> {
        let (now, ntp) = self.now();
        self.mn.handle_care_of_address_change(now, ntp, COA2);
        assert_eq!(self.mn.poll_action(), Some(MnAction::UpdateSas { new_care_of_address: COA2 }));
        self.mn_request()
    }

    fn challenge_sent(&mut self) -> Vec<u8> {
        let acts = self.gw_actions();
        match &acts[..] {
            [GwAction::Challenge { outbound_spi: SPI_OUT, dst: COA2, datagram }] => datagram.clone(),
            other => panic!("expected one challenge to COA2, got {other:?}"),
        }
    }

    fn assert_gw_at(&self, coa: Ipv4Addr) {
        let b = self.gw.bundle(HOME).unwrap();
        assert_eq!((b.care_of_address, b.inbound_spi, b.outbound_spi), (coa, SPI_IN, SPI_OUT));
    }
}

/// Asserts the SA moves from COA1 to COA2 and only then the reply goes out.
fn assert_move_then_forward(acts: &[GwAction]) -> Vec<u8> {
    match acts {
        [
            GwAction::MoveOutboundSa { outbound_spi: SPI_OUT, old_care_of_address: COA1, new_care_of_address: COA2 },
            GwAction::Forward { outbound_spi: SPI_OUT, dst: COA2, datagram },
        ] => datagram.clone(),
        other => panic!("expected move then forward, got {other:?}"),
    }
}

#[test]
fn handover_echo_before_siu() {
    let mut w = World::new(true);
    w.advance(Duration::from_secs(60));
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    assert_eq!(w.gw.counters().wildcard_source_accepted, 1);
    let challenge = w.challenge_sent();
    w.echo(&challenge);
    assert!(w.gw_actions().is_empty(), "the echo alone moves nothing");
    w.assert_gw_at(COA1);
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    w.assert_gw_at(COA2);
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
    assert_eq!(
        w.mn.poll_action(),
        Some(MnAction::Registered { care_of_address: COA2, lifetime: Duration::from_secs(1800) })
    );
    let b = w.ha.binding(HOME).unwrap();
    assert_eq!((b.care_of_address, b.via_gateway), (COA2, Some(GW)));
    assert_eq!(w.gw.counters().rr_verified, 1);
    // The SIU named the old care-of address.
    let p = siu::Packet::new_checked(&siu[..]).unwrap();
    assert_eq!((p.old_care_of_address(), p.new_care_of_address(), p.flags()), (COA1, COA2, 0));
}

#[test]
fn handover_siu_before_echo_waits_for_it() {
    let mut w = World::new(true);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let challenge = w.challenge_sent();
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    assert!(w.gw_actions().is_empty());
    assert_eq!(w.gw.counters().siu_parked, 1);
    w.assert_gw_at(COA1);
    w.echo(&challenge);
    let reply = assert_move_then_forward(&w.gw_actions());
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
}

#[test]
fn handover_on_credit_moves_before_the_echo_then_lifts_the_limit() {
    // The default: the SIU moves the SA at once, limited, while the check
    // runs on; the MN gets its reply a round trip earlier.
    let mut w = World::with_credit(true, proxy_proto::vpn::gateway::DEFAULT_RR_CREDIT);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let challenge = w.challenge_sent();
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let acts = w.gw_actions();
    let [GwAction::Credit { outbound_spi: SPI_OUT, credit: Some(c) }, rest @ ..] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(*c, 64 * 1024);
    let reply = assert_move_then_forward(rest);
    w.assert_gw_at(COA2);
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
    assert!(matches!(w.mn.poll_action(), Some(MnAction::Registered { care_of_address: COA2, .. })));
    // The echo comes after the reply: it only lifts the limit.
    w.echo(&challenge);
    assert_eq!(w.gw_actions(), vec![GwAction::Credit { outbound_spi: SPI_OUT, credit: None }]);
    assert_eq!((w.gw.counters().siu_on_credit, w.gw.counters().siu_parked, w.gw.counters().rr_verified), (1, 0, 1));
}

#[test]
fn return_routability_failure_keeps_sa() {
    let mut w = World::new(true);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let _lost_challenge = w.challenge_sent();
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let (now, _) = w.now();
    assert_eq!(w.gw.poll_timeout(), Some(now + Duration::from_secs(3)));
    w.advance(Duration::from_secs(3));
    let (now, _) = w.now();
    w.gw.handle_timeout(now);
    assert!(w.gw_actions().is_empty());
    w.assert_gw_at(COA1);
    assert_eq!(w.gw.counters().rr_failed, 1);
    assert_eq!(w.gw.counters().siu_applied, 1, "only the initial registration");
    // A wrong nonce is refused too.
    let req2 = {
        w.advance(Duration::from_secs(1));
        let (now, ntp) = w.now();
        w.mn.handle_timeout(now + Duration::from_secs(10), ntp);
        w.mn_request()
    };
    w.gw_sees_request(COA2, &req2);
    let ch = w.challenge_sent();
    let d = udp::parse(&ch).unwrap();
    let mut forged = d.payload.to_vec();
    forged[1] = 3; // make it a response
    forged[23] ^= 1; // with a guessed nonce
    assert_eq!(w.gw.handle_rr_response(SPI_IN, &forged), Err(GwError::RrMismatch));
    assert_eq!(w.gw.counters().rr_mismatch, 1);
    w.assert_gw_at(COA1);
}

#[test]
fn return_routability_off_moves_on_siu() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    assert!(w.gw_actions().is_empty(), "no challenge when switched off");
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
}

#[test]
fn lost_request_is_retransmitted_then_fallback() {
    let mut w = World::new(false);
    let lost = w.mn_moves();
    let retry = w.mn_retransmits();
    assert_ne!(lost, retry, "fresh Identification");
    w.gw_sees_request(COA2, &retry);
    let siu = w.ha_siu(&retry);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));

    // Now every request is lost: 2, 4, 8, 16, 32 s, then re-establish.
    let mut w = World::new(false);
    w.mn_moves();
    let mut sent = 1;
    loop {
        let due = w.mn.poll_timeout().unwrap();
        let (now, ntp) = w.now();
        w.advance(due - now);
        w.mn.handle_timeout(due, ntp);
        match w.mn.poll_action() {
            Some(MnAction::Transmit { .. }) => sent += 1,
            Some(MnAction::ReestablishVpn { care_of_address }) => {
                assert_eq!(care_of_address, COA2);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 5);
    assert_eq!(w.elapsed, Duration::from_secs(2 + 4 + 8 + 16 + 32));
    w.assert_gw_at(COA1);
}

/// The HA's first SIU is lost: the binding is at COA2 already, the GW's
/// SA still at COA1. The MN's retransmitted request registers COA2 again;
/// its SIU names COA1 (the care-of address before the change) as the old
/// one, so the GW moves the SA and the MN gets its Reply, no fallback.
#[test]
fn lost_siu_recovered_by_the_retransmitted_request() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let _lost = w.ha_siu(&req);
    let retry = w.mn_retransmits();
    w.gw_sees_request(COA2, &retry);
    let siu = w.ha_siu(&retry);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
    w.assert_gw_at(COA2);
    assert_eq!(w.gw.counters().siu_old_coa_mismatch, 0);
}

/// The SIU arrived (SA moved) but the Reply was lost: the retransmitted
/// request's SIU moves nothing more and the Reply goes to COA2.
#[test]
fn lost_reply_recovered_by_the_retransmitted_request() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let _lost_reply = assert_move_then_forward(&w.gw_actions());
    let retry = w.mn_retransmits();
    w.gw_sees_request(COA2, &retry);
    let siu = w.ha_siu(&retry);
    w.gw_siu(&siu).unwrap();
    match &w.gw_actions()[..] {
        [GwAction::Forward { outbound_spi: SPI_OUT, dst: COA2, datagram }] => {
            assert_eq!(w.mn_reply(datagram), Ok(ReplyCode::Accepted))
        }
        other => panic!("expected the reply forwarded to COA2 only, got {other:?}"),
    }
    w.assert_gw_at(COA2);
}

#[test]
fn forged_siu_rejected_nothing_changes() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let siu = w.ha_siu(&req);
    let mut forged = siu.clone();
    forged[24] ^= 0x01; // new care-of address redirected
    assert_eq!(w.gw_siu(&forged), Err(GwError::BadIcv));
    let mut wrong_key = siu::SiuRepr::parse(&siu::Packet::new_checked(&siu[..]).unwrap(), |_| {
        Some(SiuKey::new(SIU_KEY_ID, &SIU_SECRET))
    })
    .unwrap();
    wrong_key.sequence += 1;
    let wrong = wrong_key.to_bytes(&SiuKey::new(SIU_KEY_ID, &[0x11; 32])).unwrap();
    assert_eq!(w.gw_siu(&wrong), Err(GwError::BadIcv));
    let (now, _) = w.now();
    let mut rng = w.rng();
    assert_eq!(w.gw.handle_siu(now, GW, &siu, &mut rng), Err(GwError::UnexpectedSiuSource(GW)));
    assert_eq!(w.gw.counters().siu_bad_icv, 2);
    assert_eq!(w.gw.counters().siu_unexpected_source, 1);
    assert!(w.gw_actions().is_empty());
    w.assert_gw_at(COA1);
    // The genuine one still works: forgeries did not burn its sequence.
    w.gw_siu(&siu).unwrap();
    assert_move_then_forward(&w.gw_actions());
}

#[test]
fn replayed_siu_rejected_nothing_changes() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    w.mn_reply(&reply).unwrap();
    let seq = siu::Packet::new_checked(&siu[..]).unwrap().sequence();
    assert_eq!(w.gw_siu(&siu), Err(GwError::Replayed { got: seq, last: seq }));
    assert_eq!(w.gw.counters().siu_replayed, 1);
    assert!(w.gw_actions().is_empty());
    w.assert_gw_at(COA2);
}

#[test]
fn request_with_bad_authenticator_rejected() {
    let mut w = World::new(false);
    let mut req = w.mn_moves();
    req[15] ^= 0x01; // care-of address altered after signing
    let before = w.ha.binding(HOME).cloned();
    assert_eq!(w.ha_handle(&req), Err(HaError::Authentication(AuthError::Mismatch)));
    assert_eq!(w.ha.counters().authentication_failed, 1);
    assert_eq!(w.ha.binding(HOME).cloned(), before);
    // 131 goes straight back, never as an SIU to the gateway.
    match w.ha.poll_transmit() {
        Some(HaTransmit::Reply { payload, .. }) => {
            assert_eq!(
                reply::Packet::new_checked(&payload[..]).unwrap().code(),
                ReplyCode::HaMobileNodeFailedAuthentication
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.ha.poll_transmit(), None);
    w.assert_gw_at(COA1);
}

#[test]
fn old_identification_rejected_and_mn_resyncs() {
    let mut w = World::new(false);
    let req = w.mn_moves();
    w.gw_sees_request(COA2, &req);
    let siu = w.ha_siu(&req);
    w.gw_siu(&siu).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    w.mn_reply(&reply).unwrap();
    // An attacker replays the accepted request.
    let before = w.ha.binding(HOME).cloned();
    assert_eq!(w.ha_handle(&req), Err(HaError::Identification(ReplayError::NotIncreasing)));
    assert_eq!(w.ha.counters().identification_mismatch, 1);
    assert_eq!(w.ha.binding(HOME).cloned(), before);
    // The 133 denial travels in an SIU; the gateway forwards it, moves nothing.
    let Some(HaTransmit::Siu { payload, .. }) = w.ha.poll_transmit() else { panic!() };
    w.gw_siu(&payload).unwrap();
    match &w.gw_actions()[..] {
        [GwAction::Forward { dst: COA2, .. }] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.gw.counters().siu_denial_forwarded, 1);
    w.assert_gw_at(COA2);
}

#[test]
fn skewed_mn_clock_resynchronised_by_133() {
    let mut w = World::new(false);
    // The HA's clock is 100 s ahead of the MN's from now on.
    let ha_ahead = 100u64 << 32;
    let (now, ntp) = w.now();
    w.mn.handle_care_of_address_change(now, ntp, COA2);
    let req = w.mn_request();
    w.gw_sees_request(COA2, &req);
    let r = w.ha.handle_request(now, ntp + ha_ahead, SocketAddrV4::new(HOME, 434), Some(GW), &req);
    assert_eq!(r, Err(HaError::Identification(ReplayError::Skew { skew_secs: -100 })));
    let Some(HaTransmit::Siu { payload, .. }) = w.ha.poll_transmit() else { panic!() };
    w.gw_siu(&payload).unwrap();
    let acts = w.gw_actions();
    let [GwAction::Forward { dst: COA2, datagram, .. }] = &acts[..] else { panic!("{acts:?}") };
    w.assert_gw_at(COA1);
    assert_eq!(w.mn_reply(datagram), Ok(ReplyCode::HaIdentificationMismatch));
    let retry = w.mn_request();
    let r = w.ha.handle_request(now, ntp + ha_ahead, SocketAddrV4::new(HOME, 434), Some(GW), &retry);
    assert_eq!(r, Ok(ReplyCode::Accepted));
    let Some(HaTransmit::Siu { payload, .. }) = w.ha.poll_transmit() else { panic!() };
    w.gw_siu(&payload).unwrap();
    let reply = assert_move_then_forward(&w.gw_actions());
    assert_eq!(w.mn_reply(&reply), Ok(ReplyCode::Accepted));
}
