//! Registration (RFC 8003): the client asks in its I2 (or a refreshing
//! UPDATE) with REG_REQUEST for a service the registrar's R1 offered in
//! REG_INFO; the registrar answers in its R2 (or UPDATE) with REG_RESPONSE
//! or REG_FAILED. The rendezvous service (RFC 8004) is the one offered.

use std::time::Instant;

use core::net::IpAddr;
use core::time::Duration;

use super::*;
use crate::hip::assoc::InitiateError;
use crate::hip::assoc::registration::{
    FAILURE_CREDENTIALS, FAILURE_TYPE_UNAVAILABLE, Granted, Held, REG_TYPE_RENDEZVOUS, RegistrationInfo,
    lifetime_duration,
};
use crate::hip::wire::param::registration::{RegFailed, RegInfo, RegRequest, RegResponse};

/// A registrar's answer to a REG_REQUEST: the parameters for the R2 or
/// UPDATE, and the change to make once it is sent.
#[derive(Default)]
pub(in crate::hip::assoc) struct RegAnswer {
    pub params: Vec<Param>,
    change: Option<(Hit, Option<Granted>)>,
    refused: bool,
}

/// Refresh when this fraction of the granted lifetime has passed (RFC 8003
/// §3.3 leaves the margin to the client; one retransmission series of a
/// few seconds must fit before the registration lapses).
const REFRESH_AT: f64 = 0.75;

/// Retry a refresh that got no answer after this long.
const REFRESH_RETRY: Duration = Duration::from_secs(5);

impl HipHost {
    /// Register with the registrar `registrar_hit` for the rendezvous
    /// service, asking for `lifetime` (RFC 8003 §4.1 encoding): a base
    /// exchange with REG_REQUEST in the I2, or an UPDATE if the
    /// association exists. The registration is refreshed before it
    /// expires for as long as this host runs.
    pub fn register(
        &mut self,
        now: Instant,
        registrar_hit: Hit,
        paths: Vec<(IpAddr, IpAddr)>,
        lifetime: u8,
    ) -> Result<State, InitiateError> {
        self.held
            .insert(registrar_hit, Held { wanted: lifetime, granted: None, refresh_at: None, paths: paths.clone() });
        if let Some(key) = self.established_key(&registrar_hit) {
            let req = RegRequest { lifetime, reg_types: vec![REG_TYPE_RENDEZVOUS] };
            self.send_update(now, key, vec![req.into()], None, None).map_err(InitiateError::Internal)?;
            return Ok(State::Established);
        }
        self.initiate(now, None, registrar_hit, paths)
    }

    /// Registrations: those we granted (registrar) and those we hold
    /// (client), for `proxy-ctl rvs list` and `assoc list`.
    pub fn registrations(&self, now: Instant) -> Vec<RegistrationInfo> {
        let locator = |peer: &Hit| self.assocs.values().find(|a| a.peer_hit == *peer).map(|a| a.peer_locator);
        let mut v: Vec<RegistrationInfo> = self
            .granted
            .iter()
            .filter(|(_, g)| g.expires > now)
            .map(|(hit, g)| RegistrationInfo {
                peer_hit: *hit,
                locator: locator(hit),
                lifetime: g.lifetime,
                remaining: g.expires.saturating_duration_since(now),
                registrar: true,
            })
            .collect();
        v.extend(self.held.iter().map(|(hit, h)| RegistrationInfo {
            peer_hit: *hit,
            locator: locator(hit),
            lifetime: h.granted.map_or(0, |g| g.0),
            remaining: h.granted.map_or(Duration::ZERO, |g| g.1.saturating_duration_since(now)),
            registrar: false,
        }));
        v.sort_by_key(|r| (r.registrar, r.peer_hit));
        v
    }

    /// The key of an ESTABLISHED (or R2-SENT) association with `peer`.
    pub(in crate::hip::assoc) fn established_key(&self, peer: &Hit) -> Option<(Hit, Hit)> {
        self.assocs
            .iter()
            .find(|(k, a)| k.1 == *peer && matches!(a.state, State::Established | State::R2Sent) && a.session.is_some())
            .map(|(k, _)| *k)
    }

    /// Client, building the I2 to `peer`: REG_REQUEST if we want to
    /// register with it and its R1 offers the service (RFC 8003 §3.2).
    pub(in crate::hip::assoc) fn registration_request_in_i2(
        &mut self,
        _now: Instant,
        peer: Hit,
        r1: &HipPacket,
    ) -> Option<Param> {
        let wanted = self.held.get(&peer)?.wanted;
        match r1.get::<RegInfo>() {
            Some(info) if info.reg_types.contains(&REG_TYPE_RENDEZVOUS) => {
                let lifetime = wanted.clamp(info.min_lifetime, info.max_lifetime.max(info.min_lifetime));
                Some(RegRequest { lifetime, reg_types: vec![REG_TYPE_RENDEZVOUS] }.into())
            }
            _ => {
                self.counters.mobility.registration_failures += 1;
                self.events.push_back(Event::RegistrationFailed { registrar_hit: peer, failure_type: None });
                None
            }
        }
    }

