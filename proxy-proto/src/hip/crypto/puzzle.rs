//! The cookie puzzle (RFC 7401 Sections 4.1.2, 5.2.4, 5.2.5):
//! find J such that Ltrunc( RHASH( I | HIT-I | HIT-R | J ), #K ) == 0, where
//! Ltrunc(x, #K) is the lowest-order #K bits of x (RFC 7401 Section 2.2), i.e.
//! the last #K bits of the digest. #I and #J are RHASH_len / 8 octets long.

use super::{CryptoError, Hit, HitSuite};

/// The outcome of a successful search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PuzzleSolution {
    /// The solution #J.
    pub j: Vec<u8>,
    /// How many values of J were tried.
    pub attempts: u64,
}

/// True if the lowest-order `k` bits of `digest` (big-endian) are zero.
fn low_order_bits_zero(digest: &[u8], k: u8) -> bool {
    let full = usize::from(k / 8);
    let rest = k % 8;
    let Some(split) = digest.len().checked_sub(full) else {
        return false;
    };
    if digest[split..].iter().any(|&b| b != 0) {
        return false;
    }
    rest == 0 || split.checked_sub(1).and_then(|i| digest.get(i)).is_some_and(|&b| b & ((1u8 << rest) - 1) == 0)
}

fn check_params(suite: HitSuite, i: &[u8], k: u8) -> Result<(), CryptoError> {
    if i.len() != suite.rhash_len() || usize::from(k) > 8 * suite.rhash_len() {
        return Err(CryptoError::InvalidPuzzle);
    }
    Ok(())
}

/// Verifies a solution J for puzzle I of difficulty K between `hit_i` (the
/// Initiator) and `hit_r` (the Responder).
pub fn verify(suite: HitSuite, i: &[u8], hit_i: &Hit, hit_r: &Hit, k: u8, j: &[u8]) -> Result<(), CryptoError> {
    check_params(suite, i, k)?;
    if j.len() != i.len() {
        return Err(CryptoError::InvalidPuzzle);
    }
    let digest = suite.rhash(&[i, &hit_i.0, &hit_r.0, j]);
    if low_order_bits_zero(digest.as_ref(), k) { Ok(()) } else { Err(CryptoError::BadPuzzleSolution) }
}

/// Solves the puzzle as the Initiator, trying at most `max_attempts` values of
/// J starting at `start_j` and counting up (the start should come from the
/// RNG so that two Initiators do not share work). The bound keeps a K chosen
/// by a hostile Responder from pinning a CPU (RFC 7401 Section 4.1.2 lets the
/// Initiator give up).
pub fn solve(
    suite: HitSuite,
    i: &[u8],
    hit_i: &Hit,
    hit_r: &Hit,
    k: u8,
    start_j: &[u8],
    max_attempts: u64,
) -> Result<PuzzleSolution, CryptoError> {
    check_params(suite, i, k)?;
    if start_j.len() != i.len() {
        return Err(CryptoError::InvalidPuzzle);
    }
    let mut j = start_j.to_vec();
    for attempt in 1..=max_attempts {
        let digest = suite.rhash(&[i, &hit_i.0, &hit_r.0, &j]);
        if low_order_bits_zero(digest.as_ref(), k) {
            return Ok(PuzzleSolution { j, attempts: attempt });
        }
        // Big-endian increment with wrap-around.
        for byte in j.iter_mut().rev() {
            let (v, carry) = byte.overflowing_add(1);
            *byte = v;
            if !carry {
                break;
            }
        }
    }
    Err(CryptoError::PuzzleNotSolved(max_attempts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIT_I: Hit = Hit([0x20, 0x01, 0x00, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const HIT_R: Hit = Hit([0x20, 0x01, 0x00, 0x21, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);

    #[test]
    fn low_order_bits_are_the_last_bits() {
        assert!(low_order_bits_zero(&[0xf0, 0x00], 12));
        assert!(!low_order_bits_zero(&[0xf8, 0x00], 12));
        assert!(!low_order_bits_zero(&[0x00, 0x01], 12));
        assert!(low_order_bits_zero(&[0xff], 0));
        assert!(!low_order_bits_zero(&[0x00], 9));
    }

    #[test]
    fn k0_is_solved_by_the_first_j() {
        let i = [0x11u8; 32];
        let s = solve(HitSuite::RsaDsaSha256, &i, &HIT_I, &HIT_R, 0, &[0u8; 32], 1).unwrap();
        assert_eq!(s.attempts, 1);
        assert_eq!(s.j, vec![0u8; 32]);
        verify(HitSuite::RsaDsaSha256, &i, &HIT_I, &HIT_R, 0, &s.j).unwrap();
    }

    #[test]
    fn k8_solution_verifies_and_a_wrong_one_does_not() {
        let i = [0x5au8; 32];
        let s = solve(HitSuite::RsaDsaSha256, &i, &HIT_I, &HIT_R, 8, &[0u8; 32], 1 << 16).unwrap();
        let digest = HitSuite::RsaDsaSha256.rhash(&[&i, &HIT_I.0, &HIT_R.0, &s.j]);
        assert_eq!(digest.as_ref()[31], 0);
        // J counts up from the start: the attempt count is J + 1.
        assert_eq!(u64::from(s.j[31]) + 256 * u64::from(s.j[30]) + 1, s.attempts);
        verify(HitSuite::RsaDsaSha256, &i, &HIT_I, &HIT_R, 8, &s.j).unwrap();
        // The same J between swapped HITs is a different puzzle.
        let mut wrong = s.j.clone();
        wrong[31] ^= 1;
        let swapped = verify(HitSuite::RsaDsaSha256, &i, &HIT_R, &HIT_I, 8, &s.j);
        let flipped = verify(HitSuite::RsaDsaSha256, &i, &HIT_I, &HIT_R, 8, &wrong);
        // A random J passes K=8 with probability 1/256; these two inputs are fixed and fail.
        assert_eq!(swapped, Err(CryptoError::BadPuzzleSolution));
        assert_eq!(flipped, Err(CryptoError::BadPuzzleSolution));
    }

    #[test]
    fn bounded_search_reports_failure_and_bad_lengths_rejected() {
        let i = [0x01u8; 48];
        assert_eq!(
            solve(HitSuite::EcdsaSha384, &i, &HIT_I, &HIT_R, 40, &[0u8; 48], 100),
            Err(CryptoError::PuzzleNotSolved(100))
        );
        assert_eq!(
            solve(HitSuite::EcdsaSha384, &i[..32], &HIT_I, &HIT_R, 1, &[0u8; 32], 1),
            Err(CryptoError::InvalidPuzzle)
        );
        assert_eq!(verify(HitSuite::EcdsaSha384, &i, &HIT_I, &HIT_R, 1, &[0u8; 47]), Err(CryptoError::InvalidPuzzle));
        // K beyond RHASH_len bits (160 for SHA-1) cannot be solved.
        assert_eq!(
            verify(HitSuite::EcdsaLowSha1, &[0u8; 20], &HIT_I, &HIT_R, 161, &[0u8; 20]),
            Err(CryptoError::InvalidPuzzle)
        );
    }
}
