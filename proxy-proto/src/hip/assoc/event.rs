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
