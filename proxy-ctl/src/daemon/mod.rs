//! `proxy-ctl run`: the tokio driver around the datapath. It makes no
//! protocol decisions of its own: it loads and attaches the datapath,
//! installs the configured mappings, serves the control socket and runs
//! the NAT garbage collector.

mod dispatch;
mod dns;
mod dns_state;
mod esp;
pub mod esp_afxdp;
mod esp_hip;
mod esp_proxy;
mod esp_rekey;
mod gc;
pub mod hip;
mod hip_addrs;
mod hip_dispatch;
mod hip_mapping;
mod hip_mobility;
mod hip_socket;
mod server;
mod state;
mod vpn;
mod vpn_esp;
mod vpn_gw;
mod vpn_ha;
mod vpn_io;
mod vpn_mn;
mod vpn_netlink;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::{config::Config, datapath::Datapath};

pub use dispatch::dispatch;
pub use state::Daemon;

pub struct Options<'a> {
    pub config: &'a Path,
    pub reset_state: bool,
}

pub async fn run(opts: Options<'_>) -> anyhow::Result<()> {
    let cfg = Config::load(opts.config)?;
    // Before any packet thread starts: each one enters it on its own.
    crate::sched::configure(cfg.scheduling.realtime_priority).context("[scheduling]")?;
    let dp = match &cfg.datapath {
        Some(dsec) => Some(load_datapath(&cfg, dsec, opts.reset_state)?),
        None => {
            info!("no [datapath] configured: no XDP programs attached");
            None
        }
    };
    let (sa_table, host_path, proxy_esp) = match &cfg.esp {
        // The proxy role: its TUN path translates (daemon/esp_proxy.rs).
        Some(e) if esp_proxy::wanted(&cfg) => {
            let (t, _) =
                esp::start(&cfg, &crate::config::EspSection { tun: None, ..e.clone() }).context("starting ESP")?;
            let (p, h) = esp_proxy::start(&cfg, e, t.clone()).context("starting the proxy's ESP path")?;
            esp_proxy::map_static(&p, &cfg);
            (Some(t), Some(h), Some(p))
        }
        Some(e) => {
            let (t, h) = esp::start(&cfg, e).context("starting ESP")?;
            (Some(t), h, None)
        }
        None => (None, None, None),
    };
    // The VPN's node and gateway keep their SAs in the SA table too (an
    // empty one when there is no [esp]), so `sa list` shows them.
    let sa_table = match (sa_table, vpn::needs_sa_table(cfg.vpn.as_ref())) {
        (None, true) => Some(Arc::new(crate::esp::SaTable::new(None))),
        (t, _) => t,
    };
    if vpn::needs_sa_table(cfg.vpn.as_ref()) && host_path.is_some() {
        anyhow::bail!("[vpn.mn] and [vpn.gw] run their own ESP data path: leave [esp] tun unset");
    }
    let cfg = Arc::new(cfg);
    let dp = dp.map(|dp| Arc::new(Mutex::new(dp)));
    let vpn_view = cfg
        .vpn
        .as_ref()
        .map(|v| Arc::new(std::sync::Mutex::new(crate::vpn::view::VpnView { role: v.role(), ..Default::default() })));
    let mut tasks = Vec::new();
    let hip = match cfg.hip.clone() {
        Some(mut h) => {
            if let Some(v) = &cfg.vpn {
                v.adjust_hip(&mut h);
            }
            let (handle, task) = hip::spawn(h).context("starting HIP")?;
            tasks.push(task);
            Some(handle)
        }
        None => None,
    };
    // The VPN's node and gateway install their own (tunnel-mode) SAs from
    // the HIP events; BEET glue is for the other roles. The proxy's misses
    // start a base exchange with the locators its DNS mappings learnt.
    if let (Some(t), Some(h)) = (&sa_table, &hip) {
        if !vpn::needs_sa_table(cfg.vpn.as_ref()) {
            let locate = proxy_esp.clone().map(|p| -> esp_hip::LocatorLookup { Arc::new(move |hit| p.locators(hit)) });
            tasks.extend(esp_hip::spawn(t.clone(), h.clone(), locate));
        }
        // Aging SAs are rekeyed by UPDATE in every role with HIP-keyed
        // SAs, the VPN's tunnel pairs included.
        if let Some(e) = &cfg.esp {
            // Validated to 1..2^32-1.
            t.set_soft_limit(u32::try_from(e.rekey_after_packets).unwrap_or(u32::MAX - 1));
        }
        let keying = cfg.esp.as_ref().map(|e| e.rekey_keying.keying()).unwrap_or_default();
        tasks.push(esp_rekey::spawn(t.clone(), h.clone(), keying));
    }
    // The proxy's AF_XDP fast path for established flows (issue 5).
    let afxdp = match (&cfg.esp, &proxy_esp, &sa_table) {
        (Some(e), Some(p), Some(t)) => {
            esp_afxdp::start(&cfg, e, dp.as_ref(), t.clone(), p.translator().clone()).await?.map(|(x, task)| {
                tasks.push(task);
                x
            })
        }
        _ => None,
    };
    let dns_state = cfg.dns.as_ref().map(|_| Arc::new(std::sync::Mutex::new(dns_state::DnsState::default())));
    if let (Some(d), Some(h)) = (&dns_state, &hip) {
        tasks.push(hip_mapping::spawn(h.events(), d.clone()));
    }
    let daemon = Arc::new(Daemon {
        cfg: cfg.clone(),
        dp: dp.clone(),
        esp: sa_table.clone(),
        hip,
        dns: dns_state.clone(),
        vpn: vpn_view.clone(),
        afxdp: afxdp.clone(),
        proxy_esp: proxy_esp.clone(),
    });

    let listener = server::bind(&cfg.control.socket)?;
    info!(socket = %cfg.control.socket.display(), "control socket ready");
    tasks.push(tokio::spawn(server::serve(listener, daemon.clone())));
    if let Some(dp) = &dp {
        tasks.push(tokio::spawn(gc::run(dp.clone(), cfg.clone(), Duration::from_secs(cfg.nat.gc_interval_secs))));
    }
    if let Some(p) = &proxy_esp {
        tasks.push(tokio::spawn(esp_proxy::expire(p.clone())));
    }
    if let (Some(d), Some(dp), Some(st)) = (cfg.dns.clone(), &dp, &dns_state) {
        let (cfg, dp, st, pe) = (cfg.clone(), dp.clone(), st.clone(), proxy_esp.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = dns::run(cfg, d, dp, st, pe).await {
                tracing::error!("DNS resolver stopped: {e:#}");
            }
        }));
    }
    if let (Some(v), Some(view)) = (cfg.vpn.clone(), vpn_view) {
        tasks.push(tokio::spawn(vpn::run(v, cfg.esp.clone(), sa_table, view, daemon.hip.clone())));
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping"),
        _ = term.recv() => info!("SIGTERM: stopping"),
    }
    for t in &tasks {
        t.abort();
    }
    let _ = std::fs::remove_file(&cfg.control.socket);
    // Dropping the datapath detaches XDP; the pinned maps stay for the next start.
    drop(tasks);
    drop(daemon);
    drop(dp);
    // The workers stop (joined) before the TUN path.
    drop(afxdp);
    drop(host_path);
    info!("stopped; mappings and NAT flows stay pinned");
    Ok(())
}

fn load_datapath(cfg: &Config, dsec: &crate::config::DatapathSection, reset_state: bool) -> anyhow::Result<Datapath> {
    if reset_state {
        Datapath::reset_state(&dsec.pin_dir).context("removing pinned maps")?;
        info!(dir = %dsec.pin_dir.display(), "pinned state removed");
    }
    let mut dp = Datapath::load(cfg).context("loading the datapath")?;
    let restored = dp.mappings()?.len();
    let flows = dp.flows()?.len();
    info!(restored_mappings = restored, restored_flows = flows, "pinned state");
    for m in &cfg.mappings {
        let added = match m.peer {
            std::net::IpAddr::V6(hit) if crate::mapping_rules::is_hip_mapping(cfg, m.peer) => {
                dp.mapping_add_hip(m.substitute, hit)
            }
            _ => dp.mapping_add(m.substitute, m.peer),
        };
        match added {
            Ok(()) => info!(substitute = %m.substitute, peer = %m.peer, "static mapping installed"),
            Err(crate::datapath::TableError::Mapping(crate::mapping_rules::MappingError::Duplicate(_))) => {}
            Err(e) => warn!(substitute = %m.substitute, "static mapping not installed: {e}"),
        }
    }
    Ok(dp)
}
