//! `proxy-ctl assoc connect|close|rekey|list|stats`: HIP associations.

use std::{
    net::{IpAddr, Ipv6Addr},
    path::Path,
};

use clap::Subcommand;

use super::{client, table};
use crate::control::{AssocEntry, Request, Response};

#[derive(Debug, Subcommand)]
pub enum AssocCmd {
    /// Run a base exchange with a peer and wait until it is ESTABLISHED.
    Connect {
        /// The peer's HIT.
        hit: Ipv6Addr,
        /// The peer's locator(s); default: its [[hip.peer]] entry.
        #[arg(long = "locator")]
        locators: Vec<IpAddr>,
    },
    /// Close an association (CLOSE / CLOSE_ACK).
    Close { hit: Ipv6Addr },
    /// New SPIs and ESP keys for an association, by UPDATE (RFC 7402 §6.8)
    /// with a new Diffie-Hellman.
    Rekey {
        hit: Ipv6Addr,
        /// Draw the new keys from the current KEYMAT instead (no new DH;
        /// a new DH all the same once the KEYMAT is used up).
        #[arg(long)]
        keymat: bool,
    },
    /// List associations: peer, locators, state, SPIs, ESP transform, age.
    List,
    /// HIP packet counters and rejected packets by reason.
    Stats,
}

fn row(a: &AssocEntry) -> Vec<String> {
    vec![
        a.peer_hit.to_string(),
        a.peer_locator.to_string(),
        a.state.clone(),
        if a.initiator { "I" } else { "R" }.into(),
        format!("{:#010x}", a.spi_in),
        format!("{:#010x}", a.spi_out),
        a.esp_transform.map_or("-".into(), |t| format!("{t} {}", a.esp_transform_name.clone().unwrap_or_default())),
        format!("{}s", a.age_secs),
    ]
}

const HEADER: [&str; 8] = ["PEER HIT", "PEER LOCATOR", "STATE", "ROLE", "SPI IN", "SPI OUT", "ESP", "AGE"];

pub async fn run(socket: &Path, json: bool, cmd: AssocCmd) -> anyhow::Result<()> {
    let req = match cmd {
        AssocCmd::Connect { hit, locators } => Request::AssocConnect { hit, locators },
        AssocCmd::Close { hit } => Request::AssocClose { hit },
        AssocCmd::Rekey { hit, keymat } => Request::AssocRekey { hit, keymat },
        AssocCmd::List => Request::AssocList,
        AssocCmd::Stats => Request::HipStats,
    };
    let resp = client::call(socket, &req).await?;
    if json {
        return client::print_json(&resp);
    }
    match resp {
        Response::Assoc { assoc } => table::print(&HEADER, &[row(&assoc)]),
        Response::Assocs { assocs } => table::print(&HEADER, &assocs.iter().map(row).collect::<Vec<_>>()),
        Response::HipStats { local_hits, r1, counters } => {
            for h in local_hits {
                println!("local HIT {h}");
            }
            for r in r1 {
                println!(
                    "R1 generation {} puzzle K {} ({})",
                    r.r1_counter.map_or("-".into(), |c| c.to_string()),
                    r.puzzle_k.map_or("-".into(), |k| k.to_string()),
                    r.hit
                );
            }
            let rows: Vec<Vec<String>> = counters.iter().map(|c| vec![c.name.clone(), c.value.to_string()]).collect();
            table::print(&["COUNTER", "VALUE"], &rows);
        }
        _ => {}
    }
    Ok(())
}
