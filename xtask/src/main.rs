//! `cargo xtask`: everything around the build. Each command first installs
//! what is missing (idempotent, quick when all is there).
//!
//!   cargo xtask setup         install prerequisites only
//!   cargo xtask demo          build, then run the demo topology
//!   cargo xtask test          the whole test suite (unit, fuzz smoke, netns integration)
//!   cargo xtask bench NAME    benchmarks against a reference (nat, dns, bex, handover, esp, move)
//!   cargo xtask load ...      load the datapath onto real interfaces (proxy-ctl run)

mod blast;
mod prereq;
mod sh;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the pinned nightly (rust-src), bpf-linker and apt packages.
    Setup,
    /// Build everything and run the demo topology in network namespaces.
    Demo,
    /// Run the whole test suite: unit tests, fuzz smoke runs, integration tests (root).
    Test {
        /// Skip the cargo-fuzz smoke runs.
        #[arg(long)]
        no_fuzz: bool,
        /// Only integration tests whose name contains this.
        filter: Option<String>,
    },
    /// Run a benchmark side by side with its reference (nat, dns, bex, handover, esp, move).
    Bench { name: String },
    /// Benchmark helper: send UDP as fast as possible (run inside a namespace).
    #[command(hide = true)]
    Blast {
        #[arg(long)]
        dst: std::net::SocketAddr,
        #[arg(long, default_value_t = 16)]
        flows: usize,
        #[arg(long, default_value_t = 18)]
        size: usize,
        #[arg(long, default_value_t = 5)]
        secs: u64,
    },
    /// Run the daemon on this machine's interfaces with a config file.
    Load {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = sh::workspace_root();
    std::env::set_current_dir(&root)?;
    match cli.cmd {
        Cmd::Setup => prereq::ensure_all(),
        Cmd::Demo => {
            prereq::ensure_all()?;
            sh::build_release()?;
            sh::run("bash", &["scripts/demo.sh"])
        }
        Cmd::Test { no_fuzz, filter } => {
            prereq::ensure_all()?;
            sh::test_all(no_fuzz, filter.as_deref())
        }
        Cmd::Bench { name } => {
            prereq::ensure_all()?;
            sh::build_release()?;
            let script = format!("scripts/bench-{name}.sh");
            if !root.join(&script).exists() {
                anyhow::bail!("no benchmark {name:?} (known: nat, dns, bex, handover, esp, move)");
            }
            sh::run("bash", &[&script])
        }
        Cmd::Blast { dst, flows, size, secs } => {
            let sent = blast::run(&blast::Blast { dst, flows, size, secs })?;
            println!("{sent}");
            Ok(())
        }
        Cmd::Load { config } => {
            prereq::ensure_all()?;
            sh::build_release()?;
            let c = config.to_string_lossy().into_owned();
            sh::run("target/release/proxy-ctl", &["run", "--config", &c])
        }
    }
}
