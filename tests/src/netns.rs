//! Network namespaces that clean up after themselves.

use std::{
    os::fd::AsRawFd,
    sync::atomic::{AtomicU32, Ordering},
};

use crate::sh;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `{prefix}{pid}x{n}`, short
/// enough for interface names (15 bytes) when prefix is short.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id() % 100_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(role: &str) -> Netns {
        let name = unique(&format!("hp{role}"));
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns { name }
    }

    /// Run a shell command inside the namespace; panic on failure.
    pub fn sh(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} sh -c '{}'", self.name, cmd.replace('\'', "'\\''")))
    }

    pub fn sh_try(&self, cmd: &str) -> (bool, String, String) {
        crate::sh_try(&format!("ip netns exec {} sh -c '{}'", self.name, cmd.replace('\'', "'\\''")))
    }

    /// A veth pair between `self` (`a`) and `other` (`b`), both up, with
    /// checksum offload off on both ends: veth hands locally generated
    /// packets over with CHECKSUM_PARTIAL, which XDP-redirected frames must
    /// not carry (TOOLCHAIN.md).
    pub fn veth(&self, a: &str, other: &Netns, b: &str) {
        sh(&format!("ip link add {a} netns {} type veth peer name {b} netns {}", self.name, other.name));
        for (ns, dev) in [(self, a), (other, b)] {
            sh(&format!("ip -n {} link set {dev} up", ns.name));
            ns.sh(&format!("ethtool -K {dev} tx off rx off >/dev/null 2>&1 || true"));
        }
    }

    pub fn addr(&self, dev: &str, cidr: &str) {
        let nodad = if cidr.contains(':') { " nodad" } else { "" };
        sh(&format!("ip -n {} addr add {cidr} dev {dev}{nodad}", self.name));
    }

    pub fn route(&self, spec: &str) {
        sh(&format!("ip -n {} route add {spec}", self.name));
    }

    pub fn forwarding(&self) {
        self.sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Run `f` on a thread that has entered namespace `ns` (setns affects only
/// the calling thread), so sockets `f` opens live there.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: a valid namespace fd; CLONE_NEWNET only moves this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}
