//! HIP -> ESP on the native host: install the BEET SA pair of every
//! association that reaches ESTABLISHED (or R2-SENT at the Responder,
//! RFC 7402 §4), remove it on CLOSE, start a base exchange when a local
//! packet to a HIT finds no SA, and report the first ESP on a Responder's
//! inbound SA (RFC 7401 §4.4.2).
//!
//! BEET SAs (RFC 7402 §4): the inner addresses are the HITs, the outer
//! ones the locators the base exchange ran over; the SPIs and keys come
//! with the event.

use std::{collections::HashMap, net::Ipv6Addr, sync::Arc};

use anyhow::Context;
use proxy_proto::hip::assoc::{Event, event::Established};
use proxy_proto::hip::crypto::Hit;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use super::hip::HipHandle;
use crate::esp::{
    Direction, ModeName, SaSpec, SaTable, ValidSa,
    hip_hooks::{HipHooks, Request},
    spec::transform_name,
};

/// Requests from the workers waiting for the driver.
const REQUEST_QUEUE: usize = 256;

/// One association's SAs as installed.
#[derive(Debug, Clone, Copy)]
struct Installed {
    inbound_spi: u32,
    outbound_spi: u32,
}

struct Glue {
    table: Arc<SaTable>,
    hooks: Arc<HipHooks>,
    hip: HipHandle,
    /// (local HIT, peer HIT) -> SAs.
    sas: HashMap<(Hit, Hit), Installed>,
    /// A base exchange started for a held packet ended (Ok: the association
    /// is up as far as the driver knows).
    settled: mpsc::Sender<(Ipv6Addr, bool)>,
}

/// Hook the SA table to the HIP driver and start the task that installs
/// and removes SAs.
pub fn spawn(table: Arc<SaTable>, hip: HipHandle) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let hooks = Arc::new(HipHooks::new(req_tx).context("eventfd for the ESP sender")?);
    if table.hip.set(hooks.clone()).is_err() {
        anyhow::bail!("the SA table is already fed by a HIP driver");
    }
    // Subscribe before the first event can happen.
    let events = hip.events();
    let (settled, settled_rx) = mpsc::channel(REQUEST_QUEUE);
    let glue = Glue { table, hooks, hip, sas: HashMap::new(), settled };
    info!("HIP associations install their ESP SAs; packets to HITs without an SA start a base exchange");
    Ok(tokio::spawn(glue.run(events, req_rx, settled_rx)))
}

