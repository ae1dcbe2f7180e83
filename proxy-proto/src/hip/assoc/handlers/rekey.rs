//! Rekeying with UPDATE (RFC 7402 §6.8 - §6.10, RFC 7401 §6.11, §6.12):
//! new SPIs and new ESP keys, by default from a new Diffie-Hellman
//! exchange carried in the UPDATEs (a new KEYMAT, RFC 7402 §7: derived
//! from the new shared secret, ESP keys drawn from index 0; the HIP keys
//! stay), or drawn further from the current KEYMAT at the Keymat Index
//! the ESP_INFO names.
//!
//! Three packets, and the order in which the SAs change, so that neither
//! side ever sends on an SA the other does not have:
//!
//! 1. A: UPDATE(ESP_INFO old -> new inbound SPI, SEQ, [DIFFIE_HELLMAN]).
//! 2. B: derives the keys, adds its new inbound SA, keeps sending on the
//!    old outbound one; answers UPDATE(ESP_INFO, SEQ, ACK, [DIFFIE_HELLMAN]).
//! 3. A: derives the same keys, adds its new inbound SA and switches its
//!    outbound SA at once (B can open it), retires its old inbound SA
//!    (B still sends there until step 4), ACKs.
//! 4. B: on that ACK, or on the first ESP on its new inbound SA (proof that
//!    A switched, if the ACK is late or lost), switches its outbound SA and
//!    retires its old inbound SA.
//!
//! Rekeys crossing (both ends start one at once) resolve as crossing I2s
//! do (RFC 7401 §4.4.2): the one from the host with the lower HIT goes on;
//! the other host drops its own and answers. An ESP_INFO with Old SPI =
//! New SPI is the mobility one (RFC 8046 §5.1) and is not a rekey.

use std::time::Instant;

use super::*;
use crate::hip::assoc::InitiateError;
use crate::hip::assoc::event::{RekeyStep, Rekeyed};
use crate::hip::assoc::host::RekeyKeying;
use crate::hip::assoc::update_state::{OwnRekey, PendingSwitch};
use crate::hip::crypto::DhGroupId;

/// New ESP keys for both directions, and the KEYMAT they came from when
/// it is a new one.
pub(in crate::hip::assoc) struct NewKeys {
    inbound: Zeroizing<Vec<u8>>,
    outbound: Zeroizing<Vec<u8>>,
    keymat: Option<Keymat>,
}

/// What a received ESP_INFO asks for, checked and computed before any
/// state changes (a bad DIFFIE_HELLMAN changes nothing).
pub(in crate::hip::assoc) enum RekeyPlan {
    /// No rekey in this UPDATE.
    None,
    /// The peer ACKed our rekey request without an ESP_INFO: it declined
    /// (or does not rekey); ours is over.
    Declined,
    /// The peer's rekey: answer it.
    Answer {
        peer_new_spi: u32,
        our_new_spi: u32,
        keymat_index: u16,
        keys: Box<NewKeys>,
        /// Our DIFFIE_HELLMAN for the answer (the request carried one).
        our_dh: Option<DiffieHellman>,
        /// Our own crossing rekey loses: drop it.
        abandon_own: bool,
    },
    /// The answer to our rekey: finish it.
    Finish { peer_new_spi: u32, keys: Box<NewKeys> },
}

/// RFC 7402 §7: a new DH gives a new KEYMAT, derived as in the base
/// exchange (RFC 7401 §6.5: HKDF with the puzzle's #I | #J as salt, which
/// both ends kept) from the new shared secret; the ESP keys are drawn
/// from its start (the ESP_INFO's Keymat Index is zero, RFC 7402 §5.1.1).
fn keys_from_new_dh(
    s: &Session,
    ours: &DhKeyPair,
    theirs: &DiffieHellman,
    local_hit: &Hit,
    peer_hit: &Hit,
) -> Result<NewKeys, DropReason> {
    if theirs.group_id != ours.group().id() {
        return Err(DropReason::NoCommonProposal);
    }
    let kij = ours.shared_secret(&theirs.public_value).map_err(|_| DropReason::Malformed)?;
    let mut keymat =
        Keymat::derive(s.suite, &kij, local_hit, peer_hit, &s.keymat_salt, &[]).map_err(|_| DropReason::Internal)?;
    let (_, esp) = draw_esp_keys(&mut keymat, s.transform, local_hit, peer_hit)?;
    Ok(NewKeys {
        inbound: esp_key(&esp.inbound.encryption, &esp.inbound.authentication),
        outbound: esp_key(&esp.outbound.encryption, &esp.outbound.authentication),
        keymat: Some(keymat),
    })
}

