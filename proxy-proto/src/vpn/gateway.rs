//! The VPN gateway's side of seed 004: SA bundles per mobile node whose
//! inbound SA has a wildcard source selector (any care-of address is
//! accepted, and counted), and which move their outbound SA to the new
//! care-of address only on a valid SIU from the home agent, before the
//! Registration Reply carried in it is forwarded.
//!
//! Our extension (SIU.md): a return-routability check of a new care-of
//! address, started as soon as the gateway sees a Registration Request
//! from a new outer source address, in parallel with the home agent's
//! processing. An SIU for an address not verified yet moves the SA at once
//! but on credit (credit-based authorization, as HIP mobility does it,
//! RFC 8046 §5.4, after Vogt and Arkko): the SA may carry `rr_credit` bytes
//! to the address until the echo arrives, so the check adds no latency,
//! and a node that claims an address it does not receive at redirects at
//! most that much there; an address left unverified earns the next one no
//! credit for `rr_timeout`. Without credit (`rr_credit` 0, or during that
//! pause) the SIU waits for the echo; if none arrives in time the SA does
//! not move.
//!
//! Sans-IO: `handle_*` in, `poll_action` / `poll_timeout` out.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::extension::MipError;
use super::reply;
use super::request::{self, MIP_PORT};
use super::rr::{NONCE_LEN, RrError, RrKind, RrRepr};
use super::siu::{self, FLAG_NO_OLD_COA, SiuError, SiuKey, SiuRepr};
use super::udp::{self, UdpError};

/// Default credit toward an unverified care-of address: 64 KiB, some 45
/// full-size packets, 0.5 ms of a 1 Gbit/s stream; the echo (one round
/// trip) normally comes long before it is spent.
pub const DEFAULT_RR_CREDIT: u64 = 64 * 1024;

/// Challenges sent per `rr_timeout` while an SA waits on credit.
const RR_RESENDS: u32 = 4;

/// Configuration of the gateway core.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The gateway's address inside the private network (source of the
    /// return-routability challenge).
    pub inner_address: Ipv4Addr,
    /// The return-routability check (on by default).
    pub return_routability: bool,
    /// How long an echo may take.
    pub rr_timeout: Duration,
    /// TTL of the challenge datagrams.
    pub ttl: u8,
    /// Bytes the outbound SA may carry to a registered but not yet
    /// verified care-of address (0: the SIU waits for the echo).
    pub rr_credit: u64,
}

impl GatewayConfig {
    pub fn new(inner_address: Ipv4Addr) -> Self {
        Self {
            inner_address,
            return_routability: true,
            rr_timeout: Duration::from_secs(3),
            ttl: 64,
            rr_credit: DEFAULT_RR_CREDIT,
        }
    }
}

/// One MN's SA bundle, as the gateway's IPsec layer has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaBundle {
    /// The MN's identity: its home address, the inner selector of the SAs.
    pub home_address: Ipv4Addr,
    /// SPI of the inbound SA (MN to GW), wildcard outer source.
    pub inbound_spi: u32,
    /// SPI of the outbound SA (GW to MN).
    pub outbound_spi: u32,
    /// Destination of the outbound SA.
    pub care_of_address: Ipv4Addr,
}

/// What the daemon must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GwAction {
    /// Change the outbound SA's destination (no re-keying, same SPI).
    MoveOutboundSa { outbound_spi: u32, old_care_of_address: Ipv4Addr, new_care_of_address: Ipv4Addr },
    /// Send the Registration Reply datagram through the outbound SA to `dst`.
    Forward { outbound_spi: u32, dst: Ipv4Addr, datagram: Vec<u8> },
    /// Send a return-routability Challenge datagram through the outbound
    /// SA to `dst` once, without moving the SA.
    Challenge { outbound_spi: u32, dst: Ipv4Addr, datagram: Vec<u8> },
    /// Limit what the outbound SA may still send to its destination to
    /// `credit` bytes (`None`: no limit, the address is verified). Comes
    /// before the `MoveOutboundSa` of a move on credit.
    Credit { outbound_spi: u32, credit: Option<u64> },
}

/// Why the gateway refused a message; each has a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GwError {
    #[error("no SA bundle with inbound SPI {0:#x}")]
    UnknownSpi(u32),
    #[error("malformed Registration Request: {0}")]
    MalformedRequest(MipError),
    #[error("request's home address is not this SA bundle's")]
    HomeAddressMismatch,
    #[error("malformed SIU: {0}")]
    MalformedSiu(SiuError),
    #[error("SIU key id {0:#x} unknown")]
    UnknownKeyId(u32),
    #[error("SIU from {0}, not the home agent of its key")]
    UnexpectedSiuSource(Ipv4Addr),
    #[error("SIU ICV mismatch")]
    BadIcv,
    #[error("SIU sequence {got} not above {last}")]
    Replayed { got: u64, last: u64 },
    #[error("SIU for a mobile node without an SA bundle")]
    UnknownMobileNode,
    #[error("SIU old care-of address does not match the SA")]
    OldCareOfAddressMismatch,
    #[error("SIU reply datagram malformed: {0}")]
    BadReplyDatagram(UdpError),
    #[error("SIU reply is not a Registration Reply for this mobile node")]
    ReplyMismatch,
    #[error("malformed return-routability message: {0}")]
    MalformedRr(RrError),
    #[error("return-routability echo does not match a pending challenge")]
    RrMismatch,
}

