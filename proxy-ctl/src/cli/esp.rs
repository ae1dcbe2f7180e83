//! `proxy-ctl esp flows`: the proxy's translator (legacy host <-> HIT port
//! NAT in front of the ESP SAs): its flows, then its counters.

use std::path::Path;

use clap::Subcommand;

use super::{client, table};
use crate::control::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum EspCmd {
    /// The translator's mappings (substitute -> HITs, locators), its flows
    /// legacy host -> substitute -> HIT (with the NAT port), then its
    /// counters and drops by reason.
    Flows,
}

pub async fn run(socket: &Path, json: bool, cmd: EspCmd) -> anyhow::Result<()> {
    let EspCmd::Flows = cmd;
    let resp = client::call(socket, &Request::EspFlows).await?;
    if json {
        return client::print_json(&resp);
    }
    if let Response::EspFlows { flows, counters, mappings } = resp {
        let rows: Vec<Vec<String>> = mappings
            .iter()
            .map(|m| {
                let locs: Vec<String> = m.locators.iter().map(|l| l.to_string()).collect();
                vec![m.substitute.to_string(), m.peer_hit.to_string(), m.local_hit.to_string(), locs.join(",")]
            })
            .collect();
        table::print(&["SUBSTITUTE", "PEER-HIT", "LOCAL-HIT", "LOCATORS"], &rows);
        println!();
        let rows: Vec<Vec<String>> = flows
            .iter()
            .map(|f| {
                vec![
                    f.protocol.clone(),
                    format!("{}:{}", bracket(f.legacy), f.legacy_port),
                    format!("{}:{}", bracket(f.substitute), f.remote_port),
                    format!("[{}]:{}", f.peer_hit, f.remote_port),
                    f.nat_port.to_string(),
                    f.state.clone(),
                    f.idle_secs.to_string(),
                    format!("{}/{}", f.packets_out, f.bytes_out),
                    format!("{}/{}", f.packets_in, f.bytes_in),
                ]
            })
            .collect();
        table::print(&["PROTO", "LEGACY", "SUBSTITUTE", "PEER-HIT", "NAT-PORT", "STATE", "IDLE", "OUT", "IN"], &rows);
        println!();
        let rows: Vec<Vec<String>> = counters.iter().map(|c| vec![c.name.clone(), c.value.to_string()]).collect();
        table::print(&["COUNTER", "VALUE"], &rows);
    }
    Ok(())
}

fn bracket(a: std::net::IpAddr) -> String {
    if a.is_ipv6() { format!("[{a}]") } else { a.to_string() }
}
