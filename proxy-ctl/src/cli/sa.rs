//! `proxy-ctl sa add|del|move|list`: the daemon's ESP security associations.

use std::{net::IpAddr, path::Path, path::PathBuf};

use clap::Subcommand;

use super::{client, table};
use crate::{
    control::{Request, Response},
    esp::{Direction, ModeName, SaSpec, table::write_private},
};

/// An SPI in hex ("0x1001") or decimal.
fn parse_spi(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("SPI {s:?}: expected a 32-bit number, hex with 0x or decimal"))
}

#[derive(Debug, Subcommand)]
pub enum SaCmd {
    /// Install one SA direction (static keying; HIP installs its own).
    Add {
        /// SPI, hex (0x...) or decimal; 256 and up.
        #[arg(long, value_parser = parse_spi)]
        spi: u32,
        /// in (we receive on it) or out (we send on it).
        #[arg(long)]
        direction: Direction,
        /// beet (HIP, RFC 7402) or tunnel (the VPN).
        #[arg(long, default_value = "beet")]
        mode: ModeName,
        /// aes128-gcm16 (suite 13), aes128-cbc-hmac-sha256 (8),
        /// aes256-cbc-hmac-sha256 (9), null-hmac-sha256 (7), aes256-gcm16.
        #[arg(long, default_value = "aes128-gcm16")]
        transform: String,
        /// Key in hex: encryption key (GCM salt last) then integrity key.
        #[arg(long, env = "PROXY_CTL_SA_KEY", hide_env_values = true)]
        key: String,
        /// Our outer address.
        #[arg(long)]
        local: IpAddr,
        /// The peer's outer address.
        #[arg(long)]
        peer: IpAddr,
        /// BEET: our HIT (or LSI).
        #[arg(long)]
        inner_local: Option<IpAddr>,
        /// BEET: the peer's HIT (or LSI); tunnel outbound: absent = default SA.
        #[arg(long)]
        inner_peer: Option<IpAddr>,
        /// Inbound tunnel SA: accept from any outer source (counted).
        #[arg(long)]
        wildcard_source: bool,
    },
    /// Remove one SA direction.
    Del {
        #[arg(value_parser = parse_spi)]
        spi: u32,
        #[arg(long)]
        direction: Direction,
    },
    /// Move an SA's outer addresses without rekeying (mobility).
    Move {
        #[arg(value_parser = parse_spi)]
        spi: u32,
        #[arg(long)]
        direction: Direction,
        #[arg(long)]
        local: IpAddr,
        #[arg(long)]
        peer: IpAddr,
    },
    /// List SAs with their counters, then the engine's counters.
    List {
        /// Debugging: write Wireshark `esp_sa` lines (with keys) to FILE
        /// (Wireshark's profile directory, or `tshark -o uat:esp_sa:...`).
        #[arg(long, value_name = "FILE")]
        export_keys: Option<PathBuf>,
    },
}

pub async fn run(socket: &Path, json: bool, cmd: SaCmd) -> anyhow::Result<()> {
    let (req, export) = match cmd {
        SaCmd::Add { spi, direction, mode, transform, key, local, peer, inner_local, inner_peer, wildcard_source } => {
            let sa =
                SaSpec { spi, direction, mode, transform, key, local, peer, inner_local, inner_peer, wildcard_source };
            // Fail here with the field named rather than in the daemon.
            sa.validate().map_err(anyhow::Error::msg)?;
            (Request::SaAdd { sa }, None)
        }
        SaCmd::Del { spi, direction } => (Request::SaDel { spi, direction }, None),
        SaCmd::Move { spi, direction, local, peer } => (Request::SaMove { spi, direction, local, peer }, None),
        SaCmd::List { export_keys } => (Request::SaList { keys: export_keys.is_some() }, export_keys),
    };
    let resp = client::call(socket, &req).await?;
    if let (Some(path), Response::Sas { sas, .. }) = (&export, &resp) {
        let text: String = sas.iter().filter_map(|s| s.esp_sa.as_ref()).map(|l| format!("{l}\n")).collect();
        write_private(path, &text)?;
        eprintln!("wrote {} esp_sa lines to {}", sas.len(), path.display());
    }
    if json {
        // Keys go to the file only, never to stdout.
        let resp = match resp {
            Response::Sas { mut sas, counters } => {
                sas.iter_mut().for_each(|s| s.esp_sa = None);
                Response::Sas { sas, counters }
            }
            other => other,
        };
        return client::print_json(&resp);
    }
    if let Response::Sas { sas, counters } = resp {
        let opt = |a: Option<IpAddr>| a.map_or("-".into(), |a| a.to_string());
        let rows: Vec<Vec<String>> = sas
            .iter()
            .map(|s| {
                vec![
                    format!("{:#010x}", s.spi),
                    s.direction.to_string(),
                    format!("{:?}", s.mode).to_lowercase(),
                    s.transform.clone(),
                    s.local.to_string(),
                    s.peer.to_string(),
                    opt(s.inner_local),
                    opt(s.inner_peer),
                    s.packets.to_string(),
                    s.bytes.to_string(),
                    s.drop_replay.to_string(),
                    s.drop_icv.to_string(),
                    s.drop_other.to_string(),
                    s.origin.clone(),
                ]
            })
            .collect();
        table::print(
            &[
                "SPI",
                "DIR",
                "MODE",
                "TRANSFORM",
                "LOCAL",
                "PEER",
                "INNER-LOCAL",
                "INNER-PEER",
                "PACKETS",
                "BYTES",
                "REPLAY",
                "ICV",
                "OTHER",
                "ORIGIN",
            ],
            &rows,
        );
        println!();
        let rows: Vec<Vec<String>> = counters.iter().map(|c| vec![c.name.clone(), c.value.to_string()]).collect();
        table::print(&["COUNTER", "VALUE"], &rows);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn spi_forms() {
        assert_eq!(super::parse_spi("0x1001"), Ok(0x1001));
        assert_eq!(super::parse_spi("4097"), Ok(4097));
        assert!(super::parse_spi("0x1_0000_0000").is_err());
        assert!(super::parse_spi("spi").is_err());
    }
}
