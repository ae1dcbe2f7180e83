//! Background processes started inside a namespace (servers, captures),
//! killed and reaped on drop, which also runs when a test panics.

use std::process::{Child, Command, Stdio};

use crate::Netns;

/// A process running in a namespace; dropping it stops it with `signal`
/// and waits for it.
pub struct Background {
    child: Child,
    signal: i32,
}

impl Background {
    /// Run `cmd` (a shell command line) in `ns`, output discarded. Dropping
    /// it sends SIGKILL.
    pub fn spawn(ns: &Netns, cmd: &str) -> Background {
        Self::spawn_with_signal(ns, cmd, libc::SIGKILL)
    }

    /// Like [`Background::spawn`], but stopped with SIGINT, which lets
    /// dumpcap/tshark finish writing their capture file.
    pub fn capture(ns: &Netns, cmd: &str) -> Background {
        Self::spawn_with_signal(ns, cmd, libc::SIGINT)
    }

    fn spawn_with_signal(ns: &Netns, cmd: &str, signal: i32) -> Background {
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "sh", "-c", &format!("exec {cmd}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning `{cmd}` in {}: {e}", ns.name));
        Background { child, signal }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.signal == libc::SIGINT {
            // dumpcap receives through a TPACKET_V3 ring that hands packets
            // over a block at a time, a block retired on a timeout of about
            // 250 ms: give the last block time to reach the file, since
            // dumpcap does not drain it when it stops.
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
        // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, self.signal) };
        let _ = self.child.wait();
    }
}
