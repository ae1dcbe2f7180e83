//! Telling a fast receive path about a new inbound SPI before the SA can
//! be used.
//!
//! The AF_XDP path (`xdp_host`) only redirects ESP whose SPI is in its
//! steering map; anything else goes to the kernel and the raw socket,
//! which opens it too, but slower. The peer may send on a new inbound SA
//! a moment after we install it: the Responder installs on I2 and sends
//! R2, and the Initiator's first ESP (the held packet) follows R2 within
//! a round trip; a rekey's UPDATE likewise. A control thread mirroring the
//! table after the fact lost that race now and then (the first packet of
//! an association on the raw socket, seen in the host-move test). So the
//! installer steers the SPI itself, before the SA goes into the table and
//! before anything announcing it leaves; the mirror stays as the repair
//! for a map write that failed and for removals.

use std::sync::Arc;

use super::SaTable;
use crate::esp::spec::{Direction, ValidSa};

/// A receive path that steers inbound SPIs to itself.
pub trait InboundSteering: Send + Sync {
    /// Steer ESP with this inbound SPI from now on (idempotent; a failure
    /// is logged and left to the path's own repair).
    fn steer(&self, spi: u32);
}

impl SaTable {
    /// Who steers new inbound SPIs (None: nobody, the raw socket takes
    /// all).
    pub fn set_steering(&self, s: Option<Arc<dyn InboundSteering>>) {
        *self.steering.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// Steer `v`, when it is an inbound SA, before it is installed. Takes
    /// no lock of the lookup tables.
    pub(super) fn steer_new(&self, v: &ValidSa) {
        if v.spec.direction != Direction::In {
            return;
        }
        let Some(s) = self.steering.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        s.steer(v.spec.spi);
    }
}