/// Per-reason counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GwCounters {
    /// Inbound packets accepted from a source other than the SA's
    /// care-of address (the wildcard selector at work).
    pub wildcard_source_accepted: u64,
    pub unknown_spi: u64,
    pub malformed: u64,
    pub home_address_mismatch: u64,
    pub siu_applied: u64,
    pub siu_denial_forwarded: u64,
    pub siu_unknown_key: u64,
    pub siu_unexpected_source: u64,
    pub siu_bad_icv: u64,
    pub siu_replayed: u64,
    pub siu_unknown_mobile_node: u64,
    pub siu_old_coa_mismatch: u64,
    pub siu_bad_reply: u64,
    pub siu_parked: u64,
    /// SIUs applied before the echo, on credit.
    pub siu_on_credit: u64,
    /// Moves on credit whose address was never verified: credit withdrawn.
    pub rr_credit_revoked: u64,
    pub rr_started: u64,
    pub rr_verified: u64,
    pub rr_failed: u64,
    pub rr_mismatch: u64,
}

#[derive(Debug)]
struct HomeAgentEntry {
    address: Ipv4Addr,
    key: SiuKey,
    last_sequence: Option<u64>,
}

#[derive(Debug, Clone)]
struct RrCheck {
    address: Ipv4Addr,
    nonce: [u8; NONCE_LEN],
    deadline: Instant,
    verified: bool,
    /// When the challenge goes out again (the SA moved on credit: the MN,
    /// registered, does not retransmit its request).
    resend_at: Option<Instant>,
}

/// An accepted SIU waiting for the return-routability echo.
#[derive(Debug, Clone)]
struct ParkedSiu {
    new_care_of_address: Ipv4Addr,
    reply_datagram: Vec<u8>,
}

#[derive(Debug)]
struct BundleState {
    sa: SaBundle,
    rr: Option<RrCheck>,
    parked: Option<ParkedSiu>,
    /// The SA points at an address not verified yet, on credit.
    on_credit: bool,
    /// The SA's credit is limited (on credit, or withdrawn): lifted once
    /// an address is verified.
    limited: bool,
    /// No credit before this: a credited address was left unverified.
    no_credit_until: Option<Instant>,
}

