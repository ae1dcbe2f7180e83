//! Rekeying with UPDATE (RFC 7402 §6.9, RFC 7401 §6.11): new SPIs and new
//! ESP keys drawn from KEYMAT at the Keymat Index the ESP_INFO names (no
//! new Diffie-Hellman: the rest of the base exchange's KEYMAT). The side
//! that rekeys sends UPDATE(ESP_INFO old -> new inbound SPI, SEQ); the peer
//! installs its new pair and answers UPDATE(ESP_INFO, SEQ, ACK); the first
//! side installs on that answer and ACKs. An ESP_INFO with Old SPI = New
//! SPI is the mobility one (RFC 8046 §5.1) and is not a rekey.

use std::time::Instant;

use super::*;
use crate::hip::assoc::InitiateError;

impl HipHost {
    /// Start a rekey of the association with `peer_hit` (`assoc rekey`).
    pub fn rekey(&mut self, now: Instant, peer_hit: Hit) -> Result<(), InitiateError> {
        let key = self.established_key(&peer_hit).ok_or(InitiateError::NotEstablished(peer_hit.to_ipv6()))?;
        let spi = self.random_spi();
        let a = self.assocs.get_mut(&key).ok_or(InitiateError::NotEstablished(peer_hit.to_ipv6()))?;
        let s = a.session.as_ref().ok_or(InitiateError::NotEstablished(peer_hit.to_ipv6()))?;
        let keymat_index =
            u16::try_from(s.keymat.index()).map_err(|_| InitiateError::Internal(DropReason::Internal))?;
        let params = vec![EspInfo { keymat_index, old_spi: s.inbound_spi, new_spi: spi }.into()];
        a.update.rekey_spi = Some(spi);
        self.send_update(now, key, params, None, None).map_err(InitiateError::Internal)
    }

    /// An authenticated UPDATE's ESP_INFO. A rekey installs the new keys
    /// and SPIs (event: Established with the new pair); returns the
    /// ESP_INFO for our answer when the peer started it.
    pub(in crate::hip::assoc) fn on_esp_info(
        &mut self,
        key: (Hit, Hit),
        info: &EspInfo,
    ) -> Result<Option<Param>, DropReason> {
        if info.old_spi == info.new_spi {
            return Ok(None);
        }
        if info.new_spi < MIN_SPI {
            return Err(DropReason::Malformed);
        }
        let fresh = self.random_spi();
        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        let ours = a.update.rekey_spi.take();
        let s = a.session.as_mut().ok_or(DropReason::Internal)?;
        // Old SPI is the sender's current inbound SPI, our outbound one.
        if info.old_spi != s.outbound_spi {
            return Err(DropReason::UnexpectedPacket);
        }
        s.keymat.set_index(usize::from(info.keymat_index)).map_err(|_| DropReason::Malformed)?;
        let (_, esp) = draw_esp_keys(&mut s.keymat, s.transform, &key.0, &key.1)?;
        let old_inbound = s.inbound_spi;
        let new_inbound = ours.unwrap_or(fresh);
        s.inbound_spi = new_inbound;
        s.outbound_spi = info.new_spi;
        s.inbound_key = esp_key(&esp.inbound.encryption, &esp.inbound.authentication);
        s.outbound_key = esp_key(&esp.outbound.encryption, &esp.outbound.authentication);
        let event = established(a, a.initiator);
        self.events.push_back(event);
        self.counters.mobility.rekeys += 1;
        Ok(ours
            .is_none()
            .then(|| EspInfo { keymat_index: info.keymat_index, old_spi: old_inbound, new_spi: new_inbound }.into()))
    }
}
