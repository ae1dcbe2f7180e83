//! One association (§4.4): the RFC's state, the data each state needs,
//! the single retransmission timer (§4.4.3).

use std::time::Instant;

use core::net::IpAddr;
use core::time::Duration;

use zeroize::Zeroizing;

use crate::esp::Transform;
use crate::hip::crypto::{HipKeys, Hit, HitSuite, HostIdPublic};
use crate::hip::wire::param::host_id::HostId;

/// The states of RFC 7401 §4.4.2. UNASSOCIATED is the absence of an
/// association in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// I1 sent, waiting for R1.
    I1Sent,
    /// I2 sent, waiting for R2.
    I2Sent,
    /// R2 sent, waiting for the Initiator's first ESP (or a timeout).
    R2Sent,
    /// The base exchange completed.
    Established,
    /// CLOSE sent, waiting for CLOSE_ACK.
    Closing,
    /// Closed; kept a while to absorb late packets.
    Closed,
    /// The base exchange failed.
    EFailed,
}

impl State {
    /// The RFC's name.
    pub const fn name(self) -> &'static str {
        match self {
            State::I1Sent => "I1-SENT",
            State::I2Sent => "I2-SENT",
            State::R2Sent => "R2-SENT",
            State::Established => "ESTABLISHED",
            State::Closing => "CLOSING",
            State::Closed => "CLOSED",
            State::EFailed => "E-FAILED",
        }
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Keys and peer identity, known from the DH exchange on.
pub(super) struct Session {
    /// HMAC suite of HIP_MAC (the Responder's HIT suite).
    pub suite: HitSuite,
    pub hip_keys: HipKeys,
    pub peer_public: HostIdPublic,
    pub peer_host_id: HostId,
    pub transform: Transform,
    pub inbound_spi: u32,
    /// 0 until the peer's ESP_INFO arrives (R2 at the Initiator).
    pub outbound_spi: u32,
    pub inbound_key: Zeroizing<Vec<u8>>,
    pub outbound_key: Zeroizing<Vec<u8>>,
    /// The rest of KEYMAT, for new ESP keys at a rekey without new DH
    /// (RFC 7402 §6.9, §7: drawn from the ESP_INFO's Keymat Index on);
    /// replaced by the KEYMAT of a rekey with new DH.
    pub keymat: crate::hip::crypto::Keymat,
    /// The base exchange's DH group: a rekey's new DIFFIE_HELLMAN uses it.
    pub dh_group: crate::hip::crypto::DhGroupId,
    /// The puzzle's #I | #J: the HKDF salt of the KEYMAT (RFC 7401 §6.5),
    /// kept for the KEYMAT of a rekey with new DH (RFC 7402 §7).
    pub keymat_salt: Vec<u8>,
}

/// One association with one peer.
pub(super) struct Association {
    pub local_hit: Hit,
    pub peer_hit: Hit,
    pub local_locator: IpAddr,
    pub peer_locator: IpAddr,
    /// Locator pairs (ours, peer's) to try for I1, in order.
    pub paths: Vec<(IpAddr, IpAddr)>,
    pub state: State,
    pub initiator: bool,
    pub created: Instant,
    pub state_since: Instant,
    /// The next retransmission or state expiry.
    pub deadline: Option<Instant>,
    pub retransmits: u32,
    /// The packet retransmitted on the deadline (I1, I2, CLOSE), checksum zero.
    pub pending: Option<Vec<u8>>,
    /// Our R2, answered again to a retransmitted I2 (§4.4.2 R2-SENT).
    pub r2: Option<Vec<u8>>,
    /// RHASH(#I | #J) of the I2 that made this association (Responder).
    pub solution_id: Option<Vec<u8>>,
    /// The I2's R1 generation (Responder), for replay bookkeeping.
    pub session: Option<Session>,
    /// ECHO_REQUEST_SIGNED nonce of our CLOSE.
    pub close_nonce: Option<Vec<u8>>,
    /// The DH_GROUP_LIST our I1 carried.
    pub i1_groups: Vec<u8>,
    /// UPDATE state (mobility, registration refresh).
    pub update: super::update_state::UpdateState,
}

impl Association {
    pub fn new(local_hit: Hit, peer_hit: Hit, paths: Vec<(IpAddr, IpAddr)>, now: Instant, state: State) -> Self {
        let (local_locator, peer_locator) = paths[0];
        Association {
            local_hit,
            peer_hit,
            local_locator,
            peer_locator,
            paths,
            state,
            initiator: state == State::I1Sent,
            created: now,
            state_since: now,
            deadline: None,
            retransmits: 0,
            pending: None,
            r2: None,
            solution_id: None,
            session: None,
            close_nonce: None,
            i1_groups: Vec::new(),
            update: Default::default(),
        }
    }

    pub fn set_state(&mut self, state: State, now: Instant) {
        self.state = state;
        self.state_since = now;
        self.retransmits = 0;
        self.deadline = None;
    }

    /// Arm the retransmission timer: initial * 2^retransmits (§4.4.3
    /// leaves the policy open; exponential backoff as in TCP).
    pub fn arm(&mut self, now: Instant, initial: Duration) {
        let backoff = initial.saturating_mul(1u32 << self.retransmits.min(16));
        self.deadline = Some(now + backoff);
    }

    /// A snapshot for listing.
    pub fn info(&self, now: Instant) -> AssocInfo {
        let s = self.session.as_ref();
        AssocInfo {
            local_hit: self.local_hit,
            peer_hit: self.peer_hit,
            local_locator: self.local_locator,
            peer_locator: self.peer_locator,
            state: self.state,
            initiator: self.initiator,
            inbound_spi: s.map_or(0, |s| s.inbound_spi),
            outbound_spi: s.map_or(0, |s| s.outbound_spi),
            transform: s.map(|s| s.transform),
            age: now.saturating_duration_since(self.created),
            in_state: now.saturating_duration_since(self.state_since),
        }
    }
}

/// What `proxy-ctl assoc list` shows of an association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssocInfo {
    /// Our HIT.
    pub local_hit: Hit,
    /// The peer's HIT.
    pub peer_hit: Hit,
    /// Our locator.
    pub local_locator: IpAddr,
    /// The peer's locator.
    pub peer_locator: IpAddr,
    /// State.
    pub state: State,
    /// Whether we initiated.
    pub initiator: bool,
    /// Our SPI (0 before the keys exist).
    pub inbound_spi: u32,
    /// The peer's SPI (0 before R2 at the Initiator).
    pub outbound_spi: u32,
    /// The ESP transform, once chosen.
    pub transform: Option<Transform>,
    /// Time since the association was created.
    pub age: Duration,
    /// Time in the current state.
    pub in_state: Duration,
}
