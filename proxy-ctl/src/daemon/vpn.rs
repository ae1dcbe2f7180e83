//! Starts the configured mobile-VPN role and answers `proxy-ctl vpn ...`.

use std::sync::{Arc, Mutex};

use super::Daemon;
use crate::{
    config::EspSection,
    control::{Request, Response},
    esp::SaTable,
    vpn::{config::VpnSection, view::VpnView},
};

/// Whether the configured role keeps SAs (the node and the gateway).
pub fn needs_sa_table(sec: Option<&VpnSection>) -> bool {
    sec.is_some_and(VpnSection::runs_esp_path)
}

/// `esp`: the config's `[esp]`, whose `host_datapath` (AF_XDP receive)
/// the gateway's and the node's ESP data path take.
pub async fn run(
    sec: VpnSection,
    esp: Option<EspSection>,
    table: Option<Arc<SaTable>>,
    view: Arc<Mutex<VpnView>>,
    hip: Option<super::hip::HipHandle>,
) {
    // The first draw seeds aws-lc's generator (tens of ms here): pay it at
    // start, not inside the first handover.
    super::vpn_io::fill_random(&mut [0u8; 16]);
    let r = if let Some(h) = sec.ha {
        super::vpn_ha::run(h, view).await
    } else if let (Some(g), Some(t)) = (sec.gw, table.clone()) {
        let xsk = esp.as_ref().and_then(|e| super::esp::xsk_options(e, &g.tun, &[]));
        super::vpn_gw::run(g, t, xsk, view, hip).await
    } else if let (Some(m), Some(t)) = (sec.mn, table) {
        // The care-of interfaces, when named, are where ESP arrives.
        let xsk = esp.as_ref().and_then(|e| super::esp::xsk_options(e, &m.tun, &m.interfaces));
        super::vpn_mn::run(m, t, xsk, view, hip).await
    } else {
        Ok(())
    };
    if let Err(e) = r {
        tracing::error!("VPN role stopped: {e:#}");
    }
}

pub fn request(daemon: &Daemon, req: Request) -> anyhow::Result<Response> {
    let view = daemon
        .vpn
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("this daemon runs no VPN role (no [vpn.*] in its config)"))?;
    let v = view.lock().unwrap_or_else(|e| e.into_inner());
    let role = v.role.to_string();
    Ok(match req {
        Request::VpnBindings => {
            if v.role != "ha" {
                anyhow::bail!("bindings live on the home agent; this daemon is the {role}");
            }
            Response::VpnBindings { bindings: v.bindings.clone() }
        }
        Request::VpnBundles => {
            if v.role == "ha" {
                anyhow::bail!("SA bundles live on the gateway and the mobile node; this daemon is the home agent");
            }
            Response::VpnBundles { role, bundles: v.bundles.clone() }
        }
        Request::VpnHistory => Response::VpnHistory { role, handovers: v.history.clone() },
        Request::VpnStats => Response::VpnStats { role, counters: v.counters.clone() },
        _ => anyhow::bail!("not a VPN request"),
    })
}
