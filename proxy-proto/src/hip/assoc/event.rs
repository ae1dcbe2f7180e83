//! What a [`super::HipHost`] reports to its driver.

use core::net::IpAddr;

use zeroize::Zeroizing;

use crate::esp::Transform;
use crate::hip::crypto::Hit;
use crate::hip::wire::param::notification::NotifyMessageType;

/// A packet to send: IP source and destination and the HIP packet, its
/// checksum filled for exactly these addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our locator.
    pub src: IpAddr,
    /// The peer's locator.
    pub dst: IpAddr,
    /// The HIP packet (IP payload, protocol 139).
    pub payload: Vec<u8>,
}

/// An association reached ESTABLISHED (or R2-SENT at the Responder, where
/// the SAs may be used at once, RFC 7402 §4): everything the ESP datapath
/// needs to install the pair of BEET SAs.
#[derive(Clone)]
pub struct Established {
    /// Our HIT (the inner source address of outbound BEET packets).
    pub local_hit: Hit,
    /// The peer's HIT.
    pub peer_hit: Hit,
    /// Our locator (outer source address).
    pub local_locator: IpAddr,
    /// The peer's locator (outer destination address).
    pub peer_locator: IpAddr,
    /// Whether we were the Initiator.
    pub initiator: bool,
    /// The ESP transform both sides agreed on.
    pub transform: Transform,
    /// The SPI we chose: inbound ESP carries it.
    pub inbound_spi: u32,
    /// The SPI the peer chose: outbound ESP carries it.
    pub outbound_spi: u32,
    /// KEYMAT octets of the inbound SA in the layout
    /// `proxy_proto::esp::EspCipher::new` takes: encryption key (GCM salt
    /// last), then integrity key (RFC 7402 §7).
    pub inbound_key: Zeroizing<Vec<u8>>,
    /// The same for the outbound SA.
    pub outbound_key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Established {
    // Never print keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Established")
            .field("local_hit", &self.local_hit.to_ipv6())
            .field("peer_hit", &self.peer_hit.to_ipv6())
            .field("local_locator", &self.local_locator)
            .field("peer_locator", &self.peer_locator)
            .field("initiator", &self.initiator)
            .field("transform", &self.transform)
            .field("inbound_spi", &format_args!("{:#010x}", self.inbound_spi))
            .field("outbound_spi", &format_args!("{:#010x}", self.outbound_spi))
            .finish_non_exhaustive()
    }
}

/// One step of a rekey by UPDATE (RFC 7402 §6.8 - §6.10) for the ESP
/// datapath. The Initiator of the rekey gets both at once when the
/// answer arrives; the answerer adds its inbound SA when it answers and
/// switches its outbound SA on the ACK (or on the first ESP on the new
/// inbound SA), so neither side ever sends on an SA the other lacks.
#[derive(Clone)]
pub enum RekeyStep {
    /// Install this inbound SA beside the current one: the peer may send
    /// on it from now on.
    AddInbound {
        /// Our new SPI.
        spi: u32,
        /// Its KEYMAT octets (as [`Established::inbound_key`]).
        key: Zeroizing<Vec<u8>>,
    },
    /// Send on this outbound SA from now on, in place of
    /// `old_outbound_spi`; the inbound SA `old_inbound_spi` is replaced
    /// (keep it a little for packets still in flight on it).
    SwitchOutbound {
        /// The peer's new SPI.
        spi: u32,
        /// Our new inbound SA (added before): once the peer's ESP shows
        /// there, what is left on the old one is only stragglers.
        new_inbound_spi: u32,
        /// Its KEYMAT octets (as [`Established::outbound_key`]).
        key: Zeroizing<Vec<u8>>,
        /// The outbound SA that goes.
        old_outbound_spi: u32,
        /// The inbound SA that retires.
        old_inbound_spi: u32,
    },
    /// A rekey we answered never completed (no ACK, no ESP on the new SA):
    /// remove the inbound SA [`RekeyStep::AddInbound`] added for it.
    DropInbound {
        /// That SA's SPI.
        spi: u32,
    },
}

impl core::fmt::Debug for RekeyStep {
    // Never print keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RekeyStep::AddInbound { spi, .. } => write!(f, "AddInbound({spi:#010x})"),
            RekeyStep::SwitchOutbound { spi, old_outbound_spi, old_inbound_spi, new_inbound_spi, .. } => write!(
                f,
                "SwitchOutbound(out {old_outbound_spi:#010x} -> {spi:#010x}, in {old_inbound_spi:#010x} -> {new_inbound_spi:#010x})"
            ),
            RekeyStep::DropInbound { spi } => write!(f, "DropInbound({spi:#010x})"),
        }
    }
}

