//! An association moved by another protocol: the mobile VPN (seed 004)
//! keeps its MN <-> GW SAs, keyed by a HIP base exchange, on the move with
//! its own Mobile IP registration and the home agent's SIU rather than an
//! RFC 8046 UPDATE. The HIP core still has to know the locators in use, so
//! that what it sends later on the association (CLOSE, an UPDATE rekey)
//! goes where the peer is, and `assoc list` shows it.

use std::net::IpAddr;

use super::association::State;
use super::host::HipHost;
use crate::hip::crypto::Hit;

impl HipHost {
    /// The SAs of the associations with `peer_hit` now run between `local`
    /// and `peer` (`None` keeps that side): record it, without signalling
    /// and without an event (whoever moved the SAs did that already).
    /// Associations without keys yet, or of another address family, are
    /// left alone. Returns how many changed.
    pub fn note_moved(&mut self, peer_hit: &Hit, local: Option<IpAddr>, peer: Option<IpAddr>) -> usize {
        let mut n = 0;
        for ((_, p), a) in self.assocs.iter_mut() {
            if p != peer_hit || !matches!(a.state, State::Established | State::R2Sent) || a.session.is_none() {
                continue;
            }
            let (l, r) = (local.unwrap_or(a.local_locator), peer.unwrap_or(a.peer_locator));
            if l.is_ipv4() != a.local_locator.is_ipv4() || r.is_ipv4() != a.peer_locator.is_ipv4() {
                continue;
            }
            if (l, r) != (a.local_locator, a.peer_locator) {
                (a.local_locator, a.peer_locator) = (l, r);
                n += 1;
            }
        }
        n
    }
}
