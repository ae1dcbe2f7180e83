//! `proxy-ctl vpn bindings|bundles|history|stats` (mobile-VPN roles).

use std::path::Path;

use clap::Subcommand;

use super::{client, table};
use crate::control::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum VpnCmd {
    /// Home agent: mobility bindings (home address -> care-of address).
    Bindings,
    /// Gateway / mobile node: SA bundles with their current care-of address.
    Bundles,
    /// Handovers with their timings (milliseconds from the start).
    History,
    /// The role's counters, every rejection by reason.
    Stats,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), |x| x.to_string())
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}

pub async fn run(socket: &Path, json: bool, cmd: VpnCmd) -> anyhow::Result<()> {
    let req = match cmd {
        VpnCmd::Bindings => Request::VpnBindings,
        VpnCmd::Bundles => Request::VpnBundles,
        VpnCmd::History => Request::VpnHistory,
        VpnCmd::Stats => Request::VpnStats,
    };
    let resp = client::call(socket, &req).await?;
    if json {
        return client::print_json(&resp);
    }
    match resp {
        Response::VpnBindings { bindings } => {
            let rows: Vec<Vec<String>> = bindings
                .iter()
                .map(|b| {
                    vec![
                        b.home_address.to_string(),
                        b.care_of_address.to_string(),
                        b.lifetime.to_string(),
                        b.remaining_secs.map_or_else(|| "inf".into(), |s| s.to_string()),
                        opt(&b.via_gateway),
                    ]
                })
                .collect();
            table::print(&["HOME", "CARE-OF", "LIFETIME", "REMAINING", "VIA-GATEWAY"], &rows);
        }
        Response::VpnBundles { bundles, .. } => {
            let rows: Vec<Vec<String>> = bundles
                .iter()
                .map(|b| {
                    vec![
                        b.home_address.to_string(),
                        opt(&b.care_of_address),
                        format!("{:#010x}", b.inbound_spi),
                        format!("{:#010x}", b.outbound_spi),
                        b.packets_in.to_string(),
                        b.packets_out.to_string(),
                        b.generation.to_string(),
                        b.rekeys.to_string(),
                    ]
                })
                .collect();
            table::print(&["HOME", "CARE-OF", "SPI-IN", "SPI-OUT", "PKTS-IN", "PKTS-OUT", "GEN", "REKEYS"], &rows);
        }
        Response::VpnHistory { handovers, .. } => {
            let rows: Vec<Vec<String>> = handovers
                .iter()
                .map(|h| {
                    vec![
                        h.at_unix_ms.to_string(),
                        opt(&h.from),
                        h.to.to_string(),
                        h.kind.clone(),
                        ms(h.sas_updated_ms),
                        ms(h.request_sent_ms),
                        ms(h.registered_ms),
                        ms(h.first_data_ms),
                        h.retransmissions.to_string(),
                        format!("{:#010x}/{:#010x}", h.inbound_spi, h.outbound_spi),
                    ]
                })
                .collect();
            table::print(
                &[
                    "AT(unix ms)",
                    "FROM",
                    "TO",
                    "KIND",
                    "SA-MOVED",
                    "REQ-SENT",
                    "REGISTERED",
                    "FIRST-DATA",
                    "RETX",
                    "SPI-IN/OUT",
                ],
                &rows,
            );
        }
        Response::VpnStats { role, counters } => {
            println!("role: {role}");
            let rows: Vec<Vec<String>> = counters.iter().map(|c| vec![c.name.clone(), c.value.to_string()]).collect();
            table::print(&["COUNTER", "VALUE"], &rows);
        }
        _ => {}
    }
    Ok(())
}
