//! The packet handlers of [`HipHost`]: what each state does with each
//! packet (RFC 7401 §4.4.2, processing rules §6.6 - §6.15).

use std::time::Instant;

use zeroize::Zeroizing;

use super::DropReason;
use super::association::{Association, Session, State};
use super::event::{Established, Event, FailReason};
use super::host::HipHost;
use super::seal::{MacKind, MacSpec, SigKind, seal, verify_mac, verify_signature};
use crate::esp::Transform;
use crate::hip::crypto::{DhKeyPair, EspKeyPair, HipCipher, HipKeys, Hit, HitSuite, HostIdPublic, Keymat, puzzle};
use crate::hip::wire::param::dh::{DhGroupList, DiffieHellman};
use crate::hip::wire::param::echo::{EchoRequestSigned, EchoRequestUnsigned, EchoResponseSigned, EchoResponseUnsigned};
use crate::hip::wire::param::encrypted::Encrypted;
use crate::hip::wire::param::esp::{EspInfo, EspTransform};
use crate::hip::wire::param::host_id::HostId;
use crate::hip::wire::param::notification::{Notification, NotifyMessageType};
use crate::hip::wire::param::puzzle::{Puzzle, R1Counter, Solution};
use crate::hip::wire::param::suites::{HipCipher as HipCipherList, TransportFormatList};
use crate::hip::wire::param::tlv::ParamTlv;
use crate::hip::wire::param::{Param, ParamRepr};
use crate::hip::wire::{HipPacket, NEXT_HEADER_NONE, PacketType};

/// SPIs 1..=255 are reserved (RFC 4303 §2.1), 0 means none.
pub(super) const MIN_SPI: u32 = 256;

/// Bound on the Initiator's puzzle search: 2^(K + 4) tries covers all but
/// a 1e-7 tail of the geometric distribution.
pub(super) fn max_attempts(k: u8) -> u64 {
    1u64 << (u32::from(k) + 4).min(62)
}

/// The peer's public key from HOST_ID, checked against its HIT (§6.8 step 4,
/// §6.9 step 9): the HIT is hashed from the received octets.
pub(super) fn peer_identity(host_id: &HostId, sender: &Hit) -> Result<HostIdPublic, DropReason> {
    let public = HostIdPublic::from_host_identity(host_id.algorithm, &host_id.host_identity)
        .map_err(|_| DropReason::InvalidHit)?;
    let suite = public.hit_suite().map_err(|_| DropReason::InvalidHit)?;
    if Hit::from_host_identity(suite, &host_id.host_identity) != *sender {
        return Err(DropReason::InvalidHit);
    }
    Ok(public)
}

/// One direction's ESP KEYMAT as `EspCipher::new` takes it: encryption
/// key, then integrity key.
pub(super) fn esp_key(enc: &[u8], auth: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut k = Zeroizing::new(Vec::with_capacity(enc.len() + auth.len()));
    k.extend_from_slice(enc);
    k.extend_from_slice(auth);
    k
}

mod close;
mod initiator_side;
mod locator_set;
mod registration;
mod rekey;
mod relay;
mod responder_side;
mod update;

impl HipHost {
    pub(super) fn random_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            (self.rng)(&mut b);
            let spi = u32::from_be_bytes(b);
            let used = self.assocs.values().any(|a| a.session.as_ref().is_some_and(|s| s.inbound_spi == spi));
            if spi >= MIN_SPI && !used {
                return spi;
            }
        }
    }

    /// The exchange with `key` failed: E-FAILED, event, linger.
    pub(in crate::hip::assoc) fn fail(&mut self, now: Instant, key: (Hit, Hit), reason: FailReason) {
        if let Some(a) = self.assocs.get_mut(&key) {
            a.set_state(State::EFailed, now);
            a.pending = None;
            a.deadline = Some(now + self.cfg.linger);
            self.counters.failed += 1;
            self.events.push_back(Event::Failed { local_hit: key.0, peer_hit: key.1, reason });
        }
    }
}

/// The ESTABLISHED event of an association with a session.
pub(super) fn established(a: &Association, initiator: bool) -> Event {
    let s = a.session.as_ref().expect("established() is called with a session");
    Event::Established(Box::new(Established {
        local_hit: a.local_hit,
        peer_hit: a.peer_hit,
        local_locator: a.local_locator,
        peer_locator: a.peer_locator,
        initiator,
        transform: s.transform,
        inbound_spi: s.inbound_spi,
        outbound_spi: s.outbound_spi,
        inbound_key: s.inbound_key.clone(),
        outbound_key: s.outbound_key.clone(),
    }))
}

/// RFC 7402 §7: the ESP keys follow the HIP keys in KEYMAT; ESP_INFO's
/// Keymat Index says where they start. Both ends draw them the same way.
fn draw_esp_keys(
    keymat: &mut Keymat,
    transform: Transform,
    local_hit: &Hit,
    peer_hit: &Hit,
) -> Result<(u16, EspKeyPair), DropReason> {
    let keymat_index = u16::try_from(keymat.index()).map_err(|_| DropReason::Internal)?;
    let esp =
        EspKeyPair::draw(keymat, transform.encryption_key_len(), transform.integrity_key_len(), local_hit, peer_hit)
            .map_err(|_| DropReason::Internal)?;
    Ok((keymat_index, esp))
}
