//! The HIP RR presentation format (RFC 8005 §6), used by the static host
//! table in the configuration:
//!
//! `pk-algorithm base16-HIT base64-public-key [rendezvous-server ...]`
//!
//! Optional zone-file parentheses are accepted. Per §6 the HIT and the key
//! contain no whitespace. The configuration has no `$ORIGIN`, so
//! rendezvous server names are taken as absolute with or without the
//! trailing dot.

use core::fmt;
use core::str::FromStr;

use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::Name;

use super::hip_rr::{HipRdata, HipRdataError, PkAlgorithm};

/// Why a presentation-format HIP RR was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HipTextError {
    /// A mandatory field is absent.
    #[error("HIP RR text lacks the {0} field")]
    MissingField(&'static str),
    /// The PK algorithm is not a decimal 8-bit number.
    #[error("HIP RR PK algorithm is not a number 0-255")]
    BadAlgorithm,
    /// The HIT is not base16.
    #[error("HIP RR HIT is not base16")]
    BadHit,
    /// The public key is not base64.
    #[error("HIP RR public key is not base64")]
    BadPublicKey,
    /// A rendezvous server is not a domain name.
    #[error("HIP RR rendezvous server {0:?} is not a domain name")]
    BadName(String),
    /// The decoded fields break a wire-format rule.
    #[error(transparent)]
    Rdata(#[from] HipRdataError),
}

impl FromStr for HipRdata {
    type Err = HipTextError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut tokens = text.split_whitespace().filter(|token| *token != "(" && *token != ")");
        let algorithm = tokens.next().ok_or(HipTextError::MissingField("PK algorithm"))?;
        let pk_algorithm = PkAlgorithm::from(algorithm.parse::<u8>().map_err(|_| HipTextError::BadAlgorithm)?);
        let hit = tokens.next().ok_or(HipTextError::MissingField("HIT"))?;
        let hit = HEXUPPER_PERMISSIVE.decode(hit.as_bytes()).map_err(|_| HipTextError::BadHit)?;
        let key = tokens.next().ok_or(HipTextError::MissingField("public key"))?;
        let public_key = BASE64.decode(key.as_bytes()).map_err(|_| HipTextError::BadPublicKey)?;
        let rendezvous_servers = tokens
            .map(|token| {
                let mut name = Name::from_ascii(token).map_err(|_| HipTextError::BadName(token.into()))?;
                name.set_fqdn(true);
                if name.is_root() {
                    return Err(HipTextError::BadName(token.into()));
                }
                Ok(name)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rdata = HipRdata { pk_algorithm, hit, public_key, rendezvous_servers };
        // Reject what the wire format would reject, so that a configured
        // host is always emittable.
        HipRdata::from_bytes(&rdata.to_bytes()?)?;
        Ok(rdata)
    }
}

impl fmt::Display for HipRdata {
    /// Presentation format of RFC 8005 §6 on one line, HIT in upper case
    /// as in the RFC's examples.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            u8::from(self.pk_algorithm),
            data_encoding::HEXUPPER.encode(&self.hit),
            BASE64.encode(&self.public_key)
        )?;
        for name in &self.rendezvous_servers {
            // Host-name labels (checked by the parsers) need no escapes.
            f.write_str(" ")?;
            for label in name.iter() {
                write!(f, "{}.", String::from_utf8_lossy(label))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8005_KEY: &str = "AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

    #[test]
    fn rfc8005_section6_example_matches_dnspython_wire() {
        let text = format!("2 200100107B1A74DF365639CC39F1D578 {RFC8005_KEY} rvs.example.com.");
        let rr: HipRdata = text.parse().unwrap();
        assert_eq!(hex::encode(rr.to_bytes().unwrap()), super::super::hip_rr::tests::RFC8005_RVS_HEX);
        assert_eq!(rr.to_string(), text);
    }

    #[test]
    fn accepts_parentheses_lowercase_hit_and_relative_names() {
        let text =
            format!("( 2 200100107b1a74df365639cc39f1d578\n {RFC8005_KEY}\n rvs1.example.com rvs2.example.com. )");
        let rr: HipRdata = text.parse().unwrap();
        assert_eq!(hex::encode(rr.to_bytes().unwrap()), super::super::hip_rr::tests::RFC8005_TWO_RVS_HEX);
        assert_eq!(
            rr.to_string(),
            format!("2 200100107B1A74DF365639CC39F1D578 {RFC8005_KEY} rvs1.example.com. rvs2.example.com.")
        );
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!("".parse::<HipRdata>(), Err(HipTextError::MissingField("PK algorithm")));
        assert_eq!("2".parse::<HipRdata>(), Err(HipTextError::MissingField("HIT")));
        assert_eq!("2 2001".parse::<HipRdata>(), Err(HipTextError::MissingField("public key")));
        assert_eq!("256 2001 AwEA".parse::<HipRdata>(), Err(HipTextError::BadAlgorithm));
        assert_eq!("2 20G1 AwEA".parse::<HipRdata>(), Err(HipTextError::BadHit));
        assert_eq!("2 200 AwEA".parse::<HipRdata>(), Err(HipTextError::BadHit));
        assert_eq!("2 2001 AwE".parse::<HipRdata>(), Err(HipTextError::BadPublicKey));
        assert_eq!("0 2001 AwEA".parse::<HipRdata>(), Err(HipTextError::Rdata(HipRdataError::NoKeyAlgorithm)));
        assert_eq!("2 2001 AwEA a..b".parse::<HipRdata>(), Err(HipTextError::BadName("a..b".into())));
        assert_eq!("2 2001 AwEA .".parse::<HipRdata>(), Err(HipTextError::BadName(".".into())));
    }
}
