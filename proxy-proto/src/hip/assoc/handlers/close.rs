//! CLOSE, CLOSE_ACK (§6.14, §6.15) and NOTIFY (§6.13).

use std::time::Instant;

use super::*;

impl HipHost {
    /// NOTIFY (§6.13): informational. Verified when we know the sender's
    /// key; never changes state (an unauthenticated NOTIFY must not tear
    /// down an exchange, §6.13).
    pub(in crate::hip::assoc) fn on_notify(
        &mut self,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let peer = Hit::from(pkt.sender_hit);
        let key = (self.locals[li].id.hit, peer);
        if let Some(s) = self.assocs.get(&key).and_then(|a| a.session.as_ref()) {
            verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        }
        let n: &Notification = pkt.get::<Notification>().ok_or(DropReason::MissingParameter)?;
        self.events.push_back(Event::Notified { peer_hit: peer, message_type: n.message_type });
        Ok(())
    }

    /// CLOSE (§6.14): authenticate, answer CLOSE_ACK echoing the nonce,
    /// go to CLOSED. A retransmitted CLOSE in CLOSED gets the ACK again.
    pub(in crate::hip::assoc) fn on_close(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let local_hit = self.locals[li].id.hit;
        let peer = Hit::from(pkt.sender_hit);
        let key = (local_hit, peer);
        let a = self
            .assocs
            .get(&key)
            .filter(|a| matches!(a.state, State::Established | State::R2Sent | State::Closing | State::Closed))
            .ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_ref().ok_or(DropReason::UnexpectedPacket)?;
        verify_mac(bytes, pkt, MacKind::Mac, s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        let echo = pkt.get::<EchoRequestSigned>().ok_or(DropReason::MissingParameter)?;
        let ack = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::CloseAck,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params: vec![EchoResponseSigned { opaque: echo.opaque.clone() }.into()],
        };
        let mac = MacSpec { kind: MacKind::Mac, suite: s.suite, key: &s.hip_keys.outbound.integrity };
        let ack = seal(ack, Some(mac), Some((&self.locals[li].id, SigKind::Sig)))?;
        let spi = s.inbound_spi;
        let (src, dst) = (a.local_locator, a.peer_locator);
        let was_closed = a.state == State::Closed;
        if !was_closed {
            let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
            a.set_state(State::Closed, now);
            a.pending = None;
            a.deadline = Some(now + self.cfg.linger);
            self.events.push_back(Event::Closed { local_hit, peer_hit: peer, inbound_spi: spi });
        }
        self.send(src, dst, ack);
        Ok(())
    }

    /// CLOSE_ACK (§6.15) in CLOSING: authenticate, check the echoed nonce,
    /// go to CLOSED.
    pub(in crate::hip::assoc) fn on_close_ack(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let key = (self.locals[li].id.hit, Hit::from(pkt.sender_hit));
        let a = self.assocs.get_mut(&key).filter(|a| a.state == State::Closing).ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_ref().ok_or(DropReason::Internal)?;
        verify_mac(bytes, pkt, MacKind::Mac, s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        let echo = pkt.get::<EchoResponseSigned>().ok_or(DropReason::MissingParameter)?;
        if a.close_nonce.as_deref() != Some(&echo.opaque[..]) {
            return Err(DropReason::BadEcho);
        }
        let spi = s.inbound_spi;
        a.set_state(State::Closed, now);
        a.pending = None;
        a.deadline = Some(now + self.cfg.linger);
        self.events.push_back(Event::Closed { local_hit: key.0, peer_hit: key.1, inbound_spi: spi });
        Ok(())
    }
}