/// The ESP key octets a rekey draws (both directions).
fn esp_keys_len(t: Transform) -> usize {
    2 * (t.encryption_key_len() + t.integrity_key_len())
}

/// No new DH: the next keys of the current KEYMAT at `index` (RFC 7402
/// §6.9.1 step 4: the Keymat Index of the UPDATE).
fn keys_from_keymat(s: &mut Session, index: u16, local_hit: &Hit, peer_hit: &Hit) -> Result<NewKeys, DropReason> {
    if !s.keymat.can_draw_at(usize::from(index), esp_keys_len(s.transform)) {
        return Err(DropReason::Malformed);
    }
    s.keymat.set_index(usize::from(index)).map_err(|_| DropReason::Malformed)?;
    let (_, esp) = draw_esp_keys(&mut s.keymat, s.transform, local_hit, peer_hit)?;
    Ok(NewKeys {
        inbound: esp_key(&esp.inbound.encryption, &esp.inbound.authentication),
        outbound: esp_key(&esp.outbound.encryption, &esp.outbound.authentication),
        keymat: None,
    })
}

fn rekeyed(a: &Association, new_dh: bool, step: RekeyStep) -> Event {
    let transform = a.session.as_ref().map_or(Transform::Aes128Gcm16, |s| s.transform);
    Event::Rekeyed(Box::new(Rekeyed {
        local_hit: a.local_hit,
        peer_hit: a.peer_hit,
        local_locator: a.local_locator,
        peer_locator: a.peer_locator,
        transform,
        new_dh,
        step,
    }))
}

impl HipHost {
    /// Start a rekey of the association with `peer_hit` (`assoc rekey`, an
    /// aging SA): UPDATE with ESP_INFO and, with [`RekeyKeying::NewDh`] or
    /// when the KEYMAT has no room for new keys, DIFFIE_HELLMAN.
    pub fn rekey(&mut self, now: Instant, peer_hit: Hit, keying: RekeyKeying) -> Result<(), InitiateError> {
        let not_est = InitiateError::NotEstablished(peer_hit.to_ipv6());
        let key = self.established_key(&peer_hit).ok_or(not_est.clone())?;
        let (group, index, room) = {
            let a = self.assocs.get(&key).ok_or(not_est.clone())?;
            let u = &a.update;
            if u.rekey.is_some() || u.switch.is_some() || u.in_flight.is_some() {
                return Err(InitiateError::RekeyInProgress(peer_hit.to_ipv6()));
            }
            let s = a.session.as_ref().ok_or(not_est.clone())?;
            let index = s.keymat.index();
            (s.dh_group, index, s.keymat.can_draw_at(index, esp_keys_len(s.transform)))
        };
        let spi = self.random_spi();
        // RFC 7402 §6.8 step 1: a used-up KEYMAT needs a new DH.
        let keymat_index = u16::try_from(index).ok().filter(|_| room && keying == RekeyKeying::Keymat);
        let dh = match keymat_index {
            Some(_) => None,
            None => Some(
                DhKeyPair::generate(group, &mut self.rng).map_err(|_| InitiateError::Internal(DropReason::Internal))?,
            ),
        };
        let a = self.assocs.get(&key).ok_or(not_est.clone())?;
        let s = a.session.as_ref().ok_or(not_est)?;
        // §5.1.1: with a new DH the Keymat Index is zero.
        let mut params: Vec<Param> =
            vec![EspInfo { keymat_index: keymat_index.unwrap_or(0), old_spi: s.inbound_spi, new_spi: spi }.into()];
        if let Some(dh) = &dh {
            params.push(DiffieHellman { group_id: dh.group().id(), public_value: dh.public_value().to_vec() }.into());
        }
        self.send_update(now, key, params, None, None).map_err(InitiateError::Internal)?;
        let a = self.assocs.get_mut(&key).ok_or(InitiateError::Internal(DropReason::Internal))?;
        let update_id = a.update.in_flight.as_ref().map_or(0, |f| f.update_id);
        a.update.rekey =
            Some(OwnRekey { update_id, new_inbound_spi: spi, dh, keymat_index: keymat_index.unwrap_or(0) });
        self.counters.mobility.rekeys_started += 1;
        Ok(())
    }

