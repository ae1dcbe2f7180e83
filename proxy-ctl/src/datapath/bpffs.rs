//! bpffs: maps are pinned there so they outlive the daemon. It is not
//! always mounted at boot (DESIGN.md), so the daemon mounts it if needed.

use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

/// statfs(2) f_type of bpffs (include/uapi/linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a valid out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

fn mount_bpffs(at: &Path) -> io::Result<()> {
    let target = CString::new(at.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let fstype = CString::new("bpf").expect("static");
    // SAFETY: all pointers are valid NUL-terminated strings; data is null.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make sure `dir` exists on a bpffs: mount one at /sys/fs/bpf when `dir`
/// is below it, or at `dir` itself otherwise.
pub fn ensure_bpffs(dir: &Path) -> io::Result<()> {
    let sys = Path::new("/sys/fs/bpf");
    if dir.starts_with(sys) && sys.exists() && !is_bpffs(sys)? {
        mount_bpffs(sys)?;
    }
    std::fs::create_dir_all(dir)?;
    if !is_bpffs(dir)? {
        mount_bpffs(dir)?;
    }
    Ok(())
}
