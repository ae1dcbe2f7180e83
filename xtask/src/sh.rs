//! Running commands, with the failing command named in the error.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

pub fn run(cmd: &str, args: &[&str]) -> Result<()> {
    run_env(cmd, args, &[])
}

pub fn run_env(cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("+ {env_text}{cmd} {}", args.join(" "));
    let st = Command::new(cmd)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("cannot start {cmd}"))?;
    if !st.success() {
        bail!("`{cmd} {}` failed: {st}", args.join(" "));
    }
    Ok(())
}

pub fn ok(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

pub fn output(cmd: &str, args: &[&str]) -> Result<String> {
    let o = Command::new(cmd).args(args).output().with_context(|| format!("cannot start {cmd}"))?;
    if !o.status.success() {
        bail!("`{cmd} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn build_release() -> Result<()> {
    run("cargo", &["build", "--release", "-p", "proxy-ctl"])
}

/// The README's test command runs this: every layer, failing on the first
/// failing layer.
pub fn test_all(no_fuzz: bool, filter: Option<&str>) -> Result<()> {
    // proxy-ebpf only builds for BPF (step 2 lints it on its own target);
    // the integration tests need the daemon built first (step 4).
    let host = ["--workspace", "--exclude", "proxy-ebpf", "--exclude", "integration-tests"];
    // 1. Unit and known-answer tests (no root needed). Release, so the
    //    eBPF object built for them is the one the integration tests use.
    run("cargo", &[&["test", "--release"][..], &host].concat())?;
    // 2. Lints that are errors: host crates, then the eBPF crate.
    let lint = [
        &["clippy", "--release", "--all-targets", "--workspace", "--exclude", "proxy-ebpf"][..],
        &["--", "-D", "warnings"],
    ];
    run("cargo", &lint.concat())?;
    let nightly = format!("+{}", crate::prereq::NIGHTLY);
    run(
        "cargo",
        &[
            &nightly,
            "clippy",
            "--release",
            "-p",
            "proxy-ebpf",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // 3. Fuzz smoke: every target briefly.
    if !no_fuzz {
        crate::prereq::fuzz_smoke()?;
    }
    // 4. Integration tests in network namespaces (root).
    build_release()?;
    let bin = workspace_root().join("target/release/proxy-ctl");
    let bin = bin.to_string_lossy();
    let mut args = vec!["test", "--release", "-p", "integration-tests", "--", "--test-threads=2"];
    if let Some(f) = filter {
        args.push(f);
    }
    run_env("cargo", &args, &[("PROXY_CTL", &bin)])
}