    /// Check and compute what an authenticated UPDATE's ESP_INFO asks for
    /// (`acked`: the Update IDs it ACKs). Nothing changes here but the
    /// current KEYMAT's draw position, and a pending switch the request
    /// proves the peer has made; [`HipHost::commit_rekey`] applies the rest.
    pub(in crate::hip::assoc) fn plan_rekey(
        &mut self,
        key: (Hit, Hit),
        pkt: &HipPacket,
        acked: &[u32],
    ) -> Result<RekeyPlan, DropReason> {
        let info = pkt.get::<EspInfo>().copied().filter(|i| i.old_spi != i.new_spi);
        let Some(info) = info else {
            let ours_acked = self
                .assocs
                .get(&key)
                .and_then(|a| a.update.rekey.as_ref())
                .is_some_and(|r| acked.contains(&r.update_id));
            return Ok(if ours_acked { RekeyPlan::Declined } else { RekeyPlan::None });
        };
        if info.new_spi < MIN_SPI {
            return Err(DropReason::Malformed);
        }
        let peer_dh = pkt.get::<DiffieHellman>();
        let a = self.assocs.get(&key).ok_or(DropReason::Internal)?;
        let s = a.session.as_ref().ok_or(DropReason::Internal)?;
        // Old SPI is the sender's current inbound SPI: our outbound one.
        let answer = a.update.rekey.as_ref().is_some_and(|r| acked.contains(&r.update_id));
        if answer {
            if info.old_spi != s.outbound_spi {
                return Err(DropReason::UnexpectedPacket);
            }
            let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
            let (own, s) =
                (a.update.rekey.as_ref().ok_or(DropReason::Internal)?, a.session.as_mut().ok_or(DropReason::Internal)?);
            let keys = match (&own.dh, peer_dh) {
                (Some(ours), Some(theirs)) => keys_from_new_dh(s, ours, theirs, &key.0, &key.1)?,
                (None, None) if info.keymat_index == own.keymat_index => {
                    keys_from_keymat(s, info.keymat_index, &key.0, &key.1)?
                }
                (None, None) => return Err(DropReason::Malformed),
                // We keep no old DH key to pair with a one-sided new one.
                _ => return Err(DropReason::MissingParameter),
            };
            return Ok(RekeyPlan::Finish { peer_new_spi: info.new_spi, keys: Box::new(keys) });
        }
        let abandon_own = a.update.rekey.is_some();
        if abandon_own && key.0 < key.1 {
            // Crossing rekeys: ours, from the lower HIT, goes on.
            return Err(DropReason::RekeyCollision);
        }
        // With our switch pending, the peer may have finished that rekey
        // (its ACK lost or late) and started the next one from the new SPI.
        let switch_first = a.update.switch.as_ref().is_some_and(|p| p.outbound_spi == info.old_spi);
        if info.old_spi != s.outbound_spi && !switch_first {
            return Err(DropReason::UnexpectedPacket);
        }
        if switch_first {
            // Before drawing: a KEYMAT draw must come from the KEYMAT the
            // peer now uses (a rekey with new DH replaced it).
            self.switch_outbound(key);
        }
        let group = match peer_dh {
            Some(d) => {
                // §5.1.1: with a new DH the Keymat Index is zero.
                if info.keymat_index != 0 {
                    return Err(DropReason::Malformed);
                }
                let g = DhGroupId::from_u8(d.group_id).map_err(|_| DropReason::NoCommonProposal)?;
                if !self.cfg.dh_groups.0.contains(&g) {
                    return Err(DropReason::NoCommonProposal);
                }
                Some(g)
            }
            None => None,
        };
        let our_new_spi = self.random_spi();
        let ours = match group {
            Some(g) => Some(DhKeyPair::generate(g, &mut self.rng).map_err(|_| DropReason::Internal)?),
            None => None,
        };
        let s = self.assocs.get_mut(&key).and_then(|a| a.session.as_mut()).ok_or(DropReason::Internal)?;
        let keys = match (&ours, peer_dh) {
            (Some(ours), Some(theirs)) => keys_from_new_dh(s, ours, theirs, &key.0, &key.1)?,
            _ => keys_from_keymat(s, info.keymat_index, &key.0, &key.1)?,
        };
        let our_dh = ours.map(|d| DiffieHellman { group_id: d.group().id(), public_value: d.public_value().to_vec() });
        Ok(RekeyPlan::Answer {
            peer_new_spi: info.new_spi,
            our_new_spi,
            keymat_index: info.keymat_index,
            keys: Box::new(keys),
            our_dh,
            abandon_own,
        })
    }

