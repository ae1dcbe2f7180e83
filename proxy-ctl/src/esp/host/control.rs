//! The control plane's own packets through the host data path: a role
//! driver (the mobile VPN's node and gateway) seals the odd packet on a
//! named outbound SA and sends it, possibly to another outer destination
//! than the SA's peer (the gateway's return-routability nonce goes to the
//! address being verified), and writes packets into the TUN device (a
//! Registration Request it checked, forwarded inside).

use std::{io, net::IpAddr, sync::Arc};

use proxy_proto::esp::{gso::VIRTIO_NET_HDR_LEN, tunnel::seal_tunnel_packet};

use super::rawsock::{self, HEADROOM};
use super::{HostPath, Tun};
use crate::esp::{Direction, SaError, SaTable, counters::Counter};

#[derive(Debug, thiserror::Error)]
pub enum ControlSendError {
    #[error(transparent)]
    Sa(#[from] SaError),
    #[error("sealing refused: {0}")]
    Seal(String),
    #[error("sending: {0}")]
    Io(#[from] io::Error),
}

impl HostPath {
    /// Seal the inner packet `inner` on the outbound SA `spi` (tunnel mode)
    /// and send it from the SA's local address to `dst`, or to the SA's
    /// peer. Counted like data (`esp_tx`, `drop_seal`, `drop_io`).
    pub fn send_inner(&self, spi: u32, inner: &[u8], dst: Option<IpAddr>) -> Result<(), ControlSendError> {
        let c = &self.table.counters;
        let mut buf = vec![0u8; HEADROOM + inner.len() + 64];
        buf[HEADROOM..HEADROOM + inner.len()].copy_from_slice(inner);
        let (esp, local, peer) = {
            let t = self.table.read();
            let e = t.outbound_by_spi(spi).ok_or(SaError::NotFound(Direction::Out, spi))?;
            let mut st = e.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut rng_failed = false;
            let r = seal_tunnel_packet(&mut st.sa, &mut buf, HEADROOM..HEADROOM + inner.len(), &mut |iv| {
                rng_failed |= aws_lc_rs::rand::fill(iv).is_err()
            });
            if let Some(ev) = st.sa.poll_event() {
                self.table.push_event(ev);
            }
            match r {
                Ok(esp) if !rng_failed => (esp, st.local, st.peer),
                Ok(_) => {
                    c.inc(Counter::DropSeal);
                    return Err(ControlSendError::Seal("no random IV".into()));
                }
                Err(e) => {
                    c.inc(Counter::DropSeal);
                    return Err(ControlSendError::Seal(e.to_string()));
                }
            }
        };
        let dst = dst.unwrap_or(peer);
        let sock = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        match rawsock::send_one(sock, &buf[esp], local, dst) {
            Ok(()) => {
                c.inc(Counter::EspTx);
                Ok(())
            }
            Err(e) => {
                c.inc(Counter::DropIo);
                Err(e.into())
            }
        }
    }

    /// Write a packet into the TUN device, for the local stack to take or
    /// forward (counted `local_tx`): behind a zero virtio-net header (no
    /// offload asked for), as the device expects.
    pub fn inject(&self, pkt: &[u8]) -> io::Result<()> {
        self.injector().inject(pkt)
    }

    /// [`HostPath::inject`] for another thread (a tunnel hook that forwards
    /// a control packet inside before it tells its driver about it).
    pub fn injector(&self) -> Injector {
        Injector { tun: self.tun.clone(), table: self.table.clone() }
    }
}

/// Writes packets into a host data path's TUN device.
#[derive(Clone)]
pub struct Injector {
    tun: Arc<Tun>,
    table: Arc<SaTable>,
}

impl Injector {
    pub fn inject(&self, pkt: &[u8]) -> io::Result<()> {
        let mut buf = vec![0u8; VIRTIO_NET_HDR_LEN + pkt.len()];
        buf[VIRTIO_NET_HDR_LEN..].copy_from_slice(pkt);
        let r = self.tun.write(&buf).map(|_| ());
        self.table.counters.inc(if r.is_ok() { Counter::LocalTx } else { Counter::DropIo });
        r
    }
}
