//! A local Host Identity, with what every packet we send needs from it.

use crate::hip::crypto::{CryptoError, Hit, HitSuite, HostIdPublic, HostIdentity};
use crate::hip::wire::param::host_id::{DiType, HostId};

/// One of our Host Identities: the key pair, its HIT, its HIT suite and
/// the HOST_ID parameter carrying the public key (§5.2.9).
#[derive(Debug)]
pub struct LocalIdentity {
    /// The private key.
    pub identity: HostIdentity,
    /// The public Host Identity.
    pub public: HostIdPublic,
    /// Our HIT (ORCHIDv2, RFC 7343).
    pub hit: Hit,
    /// The HIT suite (RHASH, HMAC) of our HIT.
    pub suite: HitSuite,
    /// HOST_ID as sent in R1 and I2.
    pub host_id: HostId,
}

impl LocalIdentity {
    /// Wraps a key pair. Fails for identities whose HIT suite is not
    /// implemented.
    pub fn new(identity: HostIdentity) -> Result<Self, CryptoError> {
        let public = identity.public();
        let suite = public.hit_suite()?;
        let hit = Hit::from_host_id(&public)?;
        let host_id = HostId {
            algorithm: public.algorithm() as u16,
            host_identity: public.to_host_identity(),
            di_type: DiType::None,
            domain_identifier: Vec::new(),
        };
        Ok(LocalIdentity { identity, public, hit, suite, host_id })
    }
}