    /// Apply a [`RekeyPlan`]; returns the parameters our answer carries
    /// (ESP_INFO and DIFFIE_HELLMAN when we answer a rekey).
    pub(in crate::hip::assoc) fn commit_rekey(&mut self, key: (Hit, Hit), plan: RekeyPlan) -> Vec<Param> {
        match plan {
            RekeyPlan::None => Vec::new(),
            RekeyPlan::Declined => {
                if let Some(a) = self.assocs.get_mut(&key) {
                    a.update.rekey = None;
                }
                Vec::new()
            }
            RekeyPlan::Finish { peer_new_spi, keys } => {
                let Some(a) = self.assocs.get_mut(&key) else { return Vec::new() };
                let (Some(own), Some(s)) = (a.update.rekey.take(), a.session.as_mut()) else { return Vec::new() };
                let new_dh = keys.keymat.is_some();
                let (old_in, old_out) = (s.inbound_spi, s.outbound_spi);
                s.inbound_spi = own.new_inbound_spi;
                s.outbound_spi = peer_new_spi;
                s.inbound_key = keys.inbound.clone();
                s.outbound_key = keys.outbound.clone();
                if let Some(k) = keys.keymat {
                    s.keymat = k;
                }
                let add = rekeyed(a, new_dh, RekeyStep::AddInbound { spi: own.new_inbound_spi, key: keys.inbound });
                let switch = rekeyed(
                    a,
                    new_dh,
                    RekeyStep::SwitchOutbound {
                        spi: peer_new_spi,
                        new_inbound_spi: own.new_inbound_spi,
                        key: keys.outbound,
                        old_outbound_spi: old_out,
                        old_inbound_spi: old_in,
                    },
                );
                self.events.extend([add, switch]);
                self.count_rekey(new_dh);
                Vec::new()
            }
            RekeyPlan::Answer { peer_new_spi, our_new_spi, keymat_index, keys, our_dh, abandon_own } => {
                let Some(a) = self.assocs.get_mut(&key) else { return Vec::new() };
                if abandon_own && let Some(own) = a.update.rekey.take() {
                    // Our request will not be answered: stop sending it.
                    if a.update.in_flight.as_ref().is_some_and(|f| f.update_id == own.update_id) {
                        a.update.in_flight = None;
                    }
                }
                let stale = a.update.switch.take();
                let Some(old_in) = a.session.as_ref().map(|s| s.inbound_spi) else { return Vec::new() };
                let new_dh = keys.keymat.is_some();
                let keys = *keys;
                let add = rekeyed(a, new_dh, RekeyStep::AddInbound { spi: our_new_spi, key: keys.inbound.clone() });
                // The session moves to the new pair at the switch.
                a.update.switch = Some(PendingSwitch {
                    answer_id: None,
                    new_inbound_spi: our_new_spi,
                    inbound_key: keys.inbound,
                    outbound_spi: peer_new_spi,
                    outbound_key: keys.outbound,
                    keymat: keys.keymat,
                    new_dh,
                });
                if let Some(p) = stale {
                    // The peer gave up on the exchange we answered and
                    // started over: the SA we added for it goes.
                    let gone = rekeyed(a, p.new_dh, RekeyStep::DropInbound { spi: p.new_inbound_spi });
                    self.events.push_back(gone);
                }
                self.events.push_back(add);
                let mut params: Vec<Param> =
                    vec![EspInfo { keymat_index, old_spi: old_in, new_spi: our_new_spi }.into()];
                params.extend(our_dh.map(Param::from));
                params
            }
        }
    }

