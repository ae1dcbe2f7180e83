//! `proxy-ctl stats`.

use std::path::Path;

use super::{client, table};
use crate::control::{Request, Response};

pub async fn run(socket: &Path, json: bool) -> anyhow::Result<()> {
    let resp = client::call(socket, &Request::Stats).await?;
    if json {
        return client::print_json(&resp);
    }
    if let Response::Stats { counters, mappings, mappings_max, flows, flows_max, dns } = resp {
        println!("mappings {mappings}/{mappings_max}  nat flows {flows}/{flows_max}");
        let rows: Vec<Vec<String>> =
            counters.iter().chain(&dns).map(|c| vec![c.name.clone(), c.value.to_string()]).collect();
        table::print(&["COUNTER", "VALUE"], &rows);
    }
    Ok(())
}
