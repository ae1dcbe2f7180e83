//! The home agent (RFC 5944 §3.8) with the seed-004 routine: a valid
//! Registration Request that came through a VPN gateway is answered with an
//! SIU to that gateway carrying the Registration Reply, so the gateway
//! moves its outbound SA before the reply is sent; otherwise the reply goes
//! straight back to the request's source (§3.8.3).
//!
//! Sans-IO: `handle_request` in, `poll_transmit` out; bindings expire on
//! `handle_timeout`. `now_ntp` is the wall clock in NTP format (§5.7).

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::auth::{self, AuthError, MnHaKey};
use super::extension::MipError;
use super::identification::{self, Identification, ReplayError};
use super::reply::{RegistrationReplyRepr, ReplyCode};
use super::request::{self, MIP_PORT, RegistrationRequestRepr};
use super::siu::{FLAG_NO_OLD_COA, SiuError, SiuKey, SiuRepr};
use super::udp;

/// Configuration of the home agent.
#[derive(Debug, Clone)]
pub struct HomeAgentConfig {
    /// The HA's address (the Home Agent field must name it, §3.8.2.1).
    pub address: Ipv4Addr,
    /// Longest lifetime granted, seconds.
    pub max_lifetime: u16,
    /// Timestamp tolerance (§5.7, default 7 s).
    pub skew: Duration,
    /// TTL of the reply datagrams handed to gateways.
    pub ttl: u8,
}

impl HomeAgentConfig {
    pub fn new(address: Ipv4Addr) -> Self {
        Self { address, max_lifetime: 1800, skew: identification::DEFAULT_SKEW, ttl: 64 }
    }
}

/// A mobility binding (§3.8.2.2 / binding cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub care_of_address: Ipv4Addr,
    /// Granted lifetime, seconds.
    pub lifetime: u16,
    /// `None` for the infinite lifetime 0xffff.
    pub expires_at: Option<Instant>,
    /// The gateway (inner address) the registration came through.
    pub via_gateway: Option<Ipv4Addr>,
    /// The care-of address before the last change, if any. A
    /// retransmitted request (its SIU or Reply lost) registers the address
    /// we already have: its SIU still names this one as the old care-of
    /// address, so a gateway that never got the first SIU finds its SA
    /// there (one that did sees no move and forwards the Reply).
    pub previous_care_of_address: Option<Ipv4Addr>,
}

/// Why a request was refused. Codes per RFC 5944 §3.4 where one applies;
/// the others are silently discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("malformed request: {0}")]
    Malformed(MipError),
    #[error("unknown home address")]
    UnknownHomeAddress,
    #[error("mobile node failed authentication: {0}")]
    Authentication(AuthError),
    #[error("identification mismatch: {0}")]
    Identification(ReplayError),
    #[error("Home Agent field names another home agent")]
    UnknownHomeAgentAddress,
    #[error("came through a gateway we share no SIU key with")]
    UnknownGateway,
    #[error("could not build the reply: {0}")]
    Build(SiuError),
}

impl HaError {
    /// The Reply code sent for this refusal, if any (§3.4).
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Self::Authentication(_) => Some(ReplyCode::HaMobileNodeFailedAuthentication),
            Self::Identification(_) => Some(ReplyCode::HaIdentificationMismatch),
            Self::UnknownHomeAgentAddress => Some(ReplyCode::HaUnknownHomeAgentAddress),
            _ => None,
        }
    }
}

/// Per-reason counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaCounters {
    pub accepted: u64,
    pub deregistered: u64,
    pub malformed: u64,
    pub unknown_home_address: u64,
    pub authentication_failed: u64,
    pub identification_mismatch: u64,
    pub unknown_home_agent_address: u64,
    pub unknown_gateway: u64,
    pub siu_sent: u64,
    pub direct_replies: u64,
    pub bindings_expired: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Registered,
    /// Lifetime 0 (§3.8.2.2 deregistration).
    Deregistered,
}