    fn count_rekey(&mut self, new_dh: bool) {
        self.counters.mobility.rekeys += 1;
        if new_dh {
            self.counters.mobility.rekeys_new_dh += 1;
        }
    }

    /// The answerer's last step (RFC 7402 §6.10): the session takes the
    /// new pair; send on the new outbound SA, retire the old inbound one.
    pub(in crate::hip::assoc) fn switch_outbound(&mut self, key: (Hit, Hit)) {
        let Some(a) = self.assocs.get_mut(&key) else { return };
        let (Some(p), Some(s)) = (a.update.switch.take(), a.session.as_mut()) else { return };
        let (old_in, old_out) = (s.inbound_spi, s.outbound_spi);
        s.inbound_spi = p.new_inbound_spi;
        s.inbound_key = p.inbound_key;
        s.outbound_spi = p.outbound_spi;
        s.outbound_key = p.outbound_key.clone();
        if let Some(k) = p.keymat {
            s.keymat = k;
        }
        let ev = rekeyed(
            a,
            p.new_dh,
            RekeyStep::SwitchOutbound {
                spi: p.outbound_spi,
                new_inbound_spi: p.new_inbound_spi,
                key: p.outbound_key,
                old_outbound_spi: old_out,
                old_inbound_spi: old_in,
            },
        );
        self.events.push_back(ev);
        self.count_rekey(p.new_dh);
    }

    /// ESP opened on our inbound SA `spi` with the peer for the first time:
    /// R2-SENT becomes ESTABLISHED (RFC 7401 §4.4.2), and if it is the SA
    /// a pending rekey added, the peer has switched: switch too.
    pub fn esp_received_on(&mut self, now: Instant, local_hit: Hit, peer_hit: Hit, spi: u32) {
        self.esp_received(now, local_hit, peer_hit);
        let key = (local_hit, peer_hit);
        if self.assocs.get(&key).and_then(|a| a.update.switch.as_ref()).is_some_and(|p| p.new_inbound_spi == spi) {
            self.switch_outbound(key);
        }
    }

    /// Our UPDATE `update_id` was given up (no ACK after every
    /// retransmission): a rekey it carried did not happen.
    pub(in crate::hip::assoc) fn rekey_given_up(&mut self, key: (Hit, Hit), update_id: u32) {
        let Some(a) = self.assocs.get_mut(&key) else { return };
        if a.update.rekey.as_ref().is_some_and(|r| r.update_id == update_id) {
            a.update.rekey = None;
        }
        if a.update.switch.as_ref().is_some_and(|p| p.answer_id == Some(update_id))
            && let Some(p) = a.update.switch.take()
        {
            // No ACK and no ESP on the new SA: the peer never switched.
            // The old pair stays; the added SA goes.
            let ev = rekeyed(a, p.new_dh, RekeyStep::DropInbound { spi: p.new_inbound_spi });
            self.events.push_back(ev);
        }
    }
}