/// A rekey step on an association.
#[derive(Clone)]
pub struct Rekeyed {
    /// Our HIT.
    pub local_hit: Hit,
    /// The peer's HIT.
    pub peer_hit: Hit,
    /// Our locator (outer source address).
    pub local_locator: IpAddr,
    /// The peer's locator.
    pub peer_locator: IpAddr,
    /// The ESP transform (unchanged by a rekey).
    pub transform: Transform,
    /// Whether the new keys come from a new Diffie-Hellman (else drawn
    /// further from the KEYMAT).
    pub new_dh: bool,
    /// What to do.
    pub step: RekeyStep,
}

impl core::fmt::Debug for Rekeyed {
    // Never print keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Rekeyed");
        d.field("peer_hit", &self.peer_hit.to_ipv6()).field("new_dh", &self.new_dh).field("step", &self.step);
        d.finish_non_exhaustive()
    }
}

/// Why a base exchange failed (E-FAILED, §4.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// No answer after every retransmission of the named packet.
    Timeout(&'static str),
    /// The Responder's R1 carried a puzzle harder than we accept.
    PuzzleTooHard,
    /// No DH group, HIP cipher or ESP transform in common.
    NoCommonProposal,
    /// The peer sent an error NOTIFY.
    Notified(NotifyMessageType),
}

impl core::fmt::Display for FailReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FailReason::Timeout(what) => write!(f, "no answer to {what}"),
            FailReason::PuzzleTooHard => f.write_str("puzzle too hard"),
            FailReason::NoCommonProposal => f.write_str("no common DH group, cipher or ESP transform"),
            FailReason::Notified(t) => write!(f, "peer sent NOTIFY {t:?}"),
        }
    }
}

/// Something the driver should act on.
#[derive(Debug, Clone)]
pub enum Event {
    /// SAs ready: install them.
    Established(Box<Established>),
    /// A rekey by UPDATE: add the new inbound SA, or switch the outbound.
    Rekeyed(Box<Rekeyed>),
    /// The base exchange failed.
    Failed {
        /// Our HIT.
        local_hit: Hit,
        /// The peer's HIT.
        peer_hit: Hit,
        /// Why.
        reason: FailReason,
    },
    /// The association was closed (CLOSE / CLOSE_ACK, §5.3.6, §5.3.7):
    /// remove its SAs.
    Closed {
        /// Our HIT.
        local_hit: Hit,
        /// The peer's HIT.
        peer_hit: Hit,
        /// Inbound SPI of the SAs to remove (0 if none were installed).
        inbound_spi: u32,
    },
    /// A peer sent a NOTIFY (§5.3.8).
    Notified {
        /// The sender's HIT.
        peer_hit: Hit,
        /// The Notify Message Type.
        message_type: NotifyMessageType,
    },
    /// An association's locators moved (RFC 8046): ours after our
    /// addresses changed, the peer's after its new locator passed the
    /// address check, or while it runs when credit-based authorization
    /// is on (then `credit` limits what may go there). Move the SAs'
    /// outer addresses.
    LocatorChanged {
        /// Our HIT.
        local_hit: Hit,
        /// The peer's HIT.
        peer_hit: Hit,
        /// Our locator now.
        local_locator: IpAddr,
        /// The peer's locator now.
        peer_locator: IpAddr,
        /// Our SPI (the inbound SA).
        inbound_spi: u32,
        /// The peer's SPI (the outbound SA).
        outbound_spi: u32,
        /// None: the peer locator is verified, send freely. Some(n): it
        /// is not verified yet (RFC 8046 §5.5.1), send at most n more
        /// bytes of data there until a LocatorChanged with None.
        credit: Option<u64>,
    },
    /// A registrar granted (or refreshed) our registration (RFC 8003 §3.3).
    Registered {
        /// The registrar's HIT.
        registrar_hit: Hit,
        /// Granted lifetime.
        lifetime: core::time::Duration,
    },
    /// A registrar refused our registration (REG_FAILED, or no REG_INFO
    /// offering the rendezvous service).
    RegistrationFailed {
        /// The registrar's HIT.
        registrar_hit: Hit,
        /// Failure Type (RFC 8003 §4.3), None if the service was not offered.
        failure_type: Option<u8>,
    },
}
