//! The command line: `proxy-ctl run` starts the daemon; every other
//! subcommand talks to it over its control socket (one file each).

mod assoc;
mod client;
mod esp;
mod identity;
mod mapping;
mod nat;
mod run;
mod sa;
mod stats;
mod table;
mod vpn;
mod xdp_pass;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_SOCKET;

#[derive(Debug, Parser)]
#[command(name = "proxy-ctl", version, about = "HIP proxy for legacy hosts: daemon and control CLI")]
pub struct Cli {
    /// The daemon's control socket.
    #[arg(long, global = true, env = "PROXY_CTL_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the daemon's answer as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: load the datapath onto the configured interfaces.
    Run(run::RunArgs),
    /// Substitute-address mappings (substitute -> peer).
    #[command(subcommand)]
    Mapping(mapping::MappingCmd),
    /// NAT flows.
    #[command(subcommand)]
    Nat(nat::NatCmd),
    /// Datapath counters and table occupancy.
    Stats,
    /// Mobile VPN: bindings (HA), SA bundles (GW, MN), handover history, counters.
    #[command(subcommand)]
    Vpn(vpn::VpnCmd),
    /// HIP host identities (key files): generate, show HIT and HIP RR.
    #[command(subcommand)]
    Identity(identity::IdentityCmd),
    /// HIP associations: connect, close, list, counters.
    #[command(subcommand)]
    Assoc(assoc::AssocCmd),
    /// ESP security associations: add, remove, move, list, export keys.
    #[command(subcommand)]
    Sa(sa::SaCmd),
    /// The proxy's ESP path: translator flows (legacy host <-> HIT) and counters.
    #[command(subcommand)]
    Esp(esp::EspCmd),
    /// Attach a pass-only XDP program to an interface and pin its link
    /// (for veth peers that receive XDP-redirected frames).
    #[command(hide = true)]
    XdpPass(xdp_pass::XdpPassArgs),
}

pub async fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Mapping(cmd) => mapping::run(&cli.socket, cli.json, cmd).await,
        Command::Nat(cmd) => nat::run(&cli.socket, cli.json, cmd).await,
        Command::Stats => stats::run(&cli.socket, cli.json).await,
        Command::Vpn(cmd) => vpn::run(&cli.socket, cli.json, cmd).await,
        Command::Identity(cmd) => identity::run(cli.json, cmd),
        Command::Assoc(cmd) => assoc::run(&cli.socket, cli.json, cmd).await,
        Command::Sa(cmd) => sa::run(&cli.socket, cli.json, cmd).await,
        Command::Esp(cmd) => esp::run(&cli.socket, cli.json, cmd).await,
        Command::XdpPass(args) => xdp_pass::run(args),
    }
}
