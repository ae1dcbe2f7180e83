//! Why packets were dropped, counted per reason so an operator can tell a
//! misconfigured peer from an attack (`proxy-ctl assoc stats`).

/// Why a received HIP packet was dropped without changing any state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed HIPv2 packet (§5.1, §5.2.1).
    Malformed,
    /// The checksum over the pseudo-header did not verify (§5.1.1).
    BadChecksum,
    /// A critical parameter we do not know (§5.2.1); answered with NOTIFY.
    UnsupportedCriticalParam,
    /// The Receiver's HIT is none of ours.
    UnknownHit,
    /// Opportunistic mode (NULL Receiver's HIT) is not offered.
    Opportunistic,
    /// The peer's HIT is not in the allowed-peers list (local policy).
    PeerNotAllowed,
    /// The packet does not fit the association's state (§4.4.2).
    UnexpectedPacket,
    /// The I2 answers an R1 generation we no longer accept (§5.2.3).
    StaleR1Counter,
    /// #I is not ours, #K too small or #J wrong (§6.9).
    BadPuzzleSolution,
    /// HIP_MAC / HIP_MAC_2 did not verify (§6.4).
    BadHipMac,
    /// HIP_SIGNATURE / HIP_SIGNATURE_2 did not verify (§6.4.2).
    BadSignature,
    /// The sender's HIT is not the hash of its HOST_ID (§6.7 .. §6.10).
    InvalidHit,
    /// The ENCRYPTED HOST_ID would not decrypt or parse (§6.9).
    DecryptionFailed,
    /// A required parameter is missing or has an unusable value.
    MissingParameter,
    /// No DH group, HIP cipher or ESP transform in common, or the peer
    /// chose one we did not offer (§5.2.7, RFC 7402 §5.1.2).
    NoCommonProposal,
    /// The R1 puzzle was harder than we accept, or could not be solved.
    PuzzleTooHard,
    /// An I2 whose #I and #J we already accepted (a replay or a
    /// retransmission; the latter is answered with the same R2).
    ReplayedI2,
    /// A CLOSE_ACK whose echoed nonce is not the one we sent (§5.3.7).
    BadEcho,
    /// A packet type the base exchange does not handle (UPDATE for now).
    UnsupportedPacketType,
    /// An I1 to a host that only initiates (the proxy role).
    NotResponder,
    /// A relayed I1's RVS_HMAC did not verify with any registrar key (RFC 8004 §3.3).
    BadRvsHmac,
    /// An I1 for a HIT that is not ours and not registered with us.
    NotRegistered,
    /// A peer's rekey UPDATE crossed ours and ours wins (the host with the
    /// lower HIT, as for crossing I2s, RFC 7401 §4.4.2): the peer answers
    /// ours instead.
    RekeyCollision,
    /// We could not build our answer (signing failed, keys unusable).
    Internal,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 24] = [
        DropReason::Malformed,
        DropReason::BadChecksum,
        DropReason::UnsupportedCriticalParam,
        DropReason::UnknownHit,
        DropReason::Opportunistic,
        DropReason::PeerNotAllowed,
        DropReason::UnexpectedPacket,
        DropReason::StaleR1Counter,
        DropReason::BadPuzzleSolution,
        DropReason::BadHipMac,
        DropReason::BadSignature,
        DropReason::InvalidHit,
        DropReason::DecryptionFailed,
        DropReason::MissingParameter,
        DropReason::NoCommonProposal,
        DropReason::PuzzleTooHard,
        DropReason::ReplayedI2,
        DropReason::BadEcho,
        DropReason::UnsupportedPacketType,
        DropReason::NotResponder,
        DropReason::BadRvsHmac,
        DropReason::NotRegistered,
        DropReason::RekeyCollision,
        DropReason::Internal,
    ];

    /// A stable snake_case name for logs, `--json` and tests.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::UnsupportedCriticalParam => "unsupported_critical_param",
            DropReason::UnknownHit => "unknown_hit",
            DropReason::Opportunistic => "opportunistic",
            DropReason::PeerNotAllowed => "peer_not_allowed",
            DropReason::UnexpectedPacket => "unexpected_packet",
            DropReason::StaleR1Counter => "stale_r1_counter",
            DropReason::BadPuzzleSolution => "bad_puzzle_solution",
            DropReason::BadHipMac => "bad_hip_mac",
            DropReason::BadSignature => "bad_signature",
            DropReason::InvalidHit => "invalid_hit",
            DropReason::DecryptionFailed => "decryption_failed",
            DropReason::MissingParameter => "missing_parameter",
            DropReason::NoCommonProposal => "no_common_proposal",
            DropReason::PuzzleTooHard => "puzzle_too_hard",
            DropReason::ReplayedI2 => "replayed_i2",
            DropReason::BadEcho => "bad_echo",
            DropReason::UnsupportedPacketType => "unsupported_packet_type",
            DropReason::NotResponder => "not_responder",
            DropReason::BadRvsHmac => "bad_rvs_hmac",
            DropReason::NotRegistered => "not_registered",
            DropReason::RekeyCollision => "rekey_collision",
            DropReason::Internal => "internal_error",
        }
    }

    fn index(self) -> usize {
        // ALL lists every variant once, in declaration order.
        self as usize
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Packet counters of one [`super::HipHost`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received, by packet type: I1, R1, I2, R2, NOTIFY, CLOSE, CLOSE_ACK.
    pub received: [u64; 7],
    /// Packets sent, same order.
    pub sent: [u64; 7],
    /// Base exchanges completed (ESTABLISHED events).
    pub established: u64,
    /// Base exchanges given up (E-FAILED).
    pub failed: u64,
    /// Retransmissions of I1, I2 and CLOSE.
    pub retransmits: u64,
    /// R1 generations created.
    pub r1_generations: u64,
    /// Mobility and registration (RFC 8046, 8003, 8004).
    pub mobility: MobilityCounters,
    /// Drops by reason, indexed like [`DropReason::ALL`].
    pub dropped: [u64; DropReason::ALL.len()],
}

/// Names of [`Counters::received`] / [`Counters::sent`] slots.
pub const PACKET_NAMES: [&str; 7] = ["i1", "r1", "i2", "r2", "notify", "close", "close_ack"];

impl Counters {
    /// Count a drop.
    pub fn drop(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    /// Drops counted for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Drops of every reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// UPDATE, address check, registration and relay counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MobilityCounters {
    /// UPDATE packets received (before authentication).
    pub updates_received: u64,
    /// UPDATE packets sent (retransmissions included).
    pub updates_sent: u64,
    /// UPDATE retransmissions.
    pub update_retransmits: u64,
    /// Our locator changes announced with LOCATOR_SET.
    pub locator_announcements: u64,
    /// Address checks (ECHO_REQUEST to a peer's new locator) started.
    pub address_checks: u64,
    /// Peer locators that passed the address check and are now used.
    pub locators_verified: u64,
    /// Address checks that got no valid echo: the locator was not used.
    pub address_checks_failed: u64,
    /// Our new addresses listed beside the locator in use before any move
    /// (make-before-break), so the peer can check them ahead.
    pub locators_announced_ahead: u64,
    /// Peer moves to a locator checked ahead: data moved on the UPDATE,
    /// with no address check left to wait for.
    pub switched_to_checked: u64,
    /// I1s relayed to a registered HIT with FROM and RVS_HMAC (registrar).
    pub i1_relayed: u64,
    /// Relayed I1s answered with an R1 carrying VIA_RVS (responder).
    pub relayed_i1_answered: u64,
    /// R1s accepted from another address than our I1 went to (VIA_RVS).
    pub r1_via_rvs: u64,
    /// Registrations granted or refreshed (registrar).
    pub registrations_granted: u64,
    /// Registrations refused with REG_FAILED (registrar).
    pub registrations_refused: u64,
    /// Registrations granted to us (client).
    pub registered: u64,
    /// Registrations refused to us (client).
    pub registration_failures: u64,
    /// SA pairs replaced by an UPDATE rekey (RFC 7402 §6.9), either side.
    pub rekeys: u64,
    /// Of those, rekeys with a new Diffie-Hellman (new KEYMAT, RFC 7402 §7).
    pub rekeys_new_dh: u64,
    /// Rekeys we started (`assoc rekey`, SA aging).
    pub rekeys_started: u64,
    /// Double jumps recovered by a base exchange through the peer's RVS.
    pub rvs_recoveries: u64,
    /// Address checks that started with credit (RFC 8046 §5.5): data went
    /// to the unverified locator at once, within the credit.
    pub credit_grants: u64,
    /// Bytes of credit handed to unverified locators in all.
    pub credit_granted_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
