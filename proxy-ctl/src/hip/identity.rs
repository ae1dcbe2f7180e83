//! Host Identity files: PKCS#8 PEM private keys, written 0600, and the
//! forms a DNS HIP RR (RFC 8005) needs.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::{Context, bail};
use proxy_proto::dns::{HipRdata, PkAlgorithm};
use proxy_proto::hip::assoc::LocalIdentity;
use proxy_proto::hip::crypto::{Hit, HostIdPublic, HostIdentity};

/// Load a private key file (PKCS#8, SEC1 or PKCS#1 PEM).
pub fn load(path: &Path) -> anyhow::Result<HostIdentity> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read identity {}", path.display()))?;
    HostIdentity::from_pem(&text).with_context(|| format!("{}: not a usable private key", path.display()))
}

/// Load a key file for the daemon (HIT suite must be implemented).
pub fn load_local(path: &Path) -> anyhow::Result<LocalIdentity> {
    LocalIdentity::new(load(path)?)
        .with_context(|| format!("{}: cannot be used as a HIP host identity", path.display()))
}

/// Write `id` as PKCS#8 PEM to a new file with mode 0600 (never over an
/// existing file unless `force`).
pub fn save(id: &HostIdentity, path: &Path, force: bool) -> anyhow::Result<()> {
    let pem = id.to_pkcs8_pem().context("encoding the key")?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    // An existing file keeps its mode on truncate: tighten it.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

/// The public key in the DNS format of the HIP RR PK algorithm
/// (RFC 8005 §5): RFC 3110 for RSA, RFC 6605 (X || Y) for ECDSA, RFC
/// 8080 for EdDSA.
pub fn dns_public_key(public: &HostIdPublic) -> (PkAlgorithm, Vec<u8>) {
    match public {
        HostIdPublic::Rsa { .. } => (PkAlgorithm::Rsa, public.to_host_identity()),
        HostIdPublic::Ecdsa { point, .. } => {
            // Uncompressed SEC1 point without its 0x04 octet.
            let xy = point.strip_prefix(&[0x04]).unwrap_or(point);
            (PkAlgorithm::Ecdsa, xy.to_vec())
        }
        HostIdPublic::Ed25519(key) => (PkAlgorithm::EdDsa, key.to_vec()),
    }
}

/// What `identity show` prints.
pub struct Shown {
    pub algorithm: &'static str,
    pub hit: Option<Hit>,
    pub hit_error: Option<String>,
    /// RFC 8005 §6 presentation form (absent when the HIT is).
    pub hip_rr: Option<String>,
    pub pk_algorithm: u8,
    pub public_key_base64: String,
    pub host_id_algorithm: u16,
    /// The HIT Suite ID (RFC 7401 §5.2.10, RFC 9374 §3.2).
    pub hit_suite: Option<u8>,
}

pub fn describe(id: &HostIdentity) -> anyhow::Result<Shown> {
    let public = id.public();
    let algorithm = match &public {
        HostIdPublic::Rsa { modulus, .. } => match modulus.len() * 8 {
            2048 => "rsa2048",
            3072 => "rsa3072",
            4096 => "rsa4096",
            _ => "rsa",
        },
        HostIdPublic::Ecdsa { curve, .. } => match curve {
            proxy_proto::hip::crypto::EcdsaCurve::P256 => "ecdsa-p256",
            proxy_proto::hip::crypto::EcdsaCurve::P384 => "ecdsa-p384",
        },
        HostIdPublic::Ed25519(_) => "ed25519",
    };
    let (pk_alg, key) = dns_public_key(&public);
    let hit_suite = public.hit_suite().ok().map(|s| s.id());
    let (hit, hit_error) = match Hit::from_host_id(&public) {
        Ok(h) => (Some(h), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let hip_rr = hit.map(|h| {
        HipRdata { pk_algorithm: pk_alg, hit: h.0.to_vec(), public_key: key.clone(), rendezvous_servers: vec![] }
            .to_string()
    });
    if key.is_empty() {
        bail!("empty public key");
    }
    Ok(Shown {
        algorithm,
        hit,
        hit_error,
        hip_rr,
        pk_algorithm: pk_alg.into(),
        public_key_base64: data_encoding::BASE64.encode(&key),
        host_id_algorithm: public.algorithm() as u16,
        hit_suite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_proto::hip::crypto::HostIdKind;

    #[test]
    fn hip_rr_round_trips_through_the_dns_parser() {
        let id = HostIdentity::generate(HostIdKind::EcdsaP256).unwrap();
        let s = describe(&id).unwrap();
        let rr: HipRdata = s.hip_rr.as_deref().unwrap().parse().unwrap();
        assert_eq!(rr.hit, s.hit.unwrap().0.to_vec());
        assert_eq!(rr.pk_algorithm, PkAlgorithm::Ecdsa);
        assert_eq!(rr.public_key.len(), 64);
        // Ed25519: HIT suite 5 (RFC 9374), PK algorithm 4 (RFC 9373), 32-octet key.
        let id = HostIdentity::generate(HostIdKind::Ed25519).unwrap();
        let s = describe(&id).unwrap();
        let hit = s.hit.unwrap();
        assert!(s.hit_error.is_none());
        assert_eq!(hit.oga_id(), 5);
        assert_eq!(&hit.0[..4], &[0x20, 0x01, 0x00, 0x25]);
        assert_eq!(s.pk_algorithm, 4);
        let rr: HipRdata = s.hip_rr.as_deref().unwrap().parse().unwrap();
        assert_eq!(rr.hit, hit.0.to_vec());
        assert_eq!(rr.pk_algorithm, PkAlgorithm::EdDsa);
        assert_eq!(rr.public_key, id.public().to_host_identity()[2..].to_vec());
    }

    #[test]
    fn saved_file_is_0600_and_not_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hip-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k.pem");
        let _ = std::fs::remove_file(&p);
        let id = HostIdentity::generate(HostIdKind::EcdsaP384).unwrap();
        save(&id, &p, false).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(save(&id, &p, false).is_err());
        let back = load_local(&p).unwrap();
        assert_eq!(back.hit, Hit::from_host_id(&id.public()).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
