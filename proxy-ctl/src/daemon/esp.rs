//! The ESP side of the daemon: static SAs at start-up, the host data path,
//! and the `sa` control requests.

use std::sync::Arc;

use anyhow::Context;
use tracing::info;

use crate::{
    config::{Config, EspSection, HostDatapath, XdpBind},
    control::{CounterInfo, Request, Response},
    esp::{
        SaTable,
        afxdp::BindMode,
        host::{HostOptions, HostPath, XskOptions},
    },
};

/// Build the SA store, install the `[[sa]]` entries and, with `tun` set,
/// start the host data path (kept running as long as the value lives).
pub fn start(cfg: &Config, e: &EspSection) -> anyhow::Result<(Arc<SaTable>, Option<HostPath>)> {
    let table = Arc::new(SaTable::new(e.esp_sa_export.clone()));
    if let Some(p) = &e.esp_sa_export {
        tracing::warn!(path = %p.display(), "ESP keys are exported for Wireshark (debugging only)");
    }
    for (i, sa) in cfg.sas.iter().enumerate() {
        let v = sa.validate().map_err(|e| anyhow::anyhow!("[[sa]] #{}: {e}", i + 1))?;
        table.install(v).with_context(|| format!("[[sa]] #{}", i + 1))?;
        info!(spi = format_args!("{:#010x}", sa.spi), direction = %sa.direction, peer = %sa.peer, "static SA installed");
    }
    let host = match &e.tun {
        Some(tun) => Some(HostPath::start_host(
            table.clone(),
            &HostOptions {
                tun: tun.clone(),
                mtu: e.tun_mtu,
                addrs: e.tun_addrs.clone(),
                routes: e.tun_routes.iter().map(|p| p.to_string()).collect(),
            },
            None,
            xsk_options(e, tun, &[]).as_ref(),
        )?),
        None => None,
    };
    Ok((table, host))
}

/// `[esp] host_datapath` as the host path takes it; `None`: raw sockets.
/// The interfaces: `xdp_interfaces`, else `preferred` (the MN's care-of
/// interfaces), else every Ethernet interface that is up but `tun`.
pub fn xsk_options(e: &EspSection, tun: &str, preferred: &[String]) -> Option<XskOptions> {
    let required = match e.host_datapath {
        HostDatapath::Raw => return None,
        HostDatapath::Auto => false,
        HostDatapath::AfXdp => true,
    };
    let interfaces = match (e.xdp_interfaces.is_empty(), preferred.is_empty()) {
        (false, _) => e.xdp_interfaces.clone(),
        (true, false) => preferred.to_vec(),
        (true, true) => ethernet_interfaces(tun),
    };
    let bind = match e.xdp_bind {
        XdpBind::Auto => BindMode::Auto,
        XdpBind::Copy => BindMode::Copy,
        XdpBind::Zerocopy => BindMode::ZeroCopy,
    };
    Some(XskOptions { interfaces, bind, required })
}

/// Ethernet interfaces that are up, but the TUN device (sysfs: type 1 =
/// ARPHRD_ETHER, IFF_UP in flags).
fn ethernet_interfaces(tun: &str) -> Vec<String> {
    let read = |i: &str, f: &str| std::fs::read_to_string(format!("/sys/class/net/{i}/{f}")).unwrap_or_default();
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| d.file_name().into_string().ok())
        .filter(|i| i != tun && read(i, "type").trim() == "1")
        .filter(|i| u32::from_str_radix(read(i, "flags").trim().trim_start_matches("0x"), 16).is_ok_and(|f| f & 1 != 0))
        .collect();
    v.sort();
    v
}

pub fn handle(table: &SaTable, req: Request) -> anyhow::Result<Response> {
    Ok(match req {
        Request::SaAdd { sa } => {
            let v = sa.validate().map_err(anyhow::Error::msg)?;
            table.install(v)?;
            info!(spi = format_args!("{:#010x}", sa.spi), direction = %sa.direction, peer = %sa.peer, "SA added");
            Response::Ok
        }
        Request::SaDel { spi, direction } => {
            table.remove(direction, spi)?;
            info!(spi = format_args!("{spi:#010x}"), %direction, "SA removed");
            Response::Ok
        }
        Request::SaMove { spi, direction, local, peer } => {
            table.move_outer(direction, spi, local, peer)?;
            info!(spi = format_args!("{spi:#010x}"), %direction, %local, %peer, "SA outer addresses moved");
            Response::Ok
        }
        Request::SaList { keys } => Response::Sas {
            sas: table.list(keys),
            counters: table
                .counters
                .list()
                .into_iter()
                .map(|(name, value)| CounterInfo { name: name.into(), value })
                .collect(),
        },
        other => anyhow::bail!("not an SA request: {other:?}"),
    })
}
