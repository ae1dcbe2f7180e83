//! The real daemon (`proxy-ctl run`) in a namespace, with its own bpffs.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use crate::{Netns, sh, unique, wait_until};

pub struct ProxyConfig {
    pub lan: String,
    pub wan: String,
    pub wan_v4: String,
    pub wan_v6: String,
    pub pool_v4: String,
    pub pool_v6: String,
    pub redirect: bool,
    /// Idle timeout of UDP flows, seconds.
    pub udp_secs: u64,
    pub extra: String,
}

/// A running daemon plus its private state directory: a bpffs mounted for
/// its pinned maps, its config, log and control socket.
pub struct Proxy {
    pub ns: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    bpffs: PathBuf,
}

pub fn proxy_ctl_bin() -> String {
    std::env::var("PROXY_CTL").unwrap_or_else(|_| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join("target/release/proxy-ctl").to_string_lossy().into_owned()
    })
}

impl Proxy {
    pub fn start(ns: &Netns, c: &ProxyConfig) -> Proxy {
        let dir = PathBuf::from("/tmp").join(unique("hp-test-"));
        std::fs::create_dir_all(&dir).unwrap();
        let bpffs = dir.join("bpf");
        std::fs::create_dir_all(&bpffs).unwrap();
        sh(&format!("mount -t bpf bpf {}", bpffs.display()));
        let socket = dir.join("proxy.sock");
        let config = dir.join("proxy.toml");
        let text = format!(
            r#"[datapath]
lan = "{lan}"
wan = "{wan}"
pin_dir = "{pin}"
redirect = {redirect}

[nat]
wan_v4 = "{wan_v4}"
wan_v6 = "{wan_v6}"
port_min = 61000
port_max = 65535
tcp_established_secs = 7440
tcp_transitory_secs = 240
tcp_closed_secs = 10
udp_secs = {udp_secs}
icmp_secs = 60
gc_interval_secs = 1

[pool]
v4 = "{pool_v4}"
v6 = "{pool_v6}"

[control]
socket = "{socket}"
{extra}
"#,
            lan = c.lan,
            wan = c.wan,
            pin = bpffs.join("proxy").display(),
            redirect = c.redirect,
            wan_v4 = c.wan_v4,
            wan_v6 = c.wan_v6,
            pool_v4 = c.pool_v4,
            pool_v6 = c.pool_v6,
            socket = socket.display(),
            udp_secs = c.udp_secs,
            extra = c.extra,
        );
        std::fs::write(&config, text).unwrap();
        let mut p = Proxy { ns: ns.name.clone(), dir, config, socket, child: None, bpffs };
        p.spawn(false);
        p
    }

    /// A daemon with a config the caller writes (roles without the XDP
    /// datapath, e.g. `host`): `body` gets a `[control]` section with the
    /// daemon's socket appended.
    pub fn start_config(ns: &Netns, body: &str) -> Proxy {
        let dir = PathBuf::from("/tmp").join(unique("hp-test-"));
        let bpffs = dir.join("bpf");
        std::fs::create_dir_all(&bpffs).unwrap();
        sh(&format!("mount -t bpf bpf {}", bpffs.display()));
        let socket = dir.join("proxy.sock");
        let config = dir.join("proxy.toml");
        std::fs::write(&config, format!("{body}\n[control]\nsocket = \"{}\"\n", socket.display())).unwrap();
        let mut p = Proxy { ns: ns.name.clone(), dir, config, socket, child: None, bpffs };
        p.spawn(false);
        p
    }

    /// Start (or restart) the daemon and wait for its control socket.
    pub fn spawn(&mut self, reset: bool) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("daemon.log")).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, &proxy_ctl_bin(), "run", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if reset {
            cmd.arg("--reset-state");
        }
        self.child = Some(cmd.spawn().expect("spawn proxy-ctl run"));
        let sock = self.socket.clone();
        let up = wait_until(20, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
        assert!(up, "daemon did not come up; log:\n{}", self.log());
    }

    /// The daemon's pid (`ip netns exec` execs it), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Stop the daemon with SIGTERM and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// `proxy-ctl --socket S ARGS`: (success, stdout, stderr).
    pub fn ctl(&self, args: &str) -> (bool, String, String) {
        crate::sh_try(&format!("{} --socket {} {args}", proxy_ctl_bin(), self.socket.display()))
    }

    /// `proxy-ctl ... --json`, parsed; panics if the command fails.
    pub fn ctl_json(&self, args: &str) -> serde_json::Value {
        let (ok, out, err) = self.ctl(&format!("--json {args}"));
        assert!(ok, "proxy-ctl {args} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from proxy-ctl {args}: {e}\n{out}"))
    }

    /// The value of one datapath counter.
    pub fn counter(&self, name: &str) -> u64 {
        self.counter_of("stats", name)
    }

    /// The value of the counter `name` in the `counters` list that
    /// `proxy-ctl --json <command>` prints (`stats`, `sa list`, `assoc
    /// stats`, `vpn stats`, `esp flows`).
    pub fn counter_of(&self, command: &str, name: &str) -> u64 {
        let [v] = self.counters_of(command, [name]);
        v
    }

    /// Several counters of one `proxy-ctl --json <command>`: one snapshot.
    /// Two [`Proxy::counter_of`] calls while traffic flows see different
    /// moments (a packet that arrives between them is in one, not the
    /// other), so compare counters taken together.
    pub fn counters_of<const N: usize>(&self, command: &str, names: [&str; N]) -> [u64; N] {
        let v = self.ctl_json(command);
        let list = v["counters"].as_array().unwrap_or_else(|| panic!("`{command}` shows no counters: {v}"));
        names.map(|name| {
            list.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("`{command}` has no counter {name}: {v}"))
                ["value"]
                .as_u64()
                .unwrap()
        })
    }

    /// Pin an `xdp_pass` program on a veth end in namespace `ns` (needed
    /// for frames XDP-redirected into its peer), pinned in our bpffs.
    pub fn xdp_pass(&self, ns: &Netns, dev: &str) {
        let pin = self.bpffs.join(format!("pass-{}-{dev}", ns.name));
        sh(&format!("ip netns exec {} {} xdp-pass {dev} --pin {}", ns.name, proxy_ctl_bin(), pin.display()));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- daemon log ({}) ---\n{}", self.dir.display(), self.log());
        }
        let _ = Command::new("umount").arg("-l").arg(&self.bpffs).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new host identity `dir/NAME.pem` of algorithm `algo` (`proxy-ctl
/// identity new`): the key file and what the command shows (hit, hip_rr, ...).
pub fn identity_of(dir: &std::path::Path, name: &str, algo: &str) -> (std::path::PathBuf, serde_json::Value) {
    let key = dir.join(format!("{name}.pem"));
    let shown = crate::sh(&format!("{} --json identity new --algo {algo} --out {}", proxy_ctl_bin(), key.display()));
    (key, serde_json::from_str(&shown).expect("identity new --json"))
}

/// A new ECDSA P-256 host identity `dir/NAME.pem`: (key file, HIT).
pub fn identity(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let (key, shown) = identity_of(dir, name, "p256");
    (key, shown["hit"].as_str().expect("hit").to_owned())
}
