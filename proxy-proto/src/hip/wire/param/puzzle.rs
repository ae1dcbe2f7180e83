//! R1 freshness and the puzzle: R1_COUNTER (RFC 7401 §5.2.3), PUZZLE
//! (§5.2.4) and SOLUTION (§5.2.5).

use super::{ParamRepr, at_least, be16, exact};
use crate::hip::wire::Error;

/// R1_COUNTER (129): the R1 generation counter, so the Initiator can tell
/// which of several R1s is the newest (§5.2.3).
///
/// ```text
/// |                       Reserved, 4 bytes                       |
/// |                R1 generation counter, 8 bytes                 |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct R1Counter {
    /// The R1 generation counter.
    pub counter: u64,
}

mod r1_field {
    use core::ops::Range;
    pub const COUNTER: Range<usize> = 4..12;
    pub const LEN: usize = 12;
}

impl ParamRepr for R1Counter {
    const TYPE: u16 = 129;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        let c = exact::<{ r1_field::LEN }>(Self::TYPE, c)?;
        let mut n = [0u8; 8];
        n.copy_from_slice(&c[r1_field::COUNTER]);
        Ok(R1Counter { counter: u64::from_be_bytes(n) })
    }

    fn contents_len(&self) -> usize {
        r1_field::LEN
    }

    fn emit_contents(&self, out: &mut [u8]) {
        // Reserved: zero when sent, ignored when received.
        out.fill(0);
        out[r1_field::COUNTER].copy_from_slice(&self.counter.to_be_bytes());
    }
}

/// Named ranges shared by PUZZLE and SOLUTION.
mod field {
    use core::ops::{Range, RangeFrom};
    pub const K: usize = 0;
    /// PUZZLE: Lifetime; SOLUTION: Reserved.
    pub const LIFETIME: usize = 1;
    pub const OPAQUE: Range<usize> = 2..4;
    pub const RANDOM_I: RangeFrom<usize> = 4..;
}

/// PUZZLE (257): the Responder's challenge (§5.2.4). Random #I is
/// RHASH_len / 8 octets long, so its length depends on the HIT suite.
///
/// ```text
/// |  #K, 1 byte   |    Lifetime   |        Opaque, 2 bytes        |
/// |                      Random #I, RHASH_len / 8 bytes           |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Puzzle {
    /// #K, the number of low-order bits of the hash that must be zero.
    pub k: u8,
    /// Puzzle lifetime exponent: 2^(value - 32) seconds.
    pub lifetime: u8,
    /// Opaque data the Responder wants echoed in SOLUTION.
    pub opaque: [u8; 2],
    /// Random #I.
    pub random_i: Vec<u8>,
}

impl Puzzle {
    /// Offset of Opaque within the contents, for the HIP_SIGNATURE_2
    /// input, which zeroes Opaque and Random #I (§5.2.15).
    pub(crate) const OPAQUE_OFFSET: usize = field::OPAQUE.start;
}

impl ParamRepr for Puzzle {
    const TYPE: u16 = 257;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::RANDOM_I.start)?;
        Ok(Puzzle {
            k: c[field::K],
            lifetime: c[field::LIFETIME],
            opaque: be16(c, field::OPAQUE).to_be_bytes(),
            random_i: c[field::RANDOM_I].to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        field::RANDOM_I.start + self.random_i.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[field::K] = self.k;
        out[field::LIFETIME] = self.lifetime;
        out[field::OPAQUE].copy_from_slice(&self.opaque);
        out[field::RANDOM_I].copy_from_slice(&self.random_i);
    }
}

/// SOLUTION (321): the Initiator's answer (§5.2.5). Random #I and
/// Puzzle solution #J have the same length, RHASH_len / 8.
///
/// ```text
/// |  #K, 1 byte   |   Reserved    |        Opaque, 2 bytes        |
/// |                      Random #I, n bytes                       |
/// |            Puzzle solution #J, RHASH_len / 8 bytes            |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Solution {
    /// #K copied from the PUZZLE.
    pub k: u8,
    /// Opaque copied from the PUZZLE.
    pub opaque: [u8; 2],
    /// Random #I copied from the PUZZLE.
    pub random_i: Vec<u8>,
    /// The solution #J; same length as `random_i`.
    pub solution_j: Vec<u8>,
}

impl ParamRepr for Solution {
    const TYPE: u16 = 321;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::RANDOM_I.start)?;
        let rest = &c[field::RANDOM_I];
        if !rest.len().is_multiple_of(2) {
            return Err(Error::BadParamLength { ty: Self::TYPE, len: c.len() });
        }
        let (i, j) = rest.split_at(rest.len() / 2);
        Ok(Solution {
            k: c[field::K],
            opaque: be16(c, field::OPAQUE).to_be_bytes(),
            random_i: i.to_vec(),
            solution_j: j.to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        field::RANDOM_I.start + self.random_i.len() + self.solution_j.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[field::K] = self.k;
        out[field::LIFETIME] = 0;
        out[field::OPAQUE].copy_from_slice(&self.opaque);
        let (i, j) = out[field::RANDOM_I].split_at_mut(self.random_i.len());
        i.copy_from_slice(&self.random_i);
        j.copy_from_slice(&self.solution_j);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn r1_counter() {
        round_trip(&R1Counter { counter: 0x0102030405060708 }, "0081000c000000000102030405060708");
        assert_eq!(parse_hex::<R1Counter>("00000000"), Err(Error::BadParamLength { ty: 129, len: 4 }));
    }

    /// The PUZZLE of the capture's R1 (bex.pcap frame 2; tshark: K 16,
    /// lifetime 37, opaque 0x85d3).
    #[test]
    fn puzzle_from_capture() {
        // Type 257, Length 36, #K 0x10, Lifetime 0x25, Opaque, Random #I.
        let hex = concat!("01010024", "102585d3", "d3a55bfcb520bab6268953574e22e010900dd23539f11f41930117777a7c424c");
        let p = Puzzle {
            k: 16,
            lifetime: 37,
            opaque: [0x85, 0xd3],
            random_i: hex::decode("d3a55bfcb520bab6268953574e22e010900dd23539f11f41930117777a7c424c").unwrap(),
        };
        round_trip(&p, hex);
        assert_eq!(parse_hex::<Puzzle>("1025"), Err(Error::BadParamLength { ty: 257, len: 2 }));
    }

    #[test]
    fn solution() {
        let s = Solution { k: 16, opaque: [0x85, 0xd3], random_i: vec![1; 4], solution_j: vec![2; 4] };
        round_trip(&s, "0141000c100085d30101010102020202");
        // Random #I and #J must have equal length.
        assert_eq!(parse_hex::<Solution>("100085d3010101"), Err(Error::BadParamLength { ty: 321, len: 7 }));
    }
}
