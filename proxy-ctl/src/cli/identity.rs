//! `proxy-ctl identity new|show`: Host Identity key files (no daemon needed).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use proxy_proto::hip::crypto::{Hit, HostIdKind, HostIdentity};

use crate::hip::identity;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Algo {
    /// RSA 2048 (RFC 7401 HIT suite 1, RSA/SHA-256).
    Rsa,
    /// RSA 3072.
    Rsa3072,
    /// ECDSA P-256 (HIT suite 2, ECDSA/SHA-384).
    P256,
    /// ECDSA P-384 (HIT suite 2).
    P384,
    /// EdDSA Ed25519 (RFC 9374 HIT suite 5, EdDSA/cSHAKE128).
    Ed25519,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// Generate a Host Identity and write its private key (PKCS#8 PEM, mode 0600).
    New {
        #[arg(long, value_enum, default_value = "p256")]
        algo: Algo,
        /// Where to write the key; refuses to overwrite without --force.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Print the HIT and the HIP RR (RFC 8005) of a key file.
    Show {
        file: PathBuf,
        /// Also print the Hierarchical HIT (RFC 9374 DRIP Entity Tag, prefix
        /// 2001:30::/28) under this Registered Assigning Authority (0..=16383;
        /// Ed25519 keys only; needs --hda).
        #[arg(long, requires = "hda", value_parser = clap::value_parser!(u16).range(0..16384))]
        raa: Option<u16>,
        /// The HHIT Domain Authority under --raa (0..=16383).
        #[arg(long, requires = "raa", value_parser = clap::value_parser!(u16).range(0..16384))]
        hda: Option<u16>,
    },
}

fn print(id: &HostIdentity, hid: Option<(u16, u16)>, json: bool) -> anyhow::Result<()> {
    let s = identity::describe(id)?;
    let hhit = match hid {
        Some((raa, hda)) => Some(
            Hit::hhit(&id.public(), raa, hda)
                .map_err(|e| anyhow::anyhow!("--raa/--hda: no Hierarchical HIT for this key: {e}"))?,
        ),
        None => None,
    };
    if json {
        let v = serde_json::json!({
            "algorithm": s.algorithm,
            "hit": s.hit.map(|h| h.to_ipv6().to_string()),
            "hit_hex": s.hit.map(|h| data_encoding::HEXUPPER.encode(&h.0)),
            "hit_error": s.hit_error,
            "hip_rr": s.hip_rr,
            "pk_algorithm": s.pk_algorithm,
            "public_key": s.public_key_base64,
            "host_id_algorithm": s.host_id_algorithm,
            "hit_suite": s.hit_suite,
            "hhit": hhit.map(|h| h.to_ipv6().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("algorithm     {}", s.algorithm);
    match (s.hit, &s.hit_error) {
        (Some(h), _) => {
            println!("HIT           {}", h.to_ipv6());
            println!("HIT (hex)     {}", data_encoding::HEXUPPER.encode(&h.0));
        }
        (None, Some(e)) => println!("HIT           none: {e}"),
        (None, None) => {}
    }
    if let Some(id) = s.hit_suite {
        println!("HIT suite     {id}");
    }
    if let Some(h) = hhit {
        println!("HHIT (DET)    {}", h.to_ipv6());
    }
    println!("PK algorithm  {} (RFC 8005)", s.pk_algorithm);
    println!("public key    {}", s.public_key_base64);
    if let Some(rr) = &s.hip_rr {
        println!("HIP RR        IN HIP ( {rr} )");
    }
    Ok(())
}

pub fn run(json: bool, cmd: IdentityCmd) -> anyhow::Result<()> {
    match cmd {
        IdentityCmd::New { algo, out, force } => {
            let kind = match algo {
                Algo::Rsa => HostIdKind::Rsa2048,
                Algo::Rsa3072 => HostIdKind::Rsa3072,
                Algo::P256 => HostIdKind::EcdsaP256,
                Algo::P384 => HostIdKind::EcdsaP384,
                Algo::Ed25519 => HostIdKind::Ed25519,
            };
            let id = HostIdentity::generate(kind)?;
            identity::save(&id, &out, force)?;
            eprintln!("wrote {} (mode 0600)", out.display());
            print(&id, None, json)
        }
        IdentityCmd::Show { file, raa, hda } => print(&identity::load(&file)?, raa.zip(hda), json),
    }
}
