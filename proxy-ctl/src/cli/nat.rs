//! `proxy-ctl nat list`.

use std::path::Path;

use clap::Subcommand;

use super::{client, table};
use crate::control::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum NatCmd {
    /// List NAT flows: legacy host, substitute, peer, proxy port, state.
    List,
}

fn endpoint(a: std::net::IpAddr, port: u16) -> String {
    if a.is_ipv6() { format!("[{a}]:{port}") } else { format!("{a}:{port}") }
}

pub async fn run(socket: &Path, json: bool, cmd: NatCmd) -> anyhow::Result<()> {
    let NatCmd::List = cmd;
    let resp = client::call(socket, &Request::NatList).await?;
    if json {
        return client::print_json(&resp);
    }
    if let Response::Flows { flows } = resp {
        let rows: Vec<Vec<String>> = flows
            .iter()
            .map(|f| {
                vec![
                    f.proto.clone(),
                    endpoint(f.legacy, f.legacy_port),
                    endpoint(f.substitute, f.port),
                    endpoint(f.peer, f.port),
                    f.nat_port.to_string(),
                    f.state.clone(),
                    format!("{}s", f.idle_secs),
                    format!("{}/{}", f.packets_out, f.packets_in),
                ]
            })
            .collect();
        table::print(&["PROTO", "LEGACY", "SUBSTITUTE", "PEER", "NAT-PORT", "STATE", "IDLE", "PKTS OUT/IN"], &rows);
    }
    Ok(())
}
