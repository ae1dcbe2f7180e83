//! `xdp_proxy` loaded but not attached, for BPF_PROG_TEST_RUN tables
//! (frames in, verdict and rewritten frame out, no interface needed).

use std::path::{Path, PathBuf};

use proxy_common::counters::Counter;
use proxy_ctl::{config::Config, datapath::Datapath};

use crate::{sh, unique};

/// The datapath's maps pinned on a private bpffs mount, unmounted and
/// removed on drop (also when the test panics).
pub struct XdpFixture {
    // Field order is drop order: the datapath, then its bpffs mount.
    pub dp: Datapath,
    _mount: BpfMount,
}

impl XdpFixture {
    /// Load `xdp_proxy` with `lo` as LAN and WAN and `sections` (the
    /// `[nat]`/`[pool]` TOML the table needs) after the `[datapath]` one.
    pub fn load(prefix: &str, sections: &str) -> XdpFixture {
        let bpffs = Path::new("/tmp").join(unique(prefix)).join("bpf");
        std::fs::create_dir_all(&bpffs).unwrap();
        sh(&format!("mount -t bpf bpf {}", bpffs.display()));
        // Unmounted even if the load below panics.
        let mount = BpfMount(bpffs);
        let cfg = Config::parse(
            &format!(
                "[datapath]\nlan = \"lo\"\nwan = \"lo\"\npin_dir = \"{}\"\nredirect = false\nmanage_sysctls = false\n\
                 {sections}",
                mount.0.join("proxy").display()
            ),
            Path::new("fixture"),
        )
        .unwrap();
        let dp = Datapath::load_unattached(&cfg).expect("load xdp_proxy (root, BPF)");
        XdpFixture { dp, _mount: mount }
    }

    /// The datapath's global counter `c` (summed over CPUs).
    pub fn counter(&self, c: Counter) -> u64 {
        self.dp.counters().unwrap().into_iter().find(|(k, _)| *k == c).unwrap().1
    }
}

struct BpfMount(PathBuf);

impl Drop for BpfMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}