/// What the daemon sends (UDP from the HA's port 434).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaTransmit {
    /// A Registration Reply straight to the request's source.
    Reply { dst: SocketAddrV4, payload: Vec<u8> },
    /// An SIU to a gateway (port 434).
    Siu { dst: SocketAddrV4, payload: Vec<u8> },
}

#[derive(Debug)]
struct MobileNodeEntry {
    key: MnHaKey,
    /// Last accepted Identification: kept across deregistration (§5.7).
    last_identification: Option<Identification>,
}

#[derive(Debug)]
struct GatewayEntry {
    key: SiuKey,
    /// Next SIU sequence number; SIU.md: start from the wall clock so a
    /// restarted HA never reuses numbers.
    next_sequence: u64,
}

/// The home agent.
#[derive(Debug)]
pub struct HomeAgent {
    config: HomeAgentConfig,
    nodes: HashMap<Ipv4Addr, MobileNodeEntry>,
    gateways: HashMap<Ipv4Addr, GatewayEntry>,
    bindings: HashMap<Ipv4Addr, Binding>,
    counters: HaCounters,
    transmits: VecDeque<HaTransmit>,
}

impl HomeAgent {
    pub fn new(config: HomeAgentConfig) -> Self {
        Self {
            config,
            nodes: HashMap::new(),
            gateways: HashMap::new(),
            bindings: HashMap::new(),
            counters: HaCounters::default(),
            transmits: VecDeque::new(),
        }
    }

    /// Allows a mobile node with its mobility security association.
    pub fn add_mobile_node(&mut self, home_address: Ipv4Addr, key: MnHaKey) {
        self.nodes.insert(home_address, MobileNodeEntry { key, last_identification: None });
    }

    /// Adds a VPN gateway (its inner address) and the SIU key shared with
    /// it. `first_sequence` must exceed every number used before with this
    /// key (SIU.md suggests the NTP time at start).
    pub fn add_gateway(&mut self, inner_address: Ipv4Addr, key: SiuKey, first_sequence: u64) {
        self.gateways.insert(inner_address, GatewayEntry { key, next_sequence: first_sequence });
    }

    pub fn binding(&self, home_address: Ipv4Addr) -> Option<&Binding> {
        self.bindings.get(&home_address)
    }

    pub fn counters(&self) -> &HaCounters {
        &self.counters
    }

    /// A Registration Request (UDP payload) from `src`. `via_gateway` is the
    /// inner address of the VPN gateway it came through, as the daemon
    /// knows it (ingress interface or next hop), or `None` when the MN is
    /// inside the private network. Returns the Reply code sent.
    pub fn handle_request(
        &mut self,
        now: Instant,
        now_ntp: u64,
        src: SocketAddrV4,
        via_gateway: Option<Ipv4Addr>,
        payload: &[u8],
    ) -> Result<ReplyCode, HaError> {
        let r = self.process(now, now_ntp, src, via_gateway, payload);
        let c = &mut self.counters;
        match &r {
            Ok(Outcome::Registered) => c.accepted += 1,
            Ok(Outcome::Deregistered) => c.deregistered += 1,
            Err(HaError::Malformed(_)) => c.malformed += 1,
            Err(HaError::UnknownHomeAddress) => c.unknown_home_address += 1,
            Err(HaError::Authentication(_)) => c.authentication_failed += 1,
            Err(HaError::Identification(_)) => c.identification_mismatch += 1,
            Err(HaError::UnknownHomeAgentAddress) => c.unknown_home_agent_address += 1,
            Err(HaError::UnknownGateway) => c.unknown_gateway += 1,
            Err(HaError::Build(_)) => {}
        }
        r.map(|_| ReplyCode::Accepted)
    }