/// The gateway core.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    keys: HashMap<u32, HomeAgentEntry>,
    bundles: HashMap<Ipv4Addr, BundleState>,
    by_inbound_spi: HashMap<u32, Ipv4Addr>,
    counters: GwCounters,
    actions: VecDeque<GwAction>,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Self {
        Self {
            config,
            keys: HashMap::new(),
            bundles: HashMap::new(),
            by_inbound_spi: HashMap::new(),
            counters: GwCounters::default(),
            actions: VecDeque::new(),
        }
    }

    /// Adds the SIU key shared with the home agent at `address`.
    pub fn add_home_agent(&mut self, address: Ipv4Addr, key: SiuKey) {
        self.keys.insert(key.key_id, HomeAgentEntry { address, key, last_sequence: None });
    }

    /// Adds (or replaces, after the VPN was re-established) an SA bundle.
    pub fn add_bundle(&mut self, sa: SaBundle) {
        // Every inbound SPI of the old bundle (a rekey's too) goes.
        self.by_inbound_spi.retain(|_, home| *home != sa.home_address);
        self.by_inbound_spi.insert(sa.inbound_spi, sa.home_address);
        self.bundles.insert(
            sa.home_address,
            BundleState { sa, rr: None, parked: None, on_credit: false, limited: false, no_credit_until: None },
        );
    }

    /// A rekey of the bundle's SAs (HIP UPDATE, RFC 7402 §6.9) added the
    /// inbound SA `spi` beside the current one: the MN may send on it as
    /// soon as it has the gateway's answer, so messages on it are the
    /// bundle's from now on. False: no such bundle.
    pub fn add_inbound_spi(&mut self, home_address: Ipv4Addr, spi: u32) -> bool {
        if !self.bundles.contains_key(&home_address) {
            return false;
        }
        self.by_inbound_spi.insert(spi, home_address);
        true
    }

    /// The rekey switched the bundle to new SAs (RFC 7402 §6.10): new
    /// SPIs, the same bundle. Its care-of address, a return-routability
    /// check under way, a parked SIU and the credit carry on (new keys do
    /// not verify an address), and the actions from now on name the new
    /// outbound SPI. The replaced inbound SPI stays the bundle's until
    /// [`Gateway::remove_inbound_spi`] (packets still in flight on it).
    /// False: no such bundle.
    pub fn rekey_bundle(&mut self, home_address: Ipv4Addr, inbound_spi: u32, outbound_spi: u32) -> bool {
        let Some(b) = self.bundles.get_mut(&home_address) else { return false };
        b.sa.inbound_spi = inbound_spi;
        b.sa.outbound_spi = outbound_spi;
        self.by_inbound_spi.insert(inbound_spi, home_address);
        true
    }

    /// An inbound SA a rekey replaced (or added and then gave up) is gone.
    /// A bundle's current inbound SPI stays.
    pub fn remove_inbound_spi(&mut self, spi: u32) {
        let current =
            self.by_inbound_spi.get(&spi).and_then(|h| self.bundles.get(h)).is_some_and(|b| b.sa.inbound_spi == spi);
        if !current {
            self.by_inbound_spi.remove(&spi);
        }
    }

    pub fn bundle(&self, home_address: Ipv4Addr) -> Option<&SaBundle> {
        self.bundles.get(&home_address).map(|b| &b.sa)
    }

    pub fn counters(&self) -> &GwCounters {
        &self.counters
    }

    /// The inbound SA's selector check with a wildcard outer source
    /// (seed 004): any source is accepted for a known SPI; one other than
    /// the SA's care-of address is counted.
    pub fn accept_inbound(&mut self, inbound_spi: u32, outer_src: Ipv4Addr) -> Result<(), GwError> {
        let r = match self.by_inbound_spi.get(&inbound_spi).and_then(|h| self.bundles.get(h)) {
            None => Err(GwError::UnknownSpi(inbound_spi)),
            Some(b) => {
                if b.sa.care_of_address != outer_src {
                    self.counters.wildcard_source_accepted += 1;
                }
                Ok(())
            }
        };
        self.count(r)
    }

    /// A Registration Request (UDP payload to port 434) came out of the
    /// inbound SA `inbound_spi` from outer source `outer_src`; the daemon
    /// forwards it to the HA unchanged. If the source is new, start the
    /// return-routability check in parallel. `rng` fills the nonce.
    pub fn handle_registration_request(
        &mut self,
        now: Instant,
        inbound_spi: u32,
        outer_src: Ipv4Addr,
        payload: &[u8],
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), GwError> {
        let r = self.registration_request(now, inbound_spi, outer_src, payload, rng);
        self.count(r)
    }

    fn registration_request(
        &mut self,
        now: Instant,
        inbound_spi: u32,
        outer_src: Ipv4Addr,
        payload: &[u8],
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), GwError> {
        let home = *self.by_inbound_spi.get(&inbound_spi).ok_or(GwError::UnknownSpi(inbound_spi))?;
        let p = request::Packet::new_checked(payload).map_err(GwError::MalformedRequest)?;
        if p.home_address() != home {
            return Err(GwError::HomeAddressMismatch);
        }
        let b = self.bundles.get(&home).ok_or(GwError::UnknownMobileNode)?;
        // Also from the SA's own address while that is unverified (its
        // check may have failed: this request is a chance to verify it).
        if self.config.return_routability && (outer_src != b.sa.care_of_address || b.on_credit || b.limited) {
            self.start_rr(now, home, outer_src, rng);
        }
        Ok(())
    }

    /// Starts (or, for the same address, re-sends) the challenge.
    fn start_rr(&mut self, now: Instant, home: Ipv4Addr, address: Ipv4Addr, rng: &mut impl FnMut(&mut [u8])) {
        let (inner, ttl, timeout) = (self.config.inner_address, self.config.ttl, self.config.rr_timeout);
        let Some(b) = self.bundles.get_mut(&home) else {
            return;
        };
        let nonce = match &mut b.rr {
            Some(rr) if rr.address == address && rr.verified => return,
            Some(rr) if rr.address == address => {
                // Retransmitted request: the challenge may have been lost.
                rr.deadline = now + timeout;
                rr.nonce
            }
            _ => {
                let mut nonce = [0u8; NONCE_LEN];
                rng(&mut nonce);
                // A credited address left before its echo came: no credit
                // for the next one for a while.
                if b.on_credit && b.rr.as_ref().is_some_and(|rr| !rr.verified) {
                    b.no_credit_until = Some(now + timeout);
                }
                b.rr = Some(RrCheck { address, nonce, deadline: now + timeout, verified: false, resend_at: None });
                // A parked SIU for another address is now stale.
                if b.parked.as_ref().is_some_and(|p| p.new_care_of_address != address) {
                    b.parked = None;
                }
                self.counters.rr_started += 1;
                nonce
            }
        };
        let spi = b.sa.outbound_spi;
        self.challenge(home, spi, address, nonce, inner, ttl);
    }

    fn challenge(
        &mut self,
        home: Ipv4Addr,
        spi: u32,
        address: Ipv4Addr,
        nonce: [u8; NONCE_LEN],
        inner: Ipv4Addr,
        ttl: u8,
    ) {
        let challenge = RrRepr { kind: RrKind::Challenge, care_of_address: address, nonce };
        let Ok(datagram) = udp::build(
            SocketAddrV4::new(inner, MIP_PORT),
            SocketAddrV4::new(home, MIP_PORT),
            ttl,
            &challenge.to_bytes(),
        ) else {
            return;
        };
        self.actions.push_back(GwAction::Challenge { outbound_spi: spi, dst: address, datagram });
    }

    /// A return-routability Response (UDP payload) came out of the inbound
    /// SA `inbound_spi`.
    pub fn handle_rr_response(&mut self, inbound_spi: u32, payload: &[u8]) -> Result<(), GwError> {
        let r = self.rr_response(inbound_spi, payload);
        self.count(r)
    }

    fn rr_response(&mut self, inbound_spi: u32, payload: &[u8]) -> Result<(), GwError> {
        let home = *self.by_inbound_spi.get(&inbound_spi).ok_or(GwError::UnknownSpi(inbound_spi))?;
        let resp = RrRepr::parse(payload).map_err(GwError::MalformedRr)?;
        if resp.kind != RrKind::Response {
            return Err(GwError::MalformedRr(RrError::NotRr(siu::TYPE_EXPERIMENTAL, 2)));
        }
        let b = self.bundles.get_mut(&home).ok_or(GwError::UnknownMobileNode)?;
        let rr =
            b.rr.as_mut().filter(|rr| !rr.verified && rr.address == resp.care_of_address).ok_or(GwError::RrMismatch)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(&rr.nonce, &resp.nonce).map_err(|_| GwError::RrMismatch)?;
        rr.verified = true;
        self.counters.rr_verified += 1;
        if let Some(p) = b.parked.take()
            && p.new_care_of_address == resp.care_of_address
        {
            self.complete(home, p.new_care_of_address, p.reply_datagram, None);
        } else if b.sa.care_of_address == resp.care_of_address && (b.on_credit || b.limited) {
            // The SA went there on credit: the address is proven, no limit.
            b.rr = None;
            b.on_credit = false;
            b.limited = false;
            let spi = b.sa.outbound_spi;
            self.actions.push_back(GwAction::Credit { outbound_spi: spi, credit: None });
        }
        Ok(())
    }

    /// An SIU (UDP payload to port 434) from `src` inside the private
    /// network. `rng` fills a nonce if a check must start now.
    pub fn handle_siu(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        payload: &[u8],
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), GwError> {
        let r = self.siu(now, src, payload, rng);
        self.count(r)
    }

    fn siu(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        payload: &[u8],
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<(), GwError> {
        let p = siu::Packet::new_checked(payload).map_err(GwError::MalformedSiu)?;
        let entry = self.keys.get_mut(&p.key_id()).ok_or(GwError::UnknownKeyId(p.key_id()))?;
        if entry.address != src {
            return Err(GwError::UnexpectedSiuSource(src));
        }
        let siu = SiuRepr::parse(&p, |_| Some(entry.key.clone())).map_err(|e| match e {
            SiuError::BadIcv => GwError::BadIcv,
            e => GwError::MalformedSiu(e),
        })?;
        // Window-free replay protection: strictly increasing per key.
        if let Some(last) = entry.last_sequence
            && siu.sequence <= last
        {
            return Err(GwError::Replayed { got: siu.sequence, last });
        }
        entry.last_sequence = Some(siu.sequence);
        let b = self.bundles.get(&siu.home_address).ok_or(GwError::UnknownMobileNode)?;
        let code = check_reply(&siu)?;
        let (spi, current) = (b.sa.outbound_spi, b.sa.care_of_address);
        if !code.is_accepted() {
            // A denial moves nothing; the MN already listens at the new
            // address, so the reply goes there once (SIU.md, §4.3).
            self.counters.siu_denial_forwarded += 1;
            self.actions.push_back(GwAction::Forward {
                outbound_spi: spi,
                dst: siu.new_care_of_address,
                datagram: siu.reply_datagram,
            });
            return Ok(());
        }
        if siu.new_care_of_address == current {
            // Re-registration at the same address: nothing to move.
            self.counters.siu_applied += 1;
            self.actions.push_back(GwAction::Forward { outbound_spi: spi, dst: current, datagram: siu.reply_datagram });
            return Ok(());
        }
        if siu.flags & FLAG_NO_OLD_COA == 0 && siu.old_care_of_address != current {
            return Err(GwError::OldCareOfAddressMismatch);
        }
        if !self.config.return_routability
            || b.rr.as_ref().is_some_and(|rr| rr.verified && rr.address == siu.new_care_of_address)
        {
            self.complete(siu.home_address, siu.new_care_of_address, siu.reply_datagram, None);
            return Ok(());
        }
        // Not verified yet: start the check if the request's outer source
        // differed from the care-of address it registered.
        if b.rr.as_ref().is_none_or(|rr| rr.address != siu.new_care_of_address) {
            self.start_rr(now, siu.home_address, siu.new_care_of_address, rng);
        }
        let (credit, every) = (self.config.rr_credit, self.config.rr_timeout / RR_RESENDS);
        let Some(b) = self.bundles.get_mut(&siu.home_address) else { return Ok(()) };
        // Move now, on credit, while the check runs on: only from a
        // verified address, and not right after a credited one was left
        // unverified. Otherwise wait for the echo.
        if credit > 0 && !b.on_credit && b.no_credit_until.is_none_or(|t| now >= t) {
            if let Some(rr) = &mut b.rr {
                rr.resend_at = Some(now + every);
            }
            self.counters.siu_on_credit += 1;
            self.complete(siu.home_address, siu.new_care_of_address, siu.reply_datagram, Some(credit));
            return Ok(());
        }
        b.parked = Some(ParkedSiu { new_care_of_address: siu.new_care_of_address, reply_datagram: siu.reply_datagram });
        self.counters.siu_parked += 1;
        Ok(())
    }

    /// Move the outbound SA, then forward the reply (seed 004: the SA is
    /// updated before any packet is sent to the MN). `credit`: the address
    /// is not verified yet, its check goes on, the SA is limited until then.
    fn complete(&mut self, home: Ipv4Addr, new: Ipv4Addr, datagram: Vec<u8>, credit: Option<u64>) {
        let Some(b) = self.bundles.get_mut(&home) else {
            return;
        };
        let old = b.sa.care_of_address;
        b.sa.care_of_address = new;
        b.parked = None;
        self.counters.siu_applied += 1;
        let spi = b.sa.outbound_spi;
        match credit {
            Some(c) => {
                b.on_credit = true;
                b.limited = true;
                self.actions.push_back(GwAction::Credit { outbound_spi: spi, credit: Some(c) });
            }
            None => {
                b.rr = None;
                b.on_credit = false;
                if std::mem::take(&mut b.limited) {
                    self.actions.push_back(GwAction::Credit { outbound_spi: spi, credit: None });
                }
            }
        }
        self.actions.push_back(GwAction::MoveOutboundSa {
            outbound_spi: spi,
            old_care_of_address: old,
            new_care_of_address: new,
        });
        self.actions.push_back(GwAction::Forward { outbound_spi: spi, dst: new, datagram });
    }

    /// Expires return-routability checks: a parked SIU whose echo never
    /// came is dropped and the SA stays where it was; an SA that moved on
    /// credit keeps no credit (nothing more is sent there until a request
    /// from it is verified). Re-sends the challenge of an SA on credit.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (inner, ttl, every) = (self.config.inner_address, self.config.ttl, self.config.rr_timeout / RR_RESENDS);
        let mut resend = Vec::new();
        for (home, b) in self.bundles.iter_mut() {
            let Some(rr) = b.rr.as_mut().filter(|rr| !rr.verified) else { continue };
            if rr.deadline <= now {
                b.rr = None;
                b.parked = None;
                self.counters.rr_failed += 1;
                if b.on_credit {
                    b.on_credit = false;
                    b.no_credit_until = Some(now + self.config.rr_timeout);
                    self.counters.rr_credit_revoked += 1;
                    self.actions.push_back(GwAction::Credit { outbound_spi: b.sa.outbound_spi, credit: Some(0) });
                }
            } else if rr.resend_at.is_some_and(|t| t <= now) {
                rr.resend_at = Some(now + every);
                resend.push((*home, b.sa.outbound_spi, rr.address, rr.nonce));
            }
        }
        for (home, spi, address, nonce) in resend {
            self.challenge(home, spi, address, nonce, inner, ttl);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bundles
            .values()
            .filter_map(|b| b.rr.as_ref().filter(|r| !r.verified))
            .flat_map(|r| [Some(r.deadline), r.resend_at])
            .flatten()
            .min()
    }

    pub fn poll_action(&mut self) -> Option<GwAction> {
        self.actions.pop_front()
    }

    fn count(&mut self, r: Result<(), GwError>) -> Result<(), GwError> {
        if let Err(e) = &r {
            let c = &mut self.counters;
            match e {
                GwError::UnknownSpi(_) => c.unknown_spi += 1,
                GwError::MalformedRequest(_) | GwError::MalformedSiu(_) | GwError::MalformedRr(_) => c.malformed += 1,
                GwError::HomeAddressMismatch => c.home_address_mismatch += 1,
                GwError::UnknownKeyId(_) => c.siu_unknown_key += 1,
                GwError::UnexpectedSiuSource(_) => c.siu_unexpected_source += 1,
                GwError::BadIcv => c.siu_bad_icv += 1,
                GwError::Replayed { .. } => c.siu_replayed += 1,
                GwError::UnknownMobileNode => c.siu_unknown_mobile_node += 1,
                GwError::OldCareOfAddressMismatch => c.siu_old_coa_mismatch += 1,
                GwError::BadReplyDatagram(_) | GwError::ReplyMismatch => c.siu_bad_reply += 1,
                GwError::RrMismatch => c.rr_mismatch += 1,
            }
        }
        r
    }
}

