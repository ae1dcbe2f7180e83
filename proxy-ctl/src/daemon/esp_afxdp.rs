//! The proxy's AF_XDP fast path in the daemon (issue 5): start the ESP
//! workers next to the TUN slow path, put their sockets in the XSKMAP, and
//! keep the steering maps in line with the SA table and the translator's
//! mappings (esp::afxdp::AfXdpPath::sync) on every SA change and on a
//! short tick (mappings change without telling). First packets
//! of a flow to a peer without SAs take the slow path, which triggers the
//! base exchange; once the SA pair is in and the next hop known, the
//! substitute's packets are steered to the workers.

use std::{sync::Arc, time::Duration};

use proxy_proto::esp::proxy::Translator;
use tokio::{sync::Mutex, task::JoinHandle};
use tracing::{info, warn};

use crate::{
    config::{Config, EspDatapath, EspSection, XdpBind},
    datapath::Datapath,
    esp::{
        SaTable,
        afxdp::{AfXdpPath, BindMode, Options},
    },
};

/// How often the steering follows mapping changes. SA changes (a new
/// pair, a rekey) wake the sync at once, so a flow's packets leave the
/// slow path as soon as its SAs are in, and the workers open what arrives
/// on a rekey's new inbound SPI instead of handing it to the TUN path.
const SYNC_EVERY: Duration = Duration::from_millis(100);

/// Start the workers when the config asks for them (or allows them and
/// the interfaces take AF_XDP sockets). `None`: the TUN path carries
/// everything.
pub async fn start(
    cfg: &Config,
    e: &EspSection,
    dp: Option<&Arc<Mutex<Datapath>>>,
    table: Arc<SaTable>,
    translator: Arc<Translator>,
) -> anyhow::Result<Option<(Arc<AfXdpPath>, JoinHandle<()>)>> {
    let (Some(dp), Some(dsec)) = (dp, cfg.datapath.as_ref()) else {
        if e.datapath == EspDatapath::AfXdp {
            anyhow::bail!("[esp] datapath = \"af_xdp\" needs [datapath]");
        }
        return Ok(None);
    };
    if e.datapath == EspDatapath::Tun || dsec.lan == dsec.wan {
        info!("ESP: TUN path only (no AF_XDP workers)");
        return Ok(None);
    }
    let opts = Options {
        lan: dsec.lan.clone(),
        wan: dsec.wan.clone(),
        queues: e.xdp_queues,
        bind: match e.xdp_bind {
            XdpBind::Auto => BindMode::Auto,
            XdpBind::Copy => BindMode::Copy,
            XdpBind::Zerocopy => BindMode::ZeroCopy,
        },
    };
    let path = match AfXdpPath::start(table.clone(), translator.clone(), opts) {
        Ok(p) => Arc::new(p),
        Err(err) if e.datapath == EspDatapath::Auto => {
            warn!("AF_XDP workers not started, the TUN path carries everything: {err:#}");
            return Ok(None);
        }
        Err(err) => return Err(err.context("starting the AF_XDP workers")),
    };
    path.bind(&mut *dp.lock().await)?;
    let (p, dp) = (path.clone(), dp.clone());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = table.sas_changed() => {}
            }
            let subs: Vec<_> = translator.mappings().into_iter().map(|(s, m)| (s, m.peer_hit)).collect();
            p.sync(&mut *dp.lock().await, &subs);
        }
    });
    Ok(Some((path, task)))
}