    fn process(
        &mut self,
        now: Instant,
        now_ntp: u64,
        src: SocketAddrV4,
        via_gateway: Option<Ipv4Addr>,
        payload: &[u8],
    ) -> Result<Outcome, HaError> {
        let p = request::Packet::new_checked(payload).map_err(HaError::Malformed)?;
        // Unknown extensions 0-127 land here: silently discarded (§3.5).
        let req = RegistrationRequestRepr::parse(&p).map_err(HaError::Malformed)?;
        if via_gateway.is_some_and(|g| !self.gateways.contains_key(&g)) {
            return Err(HaError::UnknownGateway);
        }
        let node = self.nodes.get(&req.home_address).ok_or(HaError::UnknownHomeAddress)?;
        let key = node.key.clone();
        if let Err(e) = auth::verify(payload, request::FIXED_LEN, &key) {
            // §3.8.2.1: reply 131. The request is not trusted, so its
            // care-of address is never handed to a gateway: reply direct.
            self.reply_direct(&req, src, ReplyCode::HaMobileNodeFailedAuthentication, 0, req.identification, &key);
            return Err(HaError::Authentication(e));
        }
        if let Err(e) =
            identification::check_timestamp(req.identification, node.last_identification, now_ntp, self.config.skew)
        {
            let id = identification::mismatch_reply_identification(req.identification, now_ntp);
            self.respond(&req, src, via_gateway, ReplyCode::HaIdentificationMismatch, 0, id, &key)?;
            return Err(HaError::Identification(e));
        }
        if req.home_agent != self.config.address {
            self.respond(&req, src, via_gateway, ReplyCode::HaUnknownHomeAgentAddress, 0, req.identification, &key)?;
            return Err(HaError::UnknownHomeAgentAddress);
        }
        if let Some(n) = self.nodes.get_mut(&req.home_address) {
            n.last_identification = Some(req.identification);
        }
        let lifetime = req.lifetime.min(self.config.max_lifetime);
        // Build the reply (and SIU) against the binding as it was, so the
        // SIU names the old care-of address; then update the cache.
        self.respond(&req, src, via_gateway, ReplyCode::Accepted, lifetime, req.identification, &key)?;
        if lifetime == 0 {
            self.bindings.remove(&req.home_address);
            return Ok(Outcome::Deregistered);
        }
        let expires_at = (lifetime != u16::MAX).then(|| now + Duration::from_secs(u64::from(lifetime)));
        let previous_care_of_address = match self.bindings.get(&req.home_address) {
            Some(b) if b.care_of_address != req.care_of_address => Some(b.care_of_address),
            Some(b) => b.previous_care_of_address,
            None => None,
        };
        self.bindings.insert(
            req.home_address,
            Binding {
                care_of_address: req.care_of_address,
                lifetime,
                expires_at,
                via_gateway,
                previous_care_of_address,
            },
        );
        Ok(Outcome::Registered)
    }

    fn reply_bytes(
        &self,
        req: &RegistrationRequestRepr,
        code: ReplyCode,
        lifetime: u16,
        id: Identification,
        key: &MnHaKey,
    ) -> Vec<u8> {
        let rep = RegistrationReplyRepr {
            code,
            lifetime,
            home_address: req.home_address,
            home_agent: self.config.address,
            identification: id,
            extensions: Vec::new(),
        };
        // Emitting a fresh reply with a configured key cannot fail.
        rep.to_bytes(Some(key)).unwrap_or_default()
    }

    fn reply_direct(
        &mut self,
        req: &RegistrationRequestRepr,
        src: SocketAddrV4,
        code: ReplyCode,
        lifetime: u16,
        id: Identification,
        key: &MnHaKey,
    ) {
        let payload = self.reply_bytes(req, code, lifetime, id, key);
        self.counters.direct_replies += 1;
        self.transmits.push_back(HaTransmit::Reply { dst: src, payload });
    }

