//! An HTTP server with a random blob, for transfers whose bytes a test
//! compares end to end.

use std::path::Path;

use crate::{Background, Netns, sh, wait_until};

/// An HTTP server in `ns` on `[hit]:8080` serving `mb` MiB of random bytes
/// as `/blob` from `dir/www`; returns it and the file's sha256. It is
/// checked from the server's own namespace (local delivery, no HIP yet).
pub fn http_blob_server(ns: &Netns, dir: &Path, hit: &str, mb: usize) -> (Background, String) {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    sh(&format!("head -c {mb}M /dev/urandom > {}/blob", www.display()));
    let sum = sh(&format!("sha256sum {}/blob", www.display())).split_whitespace().next().unwrap().to_string();
    let srv = Background::spawn(ns, &format!("python3 -m http.server --bind {hit} --directory {} 8080", www.display()));
    assert!(
        wait_until(10, || ns.sh_try(&format!("curl -sf -o /dev/null -g http://[{hit}]:8080/")).0),
        "HTTP server did not come up"
    );
    (srv, sum)
}
