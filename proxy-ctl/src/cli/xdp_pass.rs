//! `proxy-ctl xdp-pass IFACE --pin PATH` (hidden; topology helper).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct XdpPassArgs {
    pub iface: String,
    /// bpffs path where the link is pinned; remove the file to detach.
    #[arg(long)]
    pub pin: PathBuf,
}

pub fn run(args: XdpPassArgs) -> anyhow::Result<()> {
    crate::datapath::attach_xdp_pass(&args.iface, &args.pin)?;
    Ok(())
}