impl Glue {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Event>,
        mut requests: mpsc::Receiver<Request>,
        mut settled: mpsc::Receiver<(Ipv6Addr, bool)>,
    ) {
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => self.on_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!("{n} HIP events lost: SAs of those associations may be missing");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                r = requests.recv() => match r {
                    Some(Request::Initiate(peer)) => self.initiate(peer),
                    Some(Request::FirstEsp(spi)) => self.first_esp(spi).await,
                    None => return,
                },
                s = settled.recv() => {
                    let Some((peer, ok)) = s else { return };
                    // The Established event went out before the initiate
                    // call saw it: take every queued event first.
                    while let Ok(ev) = events.try_recv() {
                        self.on_event(ev);
                    }
                    self.on_settled(peer, ok);
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Established(e) => self.install(&e),
            // Only the SAs the event names: after a restart by the peer the
            // new pair may already be in.
            Event::Closed { local_hit, peer_hit, inbound_spi } => {
                if self.sas.get(&(local_hit, peer_hit)).is_some_and(|i| i.inbound_spi == inbound_spi) {
                    self.remove(local_hit, peer_hit);
                }
            }
            Event::Failed { peer_hit, .. } => self.hooks.discard(peer_hit.to_ipv6()),
            Event::Notified { .. } => {}
        }
    }

    fn install(&mut self, e: &Established) {
        let key = (e.local_hit, e.peer_hit);
        // A new base exchange with the same peer replaces the old SAs
        // (RFC 7401 §4.4.2, I2 in ESTABLISHED: the peer lost its state).
        self.remove(e.local_hit, e.peer_hit);
        let spec = |spi: u32, direction: Direction, key: &[u8]| SaSpec {
            spi,
            direction,
            mode: ModeName::Beet,
            transform: transform_name(e.transform).into(),
            key: hex::encode(key),
            local: e.local_locator,
            peer: e.peer_locator,
            inner_local: Some(e.local_hit.to_ipv6().into()),
            inner_peer: Some(e.peer_hit.to_ipv6().into()),
            wildcard_source: false,
        };
        let pair = || -> Result<(ValidSa, ValidSa), String> {
            Ok((
                spec(e.outbound_spi, Direction::Out, &e.outbound_key).validate()?,
                spec(e.inbound_spi, Direction::In, &e.inbound_key).validate()?,
            ))
        };
        let result = pair().map_err(anyhow::Error::msg).and_then(|(o, i)| Ok(self.table.install_pair(o, i)?));
        let peer = e.peer_hit.to_ipv6();
        match result {
            Ok(()) => {
                self.hooks.set_origin(Direction::Out, e.outbound_spi, true);
                self.hooks.set_origin(Direction::In, e.inbound_spi, true);
                if !e.initiator {
                    self.hooks.await_first(e.inbound_spi);
                }
                self.sas.insert(key, Installed { inbound_spi: e.inbound_spi, outbound_spi: e.outbound_spi });
                info!(
                    peer = %peer, local = %e.local_locator, remote = %e.peer_locator,
                    spi_in = format_args!("{:#010x}", e.inbound_spi),
                    spi_out = format_args!("{:#010x}", e.outbound_spi),
                    "HIP BEET SA pair installed"
                );
                self.hooks.release(peer);
            }
            Err(err) => {
                warn!(peer = %peer, "HIP association without SAs: {err:#}");
                self.hooks.discard(peer);
            }
        }
    }

    fn remove(&mut self, local: Hit, peer: Hit) {
        let Some(i) = self.sas.remove(&(local, peer)) else { return };
        for (d, spi) in [(Direction::In, i.inbound_spi), (Direction::Out, i.outbound_spi)] {
            if let Err(e) = self.table.remove(d, spi) {
                // Someone removed it by hand (`sa del`): nothing left to do.
                debug!(spi = format_args!("{spi:#010x}"), "HIP SA already gone: {e}");
            }
            self.hooks.set_origin(d, spi, false);
        }
        self.hooks.forget_spi(i.inbound_spi);
        info!(peer = %peer.to_ipv6(), spi_in = format_args!("{:#010x}", i.inbound_spi), "HIP SA pair removed");
    }

    /// A local packet for `peer` found no SA: run the base exchange in its
    /// own task (it waits for the peer) and settle the held packets after.
    fn initiate(&self, peer: Ipv6Addr) {
        let (hip, settled) = (self.hip.clone(), self.settled.clone());
        info!(peer = %peer, "packet to a HIT without an SA: starting the base exchange");
        tokio::spawn(async move {
            let ok = match hip.initiate(peer, Vec::new()).await {
                Ok(_) => true,
                Err(e) => {
                    warn!(peer = %peer, "base exchange for held packets: {e:#}");
                    false
                }
            };
            let _ = settled.send((peer, ok)).await;
        });
    }

    fn on_settled(&self, peer: Ipv6Addr, ok: bool) {
        if !self.hooks.is_holding(peer) {
            return;
        }
        let installed = self.sas.keys().any(|(_, p)| p.to_ipv6() == peer);
        if ok && installed {
            // Already up (the miss raced the install): send now.
            self.hooks.release(peer);
        } else {
            self.hooks.discard(peer);
        }
    }

    async fn first_esp(&self, spi: u32) {
        let Some((&(local, peer), _)) = self.sas.iter().find(|(_, i)| i.inbound_spi == spi) else { return };
        debug!(peer = %peer.to_ipv6(), "first ESP on the inbound SA");
        if let Err(e) = self.hip.esp_received(local, peer).await {
            warn!("reporting ESP to HIP: {e:#}");
        }
    }
}
