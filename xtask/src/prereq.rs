//! Prerequisites, installed when missing (../shared/TOOLCHAIN.md has the
//! recipe and why each version is pinned). Quick when all is present.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::sh;

pub const NIGHTLY: &str = "nightly-2026-05-20";
const BPF_LINKER: &str = "0.13.0";
const LLVM_LIB: &str = "libLLVM.so.22.1-rust-1.97.0-nightly";

/// Debian packages the demo, tests and benchmarks use.
const APT: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("curl", "curl"),
    ("python3", "python3"),
    ("ethtool", "ethtool"),
    ("tshark", "tshark"),
    ("nft", "nftables"),
    ("socat", "socat"),
    ("iperf3", "iperf3"),
    ("dnsmasq", "dnsmasq"),
    ("kdig", "knot-dnsutils"),
    ("dnsperf", "dnsperf"),
];

pub fn ensure_all() -> Result<()> {
    ensure_nightly()?;
    ensure_bpf_linker()?;
    ensure_apt()?;
    Ok(())
}

fn home_bin(name: &str) -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cargo"));
    home.join("bin").join(name)
}

fn ensure_nightly() -> Result<()> {
    let has = sh::output("rustup", &["toolchain", "list"]).unwrap_or_default().lines().any(|l| l.starts_with(NIGHTLY));
    let installed = if has {
        sh::output("rustup", &["component", "list", "--installed", "--toolchain", NIGHTLY]).unwrap_or_default()
    } else {
        String::new()
    };
    // rust-src for build-std=core; clippy to lint the eBPF crate.
    let complete = ["rust-src", "clippy"].iter().all(|c| installed.lines().any(|l| l.starts_with(c)));
    if !complete {
        sh::run(
            "rustup",
            &[
                "toolchain",
                "install",
                NIGHTLY,
                "--profile",
                "minimal",
                "--component",
                "rust-src",
                "--component",
                "clippy",
            ],
        )?;
    }
    Ok(())
}

fn ensure_bpf_linker() -> Result<()> {
    let bin = home_bin("bpf-linker");
    if bin.exists() && sh::output(&bin.to_string_lossy(), &["--version"]).is_ok_and(|v| v.contains(BPF_LINKER)) {
        return Ok(());
    }
    // Build it against the pinned nightly's own libLLVM: no system LLVM needed.
    let sysroot = sh::output("rustc", &[&format!("+{NIGHTLY}"), "--print", "sysroot"])?;
    let llvm = PathBuf::from(sysroot.trim()).join("lib").join(LLVM_LIB);
    if !llvm.exists() {
        bail!("{} not found: the pinned nightly's LLVM moved; see TOOLCHAIN.md", llvm.display());
    }
    let prefix = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/proxy-llvm");
    let lib = prefix.join("lib");
    std::fs::create_dir_all(&lib)?;
    for name in ["libLLVM.so", LLVM_LIB] {
        let link = lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&llvm, &link).with_context(|| format!("symlink {}", link.display()))?;
    }
    sh::run_env(
        "cargo",
        &["install", &format!("bpf-linker@{BPF_LINKER}"), "--no-default-features", "--features", "llvm-22"],
        &[("LLVM_PREFIX", &prefix.to_string_lossy())],
    )
}

fn ensure_apt() -> Result<()> {
    let missing: Vec<&str> =
        APT.iter().filter(|(bin, _)| !sh::ok("sh", &["-c", &format!("command -v {bin}")])).map(|(_, p)| *p).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    sh::run("apt-get", &["update", "-q"])?;
    let st = Command::new("apt-get").args(&args).env("DEBIAN_FRONTEND", "noninteractive").status()?;
    if !st.success() {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    if home_bin("cargo-fuzz").exists() {
        return Ok(());
    }
    sh::run("cargo", &["install", "cargo-fuzz", "--locked"])
}

/// Every fuzz target of proxy-proto for a few seconds: parsers must not panic.
pub fn fuzz_smoke() -> Result<()> {
    ensure_cargo_fuzz()?;
    let dir = sh::workspace_root().join("proxy-proto/fuzz");
    let list = Command::new("cargo").args([&format!("+{NIGHTLY}"), "fuzz", "list"]).current_dir(&dir).output()?;
    let targets = String::from_utf8_lossy(&list.stdout).into_owned();
    let secs = std::env::var("FUZZ_SECS").unwrap_or_else(|_| "10".into());
    for t in targets.lines().map(str::trim).filter(|t| !t.is_empty()) {
        eprintln!("+ fuzz {t} for {secs}s");
        let st = Command::new("cargo")
            .args([&format!("+{NIGHTLY}"), "fuzz", "run", t, "--", &format!("-max_total_time={secs}")])
            .current_dir(&dir)
            .status()?;
        if !st.success() {
            bail!("fuzz target {t} found a crash (see proxy-proto/fuzz/artifacts/{t})");
        }
    }
    Ok(())
}
