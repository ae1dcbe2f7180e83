//! The mobile node's registration client (RFC 5944 §3.6) for a co-located
//! care-of address behind the VPN gateway (seed 004): on a new care-of
//! address the MN first moves its own inbound and outbound SAs, then sends
//! a Registration Request to the home agent through the tunnel,
//! retransmits with exponential back-off (§3.6.3), and finally asks for the
//! VPN to be re-established from scratch. It also answers the gateway's
//! return-routability challenge.
//!
//! Sans-IO: `handle_*` in, `poll_action` / `poll_timeout` out. `now` is
//! monotonic time for timers, `now_ntp` the wall clock in NTP format for
//! the Identification (§5.7).

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::VecDeque;
use std::time::Instant;

use super::auth::{self, AuthError, MnHaKey};
use super::extension::MipError;
use super::identification::{Identification, IdentificationClock};
use super::reply::{self, RegistrationReplyRepr, ReplyCode};
use super::request::{MIP_PORT, RegistrationRequestRepr, RequestFlags};
use super::rr::{RrError, RrKind, RrRepr};

/// Configuration of the registration client.
#[derive(Debug, Clone)]
pub struct MobileNodeConfig {
    pub home_address: Ipv4Addr,
    pub home_agent: Ipv4Addr,
    pub key: MnHaKey,
    /// Requested lifetime, seconds.
    pub lifetime: u16,
    /// Request flags; D is set for a co-located care-of address (§3.3).
    pub flags: RequestFlags,
    /// §3.6.3: the first retransmission timeout SHOULD be greater than
    /// one second; we wait 2 s.
    pub initial_retransmit: Duration,
    /// Cap of the doubled timeout (§3.6.3 caps it by the lifetime).
    pub max_retransmit: Duration,
    /// Retransmissions before giving up and re-establishing the VPN.
    pub max_retransmissions: u32,
    /// Code-133 resynchronisations accepted per registration attempt.
    pub max_resyncs: u32,
}

impl MobileNodeConfig {
    pub fn new(home_address: Ipv4Addr, home_agent: Ipv4Addr, key: MnHaKey) -> Self {
        Self {
            home_address,
            home_agent,
            key,
            lifetime: 1800,
            flags: RequestFlags(RequestFlags::D),
            initial_retransmit: Duration::from_secs(2),
            max_retransmit: Duration::from_secs(32),
            max_retransmissions: 4,
            max_resyncs: 1,
        }
    }
}

/// What the daemon must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnAction {
    /// Move the MN's inbound SA (destination) and outbound SA (source) to
    /// the new care-of address. Always before the request is sent.
    UpdateSas { new_care_of_address: Ipv4Addr },
    /// Send `payload` over UDP to `dst` through the VPN tunnel.
    Transmit { dst: SocketAddrV4, payload: Vec<u8> },
    /// The home agent accepted the registration.
    Registered { care_of_address: Ipv4Addr, lifetime: Duration },
    /// An authenticated denial; retransmissions continue.
    Denied { code: ReplyCode },
    /// Retries exhausted: tear the VPN down and build it again from
    /// scratch at this care-of address, then call `register`.
    ReestablishVpn { care_of_address: Ipv4Addr },
}

