//! `proxy-ctl mapping add|del|list`.

use std::{net::IpAddr, path::Path};

use clap::Subcommand;

use super::{client, table};
use crate::control::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum MappingCmd {
    /// Map a substitute address (from the configured pool) to a peer address.
    Add {
        /// Substitute address legacy hosts send to.
        substitute: IpAddr,
        /// Where that traffic really goes.
        peer: IpAddr,
    },
    /// Remove a mapping and the NAT flows through it.
    Del { substitute: IpAddr },
    /// List mappings with their live flow counts; for substitutes handed
    /// out by DNS also the name, HIT, locators and seconds to expiry.
    List,
}

pub async fn run(socket: &Path, json: bool, cmd: MappingCmd) -> anyhow::Result<()> {
    let req = match cmd {
        MappingCmd::Add { substitute, peer } => Request::MappingAdd { substitute, peer },
        MappingCmd::Del { substitute } => Request::MappingDel { substitute },
        MappingCmd::List => Request::MappingList,
    };
    let resp = client::call(socket, &req).await?;
    if json {
        return client::print_json(&resp);
    }
    if let Response::Mappings { mappings } = resp {
        let rows: Vec<Vec<String>> = mappings
            .iter()
            .map(|m| {
                let mut row = vec![m.substitute.to_string(), m.peer.to_string(), m.flows.to_string()];
                match &m.dns {
                    Some(d) => row.extend([
                        d.name.clone(),
                        d.hit.clone(),
                        d.expires_in_secs.to_string(),
                        match d.locator {
                            Some(l) => format!("{l} (in use); {}", d.locators.join(", ")),
                            None => d.locators.join(", "),
                        },
                    ]),
                    None => row.extend(["-".into(), "-".into(), "-".into(), "-".into()]),
                }
                row
            })
            .collect();
        table::print(&["SUBSTITUTE", "PEER", "FLOWS", "NAME", "HIT", "EXPIRES_IN", "LOCATORS"], &rows);
    }
    Ok(())
}