    /// Client: REG_RESPONSE or REG_FAILED from `peer` (in an R2 or UPDATE).
    pub(in crate::hip::assoc) fn registration_answer(&mut self, now: Instant, peer: Hit, pkt: &HipPacket) {
        let Some(h) = self.held.get_mut(&peer) else { return };
        if let Some(r) = pkt.get::<RegResponse>().filter(|r| r.reg_types.contains(&REG_TYPE_RENDEZVOUS)) {
            let d = lifetime_duration(r.lifetime);
            h.granted = (r.lifetime != 0).then_some((r.lifetime, now + d));
            h.refresh_at = (r.lifetime != 0).then(|| now + d.mul_f64(REFRESH_AT));
            self.counters.mobility.registered += 1;
            self.events.push_back(Event::Registered { registrar_hit: peer, lifetime: d });
        } else if let Some(f) = pkt.get::<RegFailed>().filter(|f| f.reg_types.contains(&REG_TYPE_RENDEZVOUS)) {
            h.granted = None;
            h.refresh_at = None;
            self.counters.mobility.registration_failures += 1;
            self.events
                .push_back(Event::RegistrationFailed { registrar_hit: peer, failure_type: Some(f.failure_type) });
        }
    }

    /// Registrar: the answer to `req` from `peer` (RFC 8003 §3.3, §6).
    pub(in crate::hip::assoc) fn registrar_decide(
        &self,
        now: Instant,
        peer: Hit,
        req: Option<&RegRequest>,
    ) -> RegAnswer {
        let (Some(rc), Some(req)) = (&self.cfg.registrar, req) else { return RegAnswer::default() };
        if !rc.allowed.as_ref().is_none_or(|a| a.contains(&peer)) {
            let failed = RegFailed {
                lifetime: req.lifetime,
                failure_type: FAILURE_CREDENTIALS,
                reg_types: req.reg_types.clone(),
            };
            return RegAnswer { params: vec![failed.into()], change: None, refused: true };
        }
        let (ok, unavailable): (Vec<u8>, Vec<u8>) = req.reg_types.iter().partition(|&&t| t == REG_TYPE_RENDEZVOUS);
        let mut answer = RegAnswer::default();
        if !ok.is_empty() {
            // §3.3: lifetime 0 cancels; else clamp to what we offer.
            let lifetime = if req.lifetime == 0 { 0 } else { req.lifetime.clamp(rc.min_lifetime, rc.max_lifetime) };
            let granted = (lifetime != 0).then(|| Granted {
                lifetime,
                expires: now + lifetime_duration(lifetime),
                since: self.granted.get(&peer).map_or(now, |g| g.since),
            });
            answer.params.push(RegResponse { lifetime, reg_types: ok }.into());
            answer.change = Some((peer, granted));
        }
        if !unavailable.is_empty() {
            answer.params.push(
                RegFailed { lifetime: req.lifetime, failure_type: FAILURE_TYPE_UNAVAILABLE, reg_types: unavailable }
                    .into(),
            );
            answer.refused = true;
        }
        answer
    }

    /// Registrar: apply a decided answer once it is on its way.
    pub(in crate::hip::assoc) fn registrar_commit(&mut self, answer: RegAnswer) {
        if answer.refused {
            self.counters.mobility.registrations_refused += 1;
        }
        match answer.change {
            Some((peer, Some(g))) => {
                self.counters.mobility.registrations_granted += 1;
                self.granted.insert(peer, g);
            }
            Some((peer, None)) => {
                self.granted.remove(&peer);
            }
            None => {}
        }
    }

    /// Expire granted registrations; refresh held ones that are due.
    pub(in crate::hip::assoc) fn registration_timeouts(&mut self, now: Instant) {
        self.granted.retain(|_, g| g.expires > now);
        let due: Vec<Hit> =
            self.held.iter().filter(|(_, h)| h.refresh_at.is_some_and(|t| t <= now)).map(|(k, _)| *k).collect();
        for hit in due {
            let Some(h) = self.held.get_mut(&hit) else { continue };
            h.refresh_at = Some(now + REFRESH_RETRY);
            let (wanted, paths) = (h.wanted, h.paths.clone());
            if let Some(key) = self.established_key(&hit) {
                let req = RegRequest { lifetime: wanted, reg_types: vec![REG_TYPE_RENDEZVOUS] };
                if let Err(r) = self.send_update(now, key, vec![req.into()], None, None) {
                    self.counters.drop(r);
                }
            } else if let Err(e) = self.initiate(now, None, hit, paths) {
                // A wrong configuration: counted, retried on the next round.
                let _ = e;
                self.counters.mobility.registration_failures += 1;
            }
        }
    }
}
