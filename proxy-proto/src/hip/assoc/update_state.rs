//! Per-association UPDATE bookkeeping (RFC 7401 §6.11, §6.12; RFC 8046
//! §3.2): our Update ID counter, the one UPDATE in flight awaiting its ACK,
//! the peer's last Update ID with our answer to it (a retransmitted UPDATE
//! gets the same answer), and a pending address check.

use std::time::Instant;

use core::net::IpAddr;

use zeroize::Zeroizing;

use crate::hip::crypto::{DhKeyPair, Keymat};

/// Verified peer locators kept per association besides the one in use
/// (a peer listing more gets the rest checked again when it prefers them).
const MAX_VERIFIED_LOCATORS: usize = 4;

/// An UPDATE of ours with a SEQ, retransmitted until ACKed (§6.11).
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub update_id: u32,
    /// Checksum zero; filled per send.
    pub bytes: Vec<u8>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub retransmits: u32,
    pub deadline: Instant,
    /// It announces our new locator (LOCATOR_SET): if it goes unanswered
    /// the peer may have moved too (double jump).
    pub announce: bool,
}

/// The address check of a new peer locator (RFC 8046 §5.3.2): our
/// ECHO_REQUEST_SIGNED went to `locator`; only its echo makes it ACTIVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EchoCheck {
    pub nonce: Vec<u8>,
    pub locator: IpAddr,
    /// The datapath was moved to `locator` with credit while the check
    /// runs (RFC 8046 §5.5): a failed check must move it back.
    pub credited: bool,
    /// `locator` was the peer's preferred one: it becomes the locator in
    /// use when it answers. Else it was listed beside the one in use
    /// (make-before-break) and only becomes ACTIVE, ready for a later
    /// LOCATOR_SET that prefers it.
    pub switch: bool,
    /// The end of the locator's lifetime (from its LOCATOR_SET): how long
    /// it stays ACTIVE once checked.
    pub valid_until: Instant,
}

/// Our rekey in flight (RFC 7402 §6.8): what the peer's answer completes.
#[derive(Debug)]
pub(super) struct OwnRekey {
    /// The SEQ of our UPDATE: the answer ACKs it.
    pub update_id: u32,
    /// The inbound SPI we proposed (ESP_INFO New SPI).
    pub new_inbound_spi: u32,
    /// Our new DH key (DIFFIE_HELLMAN sent), or None: keys drawn from the
    /// current KEYMAT at `keymat_index`.
    pub dh: Option<DhKeyPair>,
    pub keymat_index: u16,
}

/// The answerer's half-done rekey (RFC 7402 §6.9.1, §6.10): the new
/// inbound SA is in the datapath; the session switches to the new pair
/// (and the outbound SA with it) when the peer ACKs our answer, or when
/// its ESP shows up on the new inbound SA (proof that it has switched).
pub(super) struct PendingSwitch {
    /// The SEQ of our answer (set once it is sent).
    pub answer_id: Option<u32>,
    pub new_inbound_spi: u32,
    pub inbound_key: Zeroizing<Vec<u8>>,
    pub outbound_spi: u32,
    pub outbound_key: Zeroizing<Vec<u8>>,
    /// The new KEYMAT of a rekey with new DH.
    pub keymat: Option<Keymat>,
    pub new_dh: bool,
}

impl core::fmt::Debug for PendingSwitch {
    // Never print keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingSwitch")
            .field("answer_id", &self.answer_id)
            .field("new_inbound_spi", &format_args!("{:#010x}", self.new_inbound_spi))
            .field("outbound_spi", &format_args!("{:#010x}", self.outbound_spi))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(super) struct UpdateState {
    /// The Update ID of our next SEQ.
    pub next_id: u32,
    pub in_flight: Option<InFlight>,
    /// The peer's last Update ID and our answer to it (checksum zero,
    /// src, dst).
    pub last_peer_id: Option<u32>,
    pub last_answer: Option<(Vec<u8>, IpAddr, IpAddr)>,
    pub echo: Option<EchoCheck>,
    /// Peer locators besides the one in use that passed the address check
    /// (RFC 8046 §5.1: ACTIVE), each until its Locator Lifetime ends: a
    /// LOCATOR_SET preferring one of them moves the data at once.
    pub verified: Vec<(IpAddr, Instant)>,
    /// Our addresses last announced to the peer in a LOCATOR_SET (the
    /// one in use first): a new address is announced once, ahead of any
    /// move.
    pub announced: Vec<IpAddr>,
    /// Our rekey in flight (RFC 7402 §6.8).
    pub rekey: Option<OwnRekey>,
    /// The peer's rekey we answered, waiting to switch our outbound SA.
    pub switch: Option<PendingSwitch>,
    /// The peer's credit counter (RFC 8046 §5.5), when CBA is on.
    pub credit: super::credit::Credit,
}

impl UpdateState {
    /// The next Update ID (starts at 0, RFC 7401 §6.11: incremented per
    /// new UPDATE).
    pub fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Whether `locator` passed the address check and is still within its
    /// lifetime.
    pub fn is_verified(&self, locator: IpAddr, now: Instant) -> bool {
        self.verified.iter().any(|&(l, until)| l == locator && until > now)
    }

    /// `locator` passed the address check: ACTIVE until `until`. Bounded:
    /// the oldest entry goes first.
    pub fn mark_verified(&mut self, locator: IpAddr, until: Instant) {
        self.verified.retain(|&(l, _)| l != locator);
        if self.verified.len() >= MAX_VERIFIED_LOCATORS {
            self.verified.remove(0);
        }
        self.verified.push((locator, until));
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }
}
