//! `proxy-ctl run --config FILE`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML configuration (see README "Configuration").
    #[arg(long, short)]
    pub config: PathBuf,
    /// Forget pinned mappings and NAT flows before starting.
    #[arg(long)]
    pub reset_state: bool,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::daemon::run(crate::daemon::Options { config: &args.config, reset_state: args.reset_state }).await
}
