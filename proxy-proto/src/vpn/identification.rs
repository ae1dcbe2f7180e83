//! The Identification field and timestamp replay protection (RFC 5944 §5.7,
//! §5.7.1). The Identification is a 64-bit NTP-format timestamp (RFC 5905):
//! seconds since 1900 in the high 32 bits, fraction in the low 32 bits.
//! Wall-clock time always comes in as a parameter (`now_ntp`).

use core::time::Duration;

/// A 64-bit Identification value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Identification(pub u64);

impl Identification {
    /// The seconds part (high-order 32 bits).
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The low-order 32 bits, which a Reply copies from its Request
    /// (§5.7) so the MN can match them.
    pub const fn low(self) -> u32 {
        self.0 as u32
    }
    pub const fn from_parts(seconds: u32, low: u32) -> Self {
        Self(((seconds as u64) << 32) | low as u64)
    }
}

/// RFC 5944 §5.7: the default tolerance for clock skew between MN and HA.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(7);

/// Why a timestamp Identification was refused (Reply code 133).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("timestamp {skew_secs} s away from the home agent's clock")]
    Skew { skew_secs: i64 },
    #[error("identification not greater than the last accepted one")]
    NotIncreasing,
}

/// Home agent side (§5.7): the Identification must be within `skew` of
/// the HA's clock and greater than the last accepted one.
pub fn check_timestamp(
    id: Identification,
    last_accepted: Option<Identification>,
    now_ntp: u64,
    skew: Duration,
) -> Result<(), ReplayError> {
    let skew_secs = seconds_between(Identification(now_ntp).seconds(), id.seconds());
    if skew_secs.unsigned_abs() > skew.as_secs() {
        return Err(ReplayError::Skew { skew_secs });
    }
    if last_accepted.is_some_and(|last| id <= last) {
        return Err(ReplayError::NotIncreasing);
    }
    Ok(())
}

/// The Identification of a Reply refusing a request for code 133 (§5.7):
/// the HA's own time in the high 32 bits, the request's low 32 bits.
pub fn mismatch_reply_identification(request: Identification, now_ntp: u64) -> Identification {
    Identification::from_parts(Identification(now_ntp).seconds(), request.low())
}

/// Signed seconds from `from` to `to`, taking NTP era wrap into account.
fn seconds_between(from: u32, to: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

/// Mobile node side: issues strictly increasing timestamps corrected by the
/// offset learnt from a code-133 Reply (§5.7: the MN uses the HA's time
/// to resynchronise).
#[derive(Debug, Clone, Default)]
pub struct IdentificationClock {
    /// Seconds to add to the local clock to get the HA's.
    offset_secs: i64,
    last: Option<Identification>,
}

impl IdentificationClock {
    /// The next Identification: the corrected local time, bumped past the
    /// last one issued so two requests in the same tick still increase.
    pub fn next(&mut self, now_ntp: u64) -> Identification {
        let secs = Identification(now_ntp).seconds();
        let corrected = secs.wrapping_add(self.offset_secs as u32);
        let mut id = Identification::from_parts(corrected, Identification(now_ntp).low());
        if let Some(last) = self.last
            && id <= last
        {
            id = Identification(last.0.wrapping_add(1));
        }
        self.last = Some(id);
        id
    }

    /// Learns the HA's clock from a code-133 Reply whose low 32 bits the
    /// caller has matched against the pending request.
    pub fn resync(&mut self, reply: Identification, now_ntp: u64) {
        self.offset_secs = seconds_between(Identification(now_ntp).seconds(), reply.seconds());
        // Follow the HA's clock even backwards (our values were too far
        // ahead); anything it accepted before is at most its time plus skew.
        self.last = None;
    }

    /// The offset currently applied, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 0xe8a1_0000_0000_0000; // some NTP time in 2023

    #[test]
    fn ha_accepts_within_skew_and_increasing() {
        let now = T;
        let id = Identification(T + (3u64 << 32));
        assert_eq!(check_timestamp(id, None, now, DEFAULT_SKEW), Ok(()));
        assert_eq!(check_timestamp(id, Some(id), now, DEFAULT_SKEW), Err(ReplayError::NotIncreasing));
        assert_eq!(
            check_timestamp(Identification(T + (8u64 << 32)), None, now, DEFAULT_SKEW),
            Err(ReplayError::Skew { skew_secs: 8 })
        );
        assert_eq!(
            check_timestamp(Identification(T - (8u64 << 32)), None, now, DEFAULT_SKEW),
            Err(ReplayError::Skew { skew_secs: -8 })
        );
    }

    #[test]
    fn mismatch_reply_carries_ha_time_and_request_low_bits() {
        let req = Identification::from_parts(100, 0xdead_beef);
        let r = mismatch_reply_identification(req, T | 0x1234);
        assert_eq!(r, Identification::from_parts(0xe8a1_0000, 0xdead_beef));
    }

    #[test]
    fn mn_clock_increases_and_resyncs() {
        let mut c = IdentificationClock::default();
        let a = c.next(T);
        let b = c.next(T);
        assert_eq!(a, Identification(T));
        assert_eq!(b, Identification(T + 1));
        // The HA is 100 s ahead.
        c.resync(Identification::from_parts(0xe8a1_0000 + 100, a.low()), T);
        assert_eq!(c.offset_secs(), 100);
        let n = c.next(T + (1u64 << 32));
        assert_eq!(n.seconds(), 0xe8a1_0000 + 101);
        assert_eq!(check_timestamp(n, Some(b), T + (101u64 << 32), DEFAULT_SKEW), Ok(()));
        // The HA 50 s behind: the next value goes back with it.
        c.resync(Identification::from_parts(0xe8a1_0000 - 50, n.low()), T);
        let m = c.next(T);
        assert_eq!(m.seconds(), 0xe8a1_0000 - 50);
        assert_eq!(check_timestamp(m, None, T - (50u64 << 32), DEFAULT_SKEW), Ok(()));
    }
}
