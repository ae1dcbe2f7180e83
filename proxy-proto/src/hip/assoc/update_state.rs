//! Per-association UPDATE bookkeeping (RFC 7401 §6.11, §6.12; RFC 8046
//! §3.2): our Update ID counter, the one UPDATE in flight awaiting its ACK,
//! the peer's last Update ID with our answer to it (a retransmitted UPDATE
//! gets the same answer), and a pending address check.

use std::time::Instant;

use core::net::IpAddr;

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
}

#[derive(Debug, Clone, Default)]
pub(super) struct UpdateState {
    /// The Update ID of our next SEQ.
    pub next_id: u32,
    pub in_flight: Option<InFlight>,
    /// The peer's last Update ID and our answer to it (checksum zero,
    /// src, dst).
    pub last_peer_id: Option<u32>,
    pub last_answer: Option<(Vec<u8>, IpAddr, IpAddr)>,
    pub echo: Option<EchoCheck>,
    /// Our rekey in flight (RFC 7402 §6.9): the inbound SPI we proposed.
    pub rekey_spi: Option<u32>,
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

    pub fn deadline(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }
}
