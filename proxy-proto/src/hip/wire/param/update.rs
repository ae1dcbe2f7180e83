//! UPDATE reliability: SEQ (RFC 7401 §5.2.16) and ACK (§5.2.17).

use super::{ParamRepr, exact};
use crate::hip::wire::Error;

/// SEQ (385): the Update ID of an UPDATE that needs an ACK (§5.2.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq {
    /// Update ID.
    pub update_id: u32,
}

impl ParamRepr for Seq {
    const TYPE: u16 = 385;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(Seq { update_id: u32::from_be_bytes(exact::<4>(Self::TYPE, c)?) })
    }

    fn contents_len(&self) -> usize {
        4
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.update_id.to_be_bytes());
    }
}

/// ACK (449): the peer Update IDs being acknowledged (§5.2.17).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ack {
    /// Acknowledged peer Update IDs.
    pub peer_update_ids: Vec<u32>,
}

impl ParamRepr for Ack {
    const TYPE: u16 = 449;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        if !c.len().is_multiple_of(4) {
            return Err(Error::BadParamLength { ty: Self::TYPE, len: c.len() });
        }
        let ids = c.chunks_exact(4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]])).collect();
        Ok(Ack { peer_update_ids: ids })
    }

    fn contents_len(&self) -> usize {
        self.peer_update_ids.len() * 4
    }

    fn emit_contents(&self, out: &mut [u8]) {
        for (o, id) in out.chunks_exact_mut(4).zip(&self.peer_update_ids) {
            o.copy_from_slice(&id.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    /// SEQ and ACK as in the capture's UPDATEs (bex.pcap frames 13, 14).
    #[test]
    fn seq_and_ack() {
        round_trip(&Seq { update_id: 1 }, "0181000400000001");
        round_trip(&Ack { peer_update_ids: vec![1] }, "01c1000400000001");
        round_trip(&Ack { peer_update_ids: vec![1, 2] }, "01c10008000000010000000200000000");
        assert_eq!(parse_hex::<Seq>("0001"), Err(Error::BadParamLength { ty: 385, len: 2 }));
        assert_eq!(parse_hex::<Ack>("000000010000"), Err(Error::BadParamLength { ty: 449, len: 6 }));
    }
}
