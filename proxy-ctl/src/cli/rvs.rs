//! `proxy-ctl rvs list`: rendezvous registrations (RFC 8003, 8004).

use std::path::Path;

use clap::Subcommand;

use super::{client, table};
use crate::control::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum RvsCmd {
    /// List registrations: on an `rvs`, its clients and their current
    /// locators (where relayed I1s go); on a `host`, its own registration.
    List,
}

pub async fn run(socket: &Path, json: bool, cmd: RvsCmd) -> anyhow::Result<()> {
    let req = match cmd {
        RvsCmd::List => Request::RvsList,
    };
    let resp = client::call(socket, &req).await?;
    if json {
        return client::print_json(&resp);
    }
    if let Response::Registrations { registrations } = resp {
        let rows: Vec<Vec<String>> = registrations
            .iter()
            .map(|r| {
                vec![
                    r.hit.to_string(),
                    r.side.clone(),
                    r.locator.map_or("-".into(), |l| l.to_string()),
                    format!("{}s", r.lifetime_secs),
                    format!("{}s", r.remaining_secs),
                ]
            })
            .collect();
        table::print(&["HIT", "SIDE", "LOCATOR", "LIFETIME", "REMAINING"], &rows);
    }
    Ok(())
}
