//! Rendezvous parameters (RFC 8004 §4.2): FROM, RVS_HMAC and VIA_RVS.
//! Their types sort after the signatures, so a rendezvous server can add
//! them to a signed I1 / R1 without breaking the signature.

use core::net::Ipv6Addr;

use super::{ParamRepr, exact, opaque_param};
use crate::hip::wire::Error;

/// FROM (65498), named so it does not shadow `core::convert::From`: the Initiator's address, added by the rendezvous server
/// that relays an I1 (RFC 8004 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RvsFrom {
    /// The address (IPv4 as IPv4-mapped IPv6).
    pub address: Ipv6Addr,
}

impl ParamRepr for RvsFrom {
    const TYPE: u16 = 65498;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(RvsFrom { address: exact::<16>(Self::TYPE, c)?.into() })
    }

    fn contents_len(&self) -> usize {
        16
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.address.octets());
    }
}

opaque_param!(
    /// RVS_HMAC (65500): HMAC with the key shared between rendezvous server
    /// and Responder, over the relayed packet up to this parameter
    /// (RFC 8004 §4.2.1).
    RvsHmac,
    65500,
    hmac
);

/// VIA_RVS (65502): the rendezvous servers an I1 went through, added by
/// the Responder to its R1 (RFC 8004 §4.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViaRvs {
    /// Addresses (IPv4 as IPv4-mapped IPv6).
    pub addresses: Vec<Ipv6Addr>,
}

impl ParamRepr for ViaRvs {
    const TYPE: u16 = 65502;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        if !c.len().is_multiple_of(16) {
            return Err(Error::BadParamLength { ty: Self::TYPE, len: c.len() });
        }
        let addresses = c
            .chunks_exact(16)
            .map(|a| {
                let mut o = [0u8; 16];
                o.copy_from_slice(a);
                Ipv6Addr::from(o)
            })
            .collect();
        Ok(ViaRvs { addresses })
    }

    fn contents_len(&self) -> usize {
        self.addresses.len() * 16
    }

    fn emit_contents(&self, out: &mut [u8]) {
        for (o, a) in out.chunks_exact_mut(16).zip(&self.addresses) {
            o.copy_from_slice(&a.octets());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn rvs_params() {
        let a: Ipv6Addr = "::ffff:10.77.0.1".parse().unwrap();
        round_trip(&RvsFrom { address: a }, "ffda001000000000000000000000ffff0a4d000100000000");
        round_trip(&RvsHmac { hmac: vec![9; 4] }, "ffdc000409090909");
        round_trip(&ViaRvs { addresses: vec![a] }, "ffde001000000000000000000000ffff0a4d000100000000");
        assert_eq!(parse_hex::<RvsFrom>("0a4d0001"), Err(Error::BadParamLength { ty: 65498, len: 4 }));
        assert_eq!(parse_hex::<ViaRvs>("0a4d0001"), Err(Error::BadParamLength { ty: 65502, len: 4 }));
    }
}