/// Errors of the registration client (the message is discarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MnError {
    #[error("malformed reply: {0}")]
    Malformed(#[from] MipError),
    #[error("reply authentication: {0}")]
    Auth(#[from] AuthError),
    #[error("return-routability message: {0}")]
    Rr(#[from] RrError),
    #[error("no registration pending")]
    NotRegistering,
    #[error("reply for another home address or home agent")]
    WrongNode,
    #[error("reply Identification does not match the pending request")]
    IdentificationMismatch,
    #[error("too many code-133 resynchronisations")]
    ResyncLimit,
    #[error("challenge for an address that is not our care-of address")]
    NotOurCareOfAddress,
}

/// The client's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnTimer {
    Retransmit = 0,
    Reregister = 1,
}

#[derive(Debug, Clone)]
struct Registering {
    care_of_address: Ipv4Addr,
    identification: Identification,
    /// When the first copy of this attempt went out: the granted lifetime
    /// counts from here (§3.6.2.2 asks to be conservative).
    sent_at: Instant,
    retransmissions: u32,
    rto: Duration,
    resyncs: u32,
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Registering(Registering),
    Registered { care_of_address: Ipv4Addr, expires_at: Option<Instant> },
}

/// The MN registration client.
#[derive(Debug)]
pub struct MobileNode {
    config: MobileNodeConfig,
    state: State,
    clock: IdentificationClock,
    timers: [Option<Instant>; 2],
    actions: VecDeque<MnAction>,
}

impl MobileNode {
    pub fn new(config: MobileNodeConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            clock: IdentificationClock::default(),
            timers: [None; 2],
            actions: VecDeque::new(),
        }
    }

    /// The care-of address in use, if any.
    pub fn care_of_address(&self) -> Option<Ipv4Addr> {
        match &self.state {
            State::Idle => None,
            State::Registering(r) => Some(r.care_of_address),
            State::Registered { care_of_address, .. } => Some(*care_of_address),
        }
    }

    /// When the current binding expires (`None`: not registered, or an
    /// infinite lifetime).
    pub fn expires_at(&self) -> Option<Instant> {
        match self.state {
            State::Registered { expires_at, .. } => expires_at,
            _ => None,
        }
    }

    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered { .. })
    }

    /// The MN configured a new care-of address: move the SAs, register.
    pub fn handle_care_of_address_change(&mut self, now: Instant, now_ntp: u64, new_care_of_address: Ipv4Addr) {
        if self.care_of_address() == Some(new_care_of_address) {
            return;
        }
        self.actions.push_back(MnAction::UpdateSas { new_care_of_address });
        self.register(now, now_ntp, new_care_of_address);
    }

    /// Registers at `care_of_address` without touching the SAs (first
    /// registration, or after the VPN was re-established).
    pub fn register(&mut self, now: Instant, now_ntp: u64, care_of_address: Ipv4Addr) {
        let r = Registering {
            care_of_address,
            identification: Identification(0),
            sent_at: now,
            retransmissions: 0,
            rto: self.config.initial_retransmit,
            resyncs: 0,
        };
        self.state = State::Registering(r);
        self.timers[MnTimer::Reregister as usize] = None;
        self.send_request(now, now_ntp);
    }

    fn send_request(&mut self, now: Instant, now_ntp: u64) {
        let State::Registering(r) = &mut self.state else {
            return;
        };
        // A fresh Identification for every transmission (§5.7: each must be
        // greater than the last the HA accepted).
        r.identification = self.clock.next(now_ntp);
        let repr = RegistrationRequestRepr {
            flags: self.config.flags,
            lifetime: self.config.lifetime,
            home_address: self.config.home_address,
            home_agent: self.config.home_agent,
            care_of_address: r.care_of_address,
            identification: r.identification,
            extensions: Vec::new(),
        };
        // Our own well-formed request with our own key cannot fail to sign.
        let Ok(payload) = repr.to_signed_bytes(&self.config.key) else {
            return;
        };
        self.timers[MnTimer::Retransmit as usize] = Some(now + r.rto);
        self.actions
            .push_back(MnAction::Transmit { dst: SocketAddrV4::new(self.config.home_agent, MIP_PORT), payload });
    }

    /// A Registration Reply (UDP payload) arrived from the home agent.
    pub fn handle_reply(&mut self, now: Instant, now_ntp: u64, payload: &[u8]) -> Result<ReplyCode, MnError> {
        let p = reply::Packet::new_checked(payload)?;
        let rep = RegistrationReplyRepr::parse(&p)?;
        let State::Registering(r) = &mut self.state else {
            return Err(MnError::NotRegistering);
        };
        if rep.home_address != self.config.home_address || rep.home_agent != self.config.home_agent {
            return Err(MnError::WrongNode);
        }
        // §5.7: the low-order 32 bits always match the request; a 133 reply
        // carries the HA's time in the high-order bits, others echo it all.
        let matches = if rep.code == ReplyCode::HaIdentificationMismatch {
            rep.identification.low() == r.identification.low()
        } else {
            rep.identification == r.identification
        };
        if !matches {
            return Err(MnError::IdentificationMismatch);
        }
        auth::verify(payload, reply::FIXED_LEN, &self.config.key)?;
        match rep.code {
            c if c.is_accepted() => {
                let (coa, sent_at) = (r.care_of_address, r.sent_at);
                let lifetime = Duration::from_secs(u64::from(rep.lifetime));
                self.timers = [None; 2];
                // 0xffff is infinity and 0 a deregistration: no re-registration.
                let finite = rep.lifetime != u16::MAX && rep.lifetime != 0;
                let expires_at = finite.then(|| sent_at + lifetime);
                if finite {
                    // Re-register after 7/8 of the lifetime: late enough to
                    // be cheap, early enough for a few retransmissions.
                    self.timers[MnTimer::Reregister as usize] = Some(sent_at + lifetime * 7 / 8);
                }
                self.state = State::Registered { care_of_address: coa, expires_at };
                self.actions.push_back(MnAction::Registered { care_of_address: coa, lifetime });
            }
            ReplyCode::HaIdentificationMismatch => {
                if r.resyncs >= self.config.max_resyncs {
                    return Err(MnError::ResyncLimit);
                }
                r.resyncs += 1;
                self.clock.resync(rep.identification, now_ntp);
                self.send_request(now, now_ntp);
            }
            code => self.actions.push_back(MnAction::Denied { code }),
        }
        Ok(rep.code)
    }

    /// A return-routability Challenge (UDP payload from `src`) arrived
    /// through the tunnel: echo it if it names our care-of address.
    pub fn handle_rr_challenge(&mut self, src: SocketAddrV4, payload: &[u8]) -> Result<(), MnError> {
        let c = RrRepr::parse(payload)?;
        if c.kind != RrKind::Challenge {
            return Err(RrError::NotRr(payload[0], payload[1]).into());
        }
        if self.care_of_address() != Some(c.care_of_address) {
            return Err(MnError::NotOurCareOfAddress);
        }
        let resp = RrRepr { kind: RrKind::Response, ..c };
        self.actions.push_back(MnAction::Transmit { dst: src, payload: resp.to_bytes().to_vec() });
        Ok(())
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, now_ntp: u64) {
        if self.timers[MnTimer::Retransmit as usize].is_some_and(|t| t <= now) {
            self.timers[MnTimer::Retransmit as usize] = None;
            if let State::Registering(r) = &mut self.state {
                if r.retransmissions >= self.config.max_retransmissions {
                    let care_of_address = r.care_of_address;
                    self.state = State::Idle;
                    self.timers = [None; 2];
                    self.actions.push_back(MnAction::ReestablishVpn { care_of_address });
                } else {
                    r.retransmissions += 1;
                    r.rto = (r.rto * 2).min(self.config.max_retransmit);
                    self.send_request(now, now_ntp);
                }
            }
        }
        if self.timers[MnTimer::Reregister as usize].is_some_and(|t| t <= now) {
            self.timers[MnTimer::Reregister as usize] = None;
            if let State::Registered { care_of_address, .. } = self.state {
                self.register(now, now_ntp, care_of_address);
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<MnAction> {
        self.actions.pop_front()
    }

    /// The earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::auth::AuthAlgorithm;
    use crate::vpn::request;

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
    const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const COA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
    const NTP: u64 = 0xe8a1_0000_0000_0000;

    fn key() -> MnHaKey {
        MnHaKey::new(0x1001, AuthAlgorithm::HmacMd5, b"secret").unwrap()
    }

    fn sent_request(mn: &mut MobileNode) -> RegistrationRequestRepr {
        loop {
            match mn.poll_action() {
                Some(MnAction::Transmit { dst, payload }) => {
                    assert_eq!(dst, SocketAddrV4::new(HA, 434));
                    auth::verify(&payload, request::FIXED_LEN, &key()).unwrap();
                    return RegistrationRequestRepr::parse(&request::Packet::new_checked(&payload[..]).unwrap())
                        .unwrap();
                }
                Some(_) => continue,
                None => panic!("no request sent"),
            }
        }
    }

    fn reply(code: ReplyCode, id: Identification, lifetime: u16) -> Vec<u8> {
        RegistrationReplyRepr {
            code,
            lifetime,
            home_address: HOME,
            home_agent: HA,
            identification: id,
            extensions: vec![],
        }
        .to_bytes(Some(&key()))
        .unwrap()
    }

    #[test]
    fn sas_move_before_request_then_registered() {
        let t0 = Instant::now();
        let mut mn = MobileNode::new(MobileNodeConfig::new(HOME, HA, key()));
        mn.handle_care_of_address_change(t0, NTP, COA);
        assert_eq!(mn.poll_action(), Some(MnAction::UpdateSas { new_care_of_address: COA }));
        let req = sent_request(&mut mn);
        assert_eq!((req.care_of_address, req.home_address, req.lifetime), (COA, HOME, 1800));
        assert!(req.flags.contains(RequestFlags::D));
        assert_eq!(mn.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(
            mn.handle_reply(t1, NTP, &reply(ReplyCode::Accepted, req.identification, 600)),
            Ok(ReplyCode::Accepted)
        );
        assert_eq!(
            mn.poll_action(),
            Some(MnAction::Registered { care_of_address: COA, lifetime: Duration::from_secs(600) })
        );
        // Re-registration at 7/8 of the lifetime counted from the send time.
        assert_eq!(mn.poll_timeout(), Some(t0 + Duration::from_secs(525)));
        assert_eq!(mn.expires_at(), Some(t0 + Duration::from_secs(600)));
        mn.handle_timeout(t0 + Duration::from_secs(525), NTP + (525u64 << 32));
        let again = sent_request(&mut mn);
        assert_eq!(again.care_of_address, COA);
        assert!(again.identification > req.identification);
    }

    #[test]
    fn backoff_then_reestablish() {
        let t0 = Instant::now();
        let mut mn = MobileNode::new(MobileNodeConfig::new(HOME, HA, key()));
        mn.handle_care_of_address_change(t0, NTP, COA);
        let mut ids = vec![sent_request(&mut mn).identification];
        let mut t = t0;
        for expect in [2u64, 4, 8, 16] {
            let due = mn.poll_timeout().unwrap();
            assert_eq!(due - t, Duration::from_secs(expect));
            t = due;
            mn.handle_timeout(t, NTP);
            ids.push(sent_request(&mut mn).identification);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "fresh, increasing Identification per retransmission");
        let due = mn.poll_timeout().unwrap();
        assert_eq!(due - t, Duration::from_secs(32));
        mn.handle_timeout(due, NTP);
        assert_eq!(mn.poll_action(), Some(MnAction::ReestablishVpn { care_of_address: COA }));
        assert_eq!(mn.poll_timeout(), None);
    }

    #[test]
    fn resync_on_133_and_reject_bad_replies() {
        let t0 = Instant::now();
        let mut mn = MobileNode::new(MobileNodeConfig::new(HOME, HA, key()));
        mn.handle_care_of_address_change(t0, NTP, COA);
        let req = sent_request(&mut mn);
        // Wrong low bits: not ours.
        let bad =
            reply(ReplyCode::HaIdentificationMismatch, Identification::from_parts(1, !req.identification.low()), 0);
        assert_eq!(mn.handle_reply(t0, NTP, &bad), Err(MnError::IdentificationMismatch));
        // Tampered authenticator.
        let mut forged = reply(ReplyCode::Accepted, req.identification, 600);
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert_eq!(mn.handle_reply(t0, NTP, &forged), Err(MnError::Auth(AuthError::Mismatch)));
        assert!(mn.poll_action().is_none());
        // HA 1000 s ahead.
        let ha_time = Identification::from_parts(req.identification.seconds() + 1000, req.identification.low());
        let r133 = reply(ReplyCode::HaIdentificationMismatch, ha_time, 0);
        assert_eq!(mn.handle_reply(t0, NTP, &r133), Ok(ReplyCode::HaIdentificationMismatch));
        let retry = sent_request(&mut mn);
        assert_eq!(retry.identification.seconds(), req.identification.seconds() + 1000);
        // A second 133 for the same attempt exceeds the limit.
        let r133b =
            reply(ReplyCode::HaIdentificationMismatch, Identification::from_parts(5, retry.identification.low()), 0);
        assert_eq!(mn.handle_reply(t0, NTP, &r133b), Err(MnError::ResyncLimit));
    }

    #[test]
    fn answers_challenge_for_own_address_only() {
        let t0 = Instant::now();
        let mut mn = MobileNode::new(MobileNodeConfig::new(HOME, HA, key()));
        mn.handle_care_of_address_change(t0, NTP, COA);
        while mn.poll_action().is_some() {}
        let gw = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 254), 434);
        let c = RrRepr { kind: RrKind::Challenge, care_of_address: COA, nonce: [9; 16] };
        mn.handle_rr_challenge(gw, &c.to_bytes()).unwrap();
        let expect = RrRepr { kind: RrKind::Response, ..c }.to_bytes().to_vec();
        assert_eq!(mn.poll_action(), Some(MnAction::Transmit { dst: gw, payload: expect }));
        let other = RrRepr { care_of_address: Ipv4Addr::new(203, 0, 113, 1), ..c };
        assert_eq!(mn.handle_rr_challenge(gw, &other.to_bytes()), Err(MnError::NotOurCareOfAddress));
        assert!(mn.poll_action().is_none());
    }
}