/// The reply datagram must be IPv4/UDP from port 434 carrying a
/// Registration Reply for the SIU's home address; returns its code.
fn check_reply(siu: &SiuRepr) -> Result<reply::ReplyCode, GwError> {
    let d = udp::parse(&siu.reply_datagram).map_err(GwError::BadReplyDatagram)?;
    let p = reply::Packet::new_checked(d.payload).map_err(|_| GwError::ReplyMismatch)?;
    if d.src.port() != MIP_PORT || p.home_address() != siu.home_address {
        return Err(GwError::ReplyMismatch);
    }
    Ok(p.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::identification::Identification;
    use crate::vpn::reply::{RegistrationReplyRepr, ReplyCode};

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
    const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const GW: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 254);
    const COA1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const COA2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
    const COA3: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 3);

    /// Return-routability on or off; strict (no credit) unless `credit`.
    fn gw_with(rr: bool, credit: u64) -> Gateway {
        let mut c = GatewayConfig::new(GW);
        c.return_routability = rr;
        c.rr_credit = credit;
        let mut g = Gateway::new(c);
        g.add_home_agent(HA, SiuKey::new(1, &[3; 32]));
        g.add_bundle(SaBundle { home_address: HOME, inbound_spi: 0x100, outbound_spi: 0x200, care_of_address: COA1 });
        g
    }

    fn gw(rr: bool) -> Gateway {
        gw_with(rr, 0)
    }

    fn siu(seq: u64, code: ReplyCode, old: Ipv4Addr, new: Ipv4Addr) -> Vec<u8> {
        let rep = RegistrationReplyRepr {
            code,
            lifetime: 600,
            home_address: HOME,
            home_agent: HA,
            identification: Identification(1),
            extensions: vec![],
        };
        let mut payload = vec![0u8; rep.buffer_len()];
        rep.emit(&mut reply::Packet::new_unchecked(&mut payload[..])).unwrap();
        let datagram = udp::build(SocketAddrV4::new(HA, 434), SocketAddrV4::new(HOME, 434), 64, &payload).unwrap();
        SiuRepr {
            flags: 0,
            sequence: seq,
            home_address: HOME,
            old_care_of_address: old,
            new_care_of_address: new,
            lifetime: 600,
            reply_datagram: datagram,
        }
        .to_bytes(&SiuKey::new(1, &[3; 32]))
        .unwrap()
    }

    fn no_rng(_: &mut [u8]) {
        panic!("no nonce expected")
    }

    #[test]
    fn wildcard_inbound_counted_and_unknown_spi_refused() {
        let mut g = gw(true);
        g.accept_inbound(0x100, COA1).unwrap();
        assert_eq!(g.counters().wildcard_source_accepted, 0);
        g.accept_inbound(0x100, COA2).unwrap();
        assert_eq!(g.counters().wildcard_source_accepted, 1);
        assert_eq!(g.accept_inbound(0x999, COA2), Err(GwError::UnknownSpi(0x999)));
        assert_eq!(g.counters().unknown_spi, 1);
    }

    #[test]
    fn request_for_another_home_address_refused() {
        let mut g = gw(true);
        let mut req = vec![0u8; 24];
        req[0] = 1;
        req[4..8].copy_from_slice(&[10, 1, 0, 6]);
        let now = Instant::now();
        assert_eq!(
            g.handle_registration_request(now, 0x100, COA2, &req, &mut no_rng),
            Err(GwError::HomeAddressMismatch)
        );
        assert_eq!(
            g.handle_registration_request(now, 0x100, COA2, &req[..10], &mut no_rng),
            Err(GwError::MalformedRequest(MipError::Truncated))
        );
        assert_eq!(g.poll_action(), None);
        assert_eq!((g.counters().home_address_mismatch, g.counters().malformed), (1, 1));
    }

    #[test]
    fn stale_old_care_of_address_refused() {
        let mut g = gw(false);
        let now = Instant::now();
        assert_eq!(
            g.handle_siu(now, HA, &siu(5, ReplyCode::Accepted, COA3, COA2), &mut no_rng),
            Err(GwError::OldCareOfAddressMismatch)
        );
        assert_eq!(g.poll_action(), None);
        assert_eq!(g.bundle(HOME).unwrap().care_of_address, COA1);
        assert_eq!(g.counters().siu_old_coa_mismatch, 1);
    }

    #[test]
    fn denial_forwarded_without_moving() {
        let mut g = gw(true);
        let now = Instant::now();
        g.handle_siu(now, HA, &siu(5, ReplyCode::HaIdentificationMismatch, COA1, COA2), &mut no_rng).unwrap();
        assert!(matches!(g.poll_action(), Some(GwAction::Forward { outbound_spi: 0x200, dst: COA2, .. })));
        assert_eq!(g.poll_action(), None);
        assert_eq!(g.bundle(HOME).unwrap().care_of_address, COA1);
    }

    #[test]
    fn siu_for_unverified_address_starts_check_and_waits() {
        let mut g = gw(true);
        let now = Instant::now();
        let mut rng = |b: &mut [u8]| b.fill(0x42);
        g.handle_siu(now, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut rng).unwrap();
        let Some(GwAction::Challenge { outbound_spi: 0x200, dst: COA2, datagram }) = g.poll_action() else { panic!() };
        let d = udp::parse(&datagram).unwrap();
        let c = RrRepr::parse(d.payload).unwrap();
        assert_eq!((c.kind, c.care_of_address, c.nonce), (RrKind::Challenge, COA2, [0x42; 16]));
        assert_eq!(g.poll_action(), None);
        let resp = RrRepr { kind: RrKind::Response, ..c }.to_bytes();
        // From another MN's SA: refused.
        assert_eq!(g.handle_rr_response(0x101, &resp), Err(GwError::UnknownSpi(0x101)));
        g.handle_rr_response(0x100, &resp).unwrap();
        assert!(matches!(
            g.poll_action(),
            Some(GwAction::MoveOutboundSa { outbound_spi: 0x200, new_care_of_address: COA2, .. })
        ));
        assert!(matches!(g.poll_action(), Some(GwAction::Forward { dst: COA2, .. })));
        assert_eq!(g.bundle(HOME).unwrap().care_of_address, COA2);
        // The echo cannot be replayed.
        assert_eq!(g.handle_rr_response(0x100, &resp), Err(GwError::RrMismatch));
    }

    fn actions(g: &mut Gateway) -> Vec<GwAction> {
        core::iter::from_fn(|| g.poll_action()).collect()
    }

    /// The request from `coa` and its challenge's echo payload.
    fn request_from(g: &mut Gateway, now: Instant, coa: Ipv4Addr, nonce: u8) -> Vec<u8> {
        let mut req = vec![0u8; 24];
        req[0] = 1;
        req[4..8].copy_from_slice(&HOME.octets());
        g.handle_registration_request(now, 0x100, coa, &req, &mut |b: &mut [u8]| b.fill(nonce)).unwrap();
        let acts = actions(g);
        let [GwAction::Challenge { dst, datagram, .. }] = &acts[..] else { panic!("{acts:?}") };
        assert_eq!(*dst, coa);
        let c = RrRepr::parse(udp::parse(datagram).unwrap().payload).unwrap();
        RrRepr { kind: RrKind::Response, ..c }.to_bytes().to_vec()
    }

    #[test]
    fn siu_before_the_echo_moves_on_credit_and_the_echo_lifts_it() {
        let mut g = gw_with(true, 1000);
        let now = Instant::now();
        let echo = request_from(&mut g, now, COA2, 0x11);
        g.handle_siu(now, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut no_rng).unwrap();
        // Limited first, then moved, then the reply: no byte leaves unlimited.
        match &actions(&mut g)[..] {
            [
                GwAction::Credit { outbound_spi: 0x200, credit: Some(1000) },
                GwAction::MoveOutboundSa { outbound_spi: 0x200, new_care_of_address: COA2, .. },
                GwAction::Forward { dst: COA2, .. },
            ] => {}
            other => panic!("{other:?}"),
        }
        assert_eq!((g.counters().siu_on_credit, g.counters().siu_parked), (1, 0));
        assert_eq!(g.bundle(HOME).unwrap().care_of_address, COA2);
        // The challenge goes out again while the echo is awaited.
        let resend = g.poll_timeout().unwrap();
        assert_eq!(resend, now + Duration::from_millis(750));
        g.handle_timeout(resend);
        assert!(matches!(&actions(&mut g)[..], [GwAction::Challenge { dst: COA2, .. }]));
        g.handle_rr_response(0x100, &echo).unwrap();
        assert_eq!(actions(&mut g), vec![GwAction::Credit { outbound_spi: 0x200, credit: None }]);
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.counters().rr_verified, 1);
    }

    #[test]
    fn a_rekey_keeps_the_care_of_address_check_and_credit_with_new_spis() {
        let mut g = gw_with(true, 1000);
        let now = Instant::now();
        let echo = request_from(&mut g, now, COA2, 0x11);
        g.handle_siu(now, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut no_rng).unwrap();
        assert_eq!(actions(&mut g).len(), 3, "moved on credit");
        // The MN rekeys: our new inbound SA first, then the switch.
        assert!(!g.add_inbound_spi(Ipv4Addr::new(10, 1, 0, 99), 0x101));
        assert!(g.add_inbound_spi(HOME, 0x101));
        g.accept_inbound(0x101, COA2).unwrap();
        assert!(g.rekey_bundle(HOME, 0x101, 0x201));
        let b = g.bundle(HOME).unwrap();
        assert_eq!((b.inbound_spi, b.outbound_spi, b.care_of_address), (0x101, 0x201, COA2));
        // The check started before the rekey completes on the new SAs,
        // echoed on the old inbound SA (still in flight) or the new one;
        // lifting the credit names the new outbound SA.
        g.handle_rr_response(0x100, &echo).unwrap();
        assert_eq!(actions(&mut g), vec![GwAction::Credit { outbound_spi: 0x201, credit: None }]);
        // The replaced inbound SA retires; the current one cannot.
        g.remove_inbound_spi(0x100);
        g.remove_inbound_spi(0x101);
        assert_eq!(g.accept_inbound(0x100, COA2), Err(GwError::UnknownSpi(0x100)));
        g.accept_inbound(0x101, COA2).unwrap();
        // A re-established bundle forgets every SPI of the old one.
        g.add_inbound_spi(HOME, 0x102);
        g.add_bundle(SaBundle { home_address: HOME, inbound_spi: 0x300, outbound_spi: 0x400, care_of_address: COA2 });
        for spi in [0x101, 0x102] {
            assert_eq!(g.accept_inbound(spi, COA2), Err(GwError::UnknownSpi(spi)));
        }
    }

    #[test]
    fn credit_never_earned_is_withdrawn_and_the_next_move_waits() {
        let mut g = gw_with(true, 1000);
        let t0 = Instant::now();
        let _lost = request_from(&mut g, t0, COA2, 0x11);
        g.handle_siu(t0, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut no_rng).unwrap();
        assert_eq!(actions(&mut g).len(), 3);
        // No echo by the deadline: nothing more goes to COA2.
        let t1 = t0 + Duration::from_secs(3);
        g.handle_timeout(t1);
        assert_eq!(actions(&mut g), vec![GwAction::Credit { outbound_spi: 0x200, credit: Some(0) }]);
        assert_eq!((g.counters().rr_failed, g.counters().rr_credit_revoked), (1, 1));
        // The next address earns no credit for a while: its SIU waits.
        let echo3 = request_from(&mut g, t1, COA3, 0x33);
        g.handle_siu(t1, HA, &siu(6, ReplyCode::Accepted, COA2, COA3), &mut no_rng).unwrap();
        assert!(actions(&mut g).is_empty());
        assert_eq!(g.counters().siu_parked, 1);
        g.handle_rr_response(0x100, &echo3).unwrap();
        // Proven: the limit goes before the SA moves.
        match &actions(&mut g)[..] {
            [
                GwAction::Credit { credit: None, .. },
                GwAction::MoveOutboundSa { new_care_of_address: COA3, .. },
                GwAction::Forward { dst: COA3, .. },
            ] => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_credited_address_left_unverified_costs_the_next_move_its_credit() {
        // An MN hopping to address after address without ever answering
        // gets one credited move per rr_timeout, not one per request.
        let mut g = gw_with(true, 1000);
        let t0 = Instant::now();
        request_from(&mut g, t0, COA2, 0x11);
        g.handle_siu(t0, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut no_rng).unwrap();
        actions(&mut g);
        request_from(&mut g, t0, COA3, 0x33);
        g.handle_siu(t0, HA, &siu(6, ReplyCode::Accepted, COA2, COA3), &mut no_rng).unwrap();
        assert!(actions(&mut g).is_empty(), "parked: no second credit");
        assert_eq!((g.counters().siu_on_credit, g.counters().siu_parked), (1, 1));
        assert_eq!(g.bundle(HOME).unwrap().care_of_address, COA2);
    }

    #[test]
    fn a_request_from_the_credited_address_itself_restarts_its_check() {
        let mut g = gw_with(true, 1000);
        let t0 = Instant::now();
        request_from(&mut g, t0, COA2, 0x11);
        g.handle_siu(t0, HA, &siu(5, ReplyCode::Accepted, COA1, COA2), &mut no_rng).unwrap();
        actions(&mut g);
        g.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(actions(&mut g), vec![GwAction::Credit { outbound_spi: 0x200, credit: Some(0) }]);
        // The MN re-registers from where the SA is: checked again, proven.
        let echo = request_from(&mut g, t0 + Duration::from_secs(4), COA2, 0x22);
        g.handle_rr_response(0x100, &echo).unwrap();
        assert_eq!(actions(&mut g), vec![GwAction::Credit { outbound_spi: 0x200, credit: None }]);
    }
}