    /// Seed 004, figure 4: through a gateway, wrap the reply in an SIU.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        req: &RegistrationRequestRepr,
        src: SocketAddrV4,
        via_gateway: Option<Ipv4Addr>,
        code: ReplyCode,
        lifetime: u16,
        id: Identification,
        key: &MnHaKey,
    ) -> Result<(), HaError> {
        let Some(gw) = via_gateway else {
            self.reply_direct(req, src, code, lifetime, id, key);
            return Ok(());
        };
        let payload = self.reply_bytes(req, code, lifetime, id, key);
        let datagram = udp::build(SocketAddrV4::new(self.config.address, MIP_PORT), src, self.config.ttl, &payload)
            .map_err(|_| HaError::Build(SiuError::TooLong))?;
        let (flags, old) = match self.bindings.get(&req.home_address) {
            // The same address again (a retransmission, or a refresh): the
            // old care-of address is the one before it (see Binding).
            Some(b) if b.via_gateway == Some(gw) && b.care_of_address == req.care_of_address => {
                (0, b.previous_care_of_address.unwrap_or(b.care_of_address))
            }
            Some(b) if b.via_gateway == Some(gw) => (0, b.care_of_address),
            _ => (FLAG_NO_OLD_COA, Ipv4Addr::UNSPECIFIED),
        };
        let entry = self.gateways.get_mut(&gw).ok_or(HaError::UnknownGateway)?;
        let siu = SiuRepr {
            flags,
            sequence: entry.next_sequence,
            home_address: req.home_address,
            old_care_of_address: old,
            new_care_of_address: req.care_of_address,
            lifetime,
            reply_datagram: datagram,
        };
        let bytes = siu.to_bytes(&entry.key).map_err(HaError::Build)?;
        entry.next_sequence += 1;
        self.counters.siu_sent += 1;
        self.transmits.push_back(HaTransmit::Siu { dst: SocketAddrV4::new(gw, MIP_PORT), payload: bytes });
        Ok(())
    }

    /// Removes expired bindings.
    pub fn handle_timeout(&mut self, now: Instant) {
        let before = self.bindings.len();
        self.bindings.retain(|_, b| b.expires_at.is_none_or(|t| t > now));
        self.counters.bindings_expired += (before - self.bindings.len()) as u64;
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().filter_map(|b| b.expires_at).min()
    }

    pub fn poll_transmit(&mut self) -> Option<HaTransmit> {
        self.transmits.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::auth::AuthAlgorithm;
    use crate::vpn::reply;
    use crate::vpn::request::RequestFlags;

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
    const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const COA: Ipv4Addr = Ipv4Addr::new(10, 1, 7, 9);
    const NTP: u64 = 0xe8a1_0000_0000_0000;

    fn key() -> MnHaKey {
        MnHaKey::new(0x8000_0010, AuthAlgorithm::HmacSha256, b"sha secret").unwrap()
    }

    fn request(home_agent: Ipv4Addr, lifetime: u16, id: u64) -> Vec<u8> {
        RegistrationRequestRepr {
            flags: RequestFlags(RequestFlags::D),
            lifetime,
            home_address: HOME,
            home_agent,
            care_of_address: COA,
            identification: Identification(id),
            extensions: vec![],
        }
        .to_signed_bytes(&key())
        .unwrap()
    }

    fn ha() -> HomeAgent {
        let mut ha = HomeAgent::new(HomeAgentConfig::new(HA));
        ha.add_mobile_node(HOME, key());
        ha
    }

    fn direct_reply(ha: &mut HomeAgent) -> RegistrationReplyRepr {
        match ha.poll_transmit() {
            Some(HaTransmit::Reply { dst, payload }) => {
                assert_eq!(dst, SocketAddrV4::new(COA, 1434));
                auth::verify(&payload, reply::FIXED_LEN, &key()).unwrap();
                RegistrationReplyRepr::parse(&reply::Packet::new_checked(&payload[..]).unwrap()).unwrap()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inside_the_private_network_replies_directly_and_expires() {
        let t0 = Instant::now();
        let mut ha = ha();
        let src = SocketAddrV4::new(COA, 1434);
        assert_eq!(ha.handle_request(t0, NTP, src, None, &request(HA, 4000, NTP)), Ok(ReplyCode::Accepted));
        let rep = direct_reply(&mut ha);
        // Lifetime capped at the configured maximum, Identification echoed.
        assert_eq!((rep.code, rep.lifetime, rep.identification), (ReplyCode::Accepted, 1800, Identification(NTP)));
        let b = ha.binding(HOME).unwrap();
        assert_eq!((b.care_of_address, b.via_gateway), (COA, None));
        assert_eq!(ha.poll_timeout(), Some(t0 + Duration::from_secs(1800)));
        ha.handle_timeout(t0 + Duration::from_secs(1799));
        assert!(ha.binding(HOME).is_some());
        ha.handle_timeout(t0 + Duration::from_secs(1800));
        assert!(ha.binding(HOME).is_none());
        assert_eq!(ha.counters().bindings_expired, 1);
    }

    #[test]
    fn deregistration_removes_binding() {
        let t0 = Instant::now();
        let mut ha = ha();
        let src = SocketAddrV4::new(COA, 1434);
        ha.handle_request(t0, NTP, src, None, &request(HA, 600, NTP)).unwrap();
        ha.handle_request(t0, NTP, src, None, &request(HA, 0, NTP + 1)).unwrap();
        assert!(ha.binding(HOME).is_none());
        assert_eq!((ha.counters().accepted, ha.counters().deregistered), (1, 1));
    }

    #[test]
    fn wrong_home_agent_address_gets_136() {
        let mut ha = ha();
        let src = SocketAddrV4::new(COA, 1434);
        let r = ha.handle_request(Instant::now(), NTP, src, None, &request(Ipv4Addr::new(10, 9, 9, 9), 600, NTP));
        assert_eq!(r, Err(HaError::UnknownHomeAgentAddress));
        assert_eq!(r.unwrap_err().reply_code(), Some(ReplyCode::HaUnknownHomeAgentAddress));
        assert_eq!(direct_reply(&mut ha).code, ReplyCode::HaUnknownHomeAgentAddress);
        assert!(ha.binding(HOME).is_none());
        assert_eq!(ha.counters().unknown_home_agent_address, 1);
    }

    #[test]
    fn silent_discards_are_counted() {
        let mut ha = ha();
        let src = SocketAddrV4::new(COA, 1434);
        let now = Instant::now();
        // Unknown home address.
        let mut other = HomeAgent::new(HomeAgentConfig::new(HA));
        assert_eq!(other.handle_request(now, NTP, src, None, &request(HA, 600, NTP)), Err(HaError::UnknownHomeAddress));
        assert_eq!(other.poll_transmit(), None);
        // Unknown non-skippable extension before the authenticator.
        let mut req =
            RegistrationRequestRepr::parse(&request::Packet::new_checked(&request(HA, 600, NTP)[..]).unwrap()).unwrap();
        req.extensions.insert(0, crate::vpn::extension::Extension::Other { ext_type: 200, data: vec![] });
        let mut bytes = req.to_signed_bytes(&key()).unwrap();
        bytes[24] = 99;
        assert_eq!(
            ha.handle_request(now, NTP, src, None, &bytes),
            Err(HaError::Malformed(MipError::UnknownNonSkippable(99)))
        );
        // Through a gateway we have no key for.
        assert_eq!(
            ha.handle_request(now, NTP, src, Some(Ipv4Addr::new(10, 1, 0, 254)), &request(HA, 600, NTP)),
            Err(HaError::UnknownGateway)
        );
        assert_eq!(ha.poll_transmit(), None);
        assert_eq!((ha.counters().malformed, ha.counters().unknown_gateway), (1, 1));
        assert!(ha.binding(HOME).is_none());
    }
}
