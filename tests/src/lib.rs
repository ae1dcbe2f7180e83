//! Test harness: network namespaces, veth links, the real daemon, and
//! sockets opened from inside a namespace.
//!
//! Everything a test creates has a unique name (prefix + pid + counter) so
//! tests run in parallel, and is removed on drop, which also runs when a
//! test panics.

mod background;
mod dnsmasq;
mod http;
mod lan;
mod netns;
mod proxy;
pub mod sockets;
mod xdp_fixture;

pub use background::Background;
pub use dnsmasq::Dnsmasq;
pub use http::http_blob_server;
pub use lan::{FAR_V4, FAR_V6, LegacyLan, PROXY_LAN_V4, PROXY_LAN_V6, PROXY_WAN_V4, PROXY_WAN_V6};
pub use netns::{Netns, in_netns, unique};
pub use proxy::{Proxy, ProxyConfig, identity, identity_of, proxy_ctl_bin};
pub use xdp_fixture::XdpFixture;

/// Run a command; panic with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command and return (success, stdout, stderr) without panicking.
pub fn sh_try(cmd: &str) -> (bool, String, String) {
    let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Poll `f` every 50 ms until it returns true or `secs` pass.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}
