//! The ESP side of the daemon: static SAs at start-up, the host data path,
//! and the `sa` control requests.

use std::sync::Arc;

use anyhow::Context;
use tracing::info;

use crate::{
    config::{Config, EspSection},
    control::{CounterInfo, Request, Response},
    esp::{
        SaTable,
        host::{HostOptions, HostPath},
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
        Some(tun) => Some(HostPath::start(
            table.clone(),
            &HostOptions {
                tun: tun.clone(),
                mtu: e.tun_mtu,
                addrs: e.tun_addrs.clone(),
                routes: e.tun_routes.iter().map(|p| p.to_string()).collect(),
            },
        )?),
        None => None,
    };
    Ok((table, host))
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
