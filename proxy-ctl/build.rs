//! Builds the eBPF object (proxy-ebpf) with the pinned nightly so that a
//! plain `cargo build` produces a daemon with its datapath embedded.
//! `PROXY_EBPF_TOOLCHAIN` overrides the toolchain (../shared/TOOLCHAIN.md
//! explains the pin: a newer nightly needs a newer bpf-linker).

use aya_build::{Package, Toolchain};

const DEFAULT_TOOLCHAIN: &str = "nightly-2026-05-20";

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=PROXY_EBPF_TOOLCHAIN");
    let toolchain = std::env::var("PROXY_EBPF_TOOLCHAIN").unwrap_or_else(|_| DEFAULT_TOOLCHAIN.to_owned());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../proxy-ebpf");
    aya_build::build_ebpf(
        [Package { name: "proxy-ebpf", root_dir: root, ..Default::default() }],
        Toolchain::Custom(&toolchain),
    )
}
