//! Diffie-Hellman negotiation: DH_GROUP_LIST (RFC 7401 §5.2.6) and
//! DIFFIE_HELLMAN (§5.2.7).

use super::{ParamRepr, at_least, be16};
use crate::hip::wire::Error;

/// DH_GROUP_LIST (511): the sender's DH Group IDs, most preferred first
/// (§5.2.6). One octet per group; IANA "Group IDs".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DhGroupList {
    /// Group IDs in preference order.
    pub groups: Vec<u8>,
}

impl ParamRepr for DhGroupList {
    const TYPE: u16 = 511;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(DhGroupList { groups: c.to_vec() })
    }

    fn contents_len(&self) -> usize {
        self.groups.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.groups);
    }
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const GROUP_ID: usize = 0;
    pub const PUBLIC_VALUE_LENGTH: Range<usize> = 1..3;
    pub const PUBLIC_VALUE: RangeFrom<usize> = 3..;
}

/// DIFFIE_HELLMAN (513): one public value (§5.2.7).
///
/// ```text
/// |   Group ID    |      Public Value Length      |  Public Value /
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiffieHellman {
    /// The DH Group ID of the value.
    pub group_id: u8,
    /// The public value, in the group's encoding.
    pub public_value: Vec<u8>,
}

impl ParamRepr for DiffieHellman {
    const TYPE: u16 = 513;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::PUBLIC_VALUE.start)?;
        let pv_len = usize::from(be16(c, field::PUBLIC_VALUE_LENGTH));
        let pv = &c[field::PUBLIC_VALUE];
        // Length counts Group ID, Public Value Length and Public Value, so
        // the inner length must account for every remaining octet.
        if pv.len() != pv_len {
            return Err(Error::BadParamValue { ty: Self::TYPE });
        }
        Ok(DiffieHellman { group_id: c[field::GROUP_ID], public_value: pv.to_vec() })
    }

    fn contents_len(&self) -> usize {
        field::PUBLIC_VALUE.start + self.public_value.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[field::GROUP_ID] = self.group_id;
        // The packet-level length check bounds this far below 65535.
        let len = u16::try_from(self.public_value.len()).unwrap_or(u16::MAX);
        out[field::PUBLIC_VALUE_LENGTH].copy_from_slice(&len.to_be_bytes());
        out[field::PUBLIC_VALUE].copy_from_slice(&self.public_value);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    /// The I1's DH_GROUP_LIST (bex.pcap frame 1): groups 7, 9, 8, 3, 4, 10.
    #[test]
    fn group_list_from_capture() {
        round_trip(&DhGroupList { groups: vec![7, 9, 8, 3, 4, 10] }, "01ff000607090803040a000000000000");
    }

    #[test]
    fn diffie_hellman() {
        let d = DiffieHellman { group_id: 7, public_value: vec![0xab; 5] };
        round_trip(&d, "02010008070005ababababab00000000");
        assert_eq!(parse_hex::<DiffieHellman>("070006abab"), Err(Error::BadParamValue { ty: 513 }));
        assert_eq!(parse_hex::<DiffieHellman>("0700"), Err(Error::BadParamLength { ty: 513, len: 2 }));
    }
}
