//! The anti-replay sliding window (RFC 4303 §3.4.3 and Appendix A).
//!
//! A ring of 64-bit words indexed by sequence number, like boringtun's
//! `ReceivingKeyCounterValidator`: advancing the window clears whole words
//! instead of shifting the bitmap, so a jump costs at most one pass over
//! the ring and a packet inside the window costs one bit test.

/// Sequence numbers the window remembers behind the highest one seen.
pub const WINDOW_SIZE: u64 = 2048;
const WORD_BITS: u64 = 64;
/// One word more than the window so the word holding the left edge and the
/// word holding the right edge never alias.
const WORDS: usize = (WINDOW_SIZE / WORD_BITS) as usize + 1;

/// Receiver state: the highest sequence number authenticated so far and
/// which of the last [`WINDOW_SIZE`] ones were seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest sequence number accepted; 0 before the first packet
    /// (RFC 4303 §3.3.3: the first packet sent has sequence number 1).
    top: u64,
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window.
    pub const fn new() -> Self {
        ReplayWindow { top: 0, bitmap: [0; WORDS] }
    }

    /// Highest sequence number accepted so far (the right edge).
    pub const fn top(&self) -> u64 {
        self.top
    }

    /// Whether `seq` may be new: right of the window, or inside it and not
    /// seen. Done before the ICV check so floods of replays are cheap to
    /// drop; the window itself does not move here (RFC 4303 §3.4.3).
    pub fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            // Never sent (RFC 4303 §3.3.3): only a forgery carries it.
            return false;
        }
        if seq > self.top {
            return true;
        }
        if self.top - seq >= WINDOW_SIZE {
            return false;
        }
        let (word, bit) = Self::position(seq);
        self.bitmap[word] & bit == 0
    }

    /// Record `seq` after its ICV verified, sliding the window right if it
    /// is the new highest. Returns false (and changes nothing) if `seq`
    /// would be a replay, so a duplicate that raced past [`Self::check`]
    /// still cannot be accepted twice.
    pub fn accept(&mut self, seq: u64) -> bool {
        if !self.check(seq) {
            return false;
        }
        if seq > self.top {
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            // Words between the old and new right edge hold bits of
            // sequence numbers WORDS words ago: clear them.
            let clear = (new_word - old_word).min(WORDS as u64);
            for i in 1..=clear {
                self.bitmap[((old_word + i) % WORDS as u64) as usize] = 0;
            }
            self.top = seq;
        }
        let (word, bit) = Self::position(seq);
        self.bitmap[word] |= bit;
        true
    }

    fn position(seq: u64) -> (usize, u64) {
        (((seq / WORD_BITS) % WORDS as u64) as usize, 1 << (seq % WORD_BITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_never_accepted() {
        let mut w = ReplayWindow::new();
        assert!(!w.check(0));
        assert!(!w.accept(0));
        assert_eq!(w, ReplayWindow::new());
    }

    #[test]
    fn in_order_then_duplicates() {
        let mut w = ReplayWindow::new();
        for s in 1..=5000 {
            assert!(w.accept(s), "{s}");
            assert!(!w.accept(s), "dup {s}");
        }
        assert_eq!(w.top(), 5000);
    }

    #[test]
    fn out_of_order_inside_window() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(100));
        assert!(w.accept(98));
        assert!(w.accept(99));
        assert!(!w.accept(98));
        assert!(w.accept(1));
        assert_eq!(w.top(), 100);
    }

    #[test]
    fn left_edge() {
        let mut w = ReplayWindow::new();
        let top = 10_000;
        assert!(w.accept(top));
        // The oldest number still inside: top - WINDOW_SIZE + 1.
        let edge = top - WINDOW_SIZE + 1;
        assert!(w.check(edge));
        assert!(!w.check(edge - 1), "one left of the edge");
        assert!(w.accept(edge));
        assert!(!w.accept(edge));
    }

    #[test]
    fn far_ahead_forgets_everything_old() {
        let mut w = ReplayWindow::new();
        for s in 1..=64 {
            assert!(w.accept(s));
        }
        let far = 1_000_000;
        assert!(w.accept(far));
        // Every number in the window left of `far` is unseen, including
        // ones whose bit positions the old packets used.
        for s in far - WINDOW_SIZE + 1..far {
            assert!(w.check(s), "{s}");
        }
        assert!(!w.check(64));
    }

    #[test]
    fn ring_wraps_without_stale_bits() {
        let mut w = ReplayWindow::new();
        // Mark every number of the first ring pass, then move exactly one
        // ring (WORDS words) ahead: the same bit positions come back and
        // must read as unseen.
        let ring = WORDS as u64 * WORD_BITS;
        for s in 1..ring {
            assert!(w.accept(s));
        }
        for s in ring..ring + 2 * WORD_BITS {
            assert!(w.check(s), "{s}");
            assert!(w.accept(s));
        }
        // Jumps that are not word aligned, across the wrap.
        assert!(w.accept(3 * ring + 7));
        assert!(w.check(3 * ring + 6));
        assert!(w.check(3 * ring + 7 - WINDOW_SIZE + 1));
        assert!(!w.check(3 * ring + 7 - WINDOW_SIZE));
    }

    #[test]
    fn rejected_accept_changes_nothing() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(5000));
        let before = w.clone();
        assert!(!w.accept(5000));
        assert!(!w.accept(1));
        assert_eq!(w, before);
    }
}
