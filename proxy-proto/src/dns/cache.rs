//! Answers to A/AAAA queries kept for their TTL (RFC 1035 §7.4, RFC 2181
//! §5.2: an RRset is cached for its smallest TTL, and handed out with the
//! time it has left), so repeated queries cost no upstream round trips.
//!
//! A substitute answer is only reused while the pool still maps the same
//! substitute to the same HIT: a freed or re-handed substitute must never
//! be answered from memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::pool::{Family, Hit};

/// What a cached answer stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The upstream answer, relayed (no HIP RR).
    Passed,
    /// A substitute the pool handed out for `hit`.
    Substitute { hit: Hit, family: Family, substitute: IpAddr },
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub code: ResponseCode,
    pub answers: Vec<Record>,
    pub origin: Origin,
    stored: Instant,
    ttl: u32,
}

impl Entry {
    /// The answers with the TTL they have left at `now`, or `None` once
    /// expired.
    pub fn answers_at(&self, now: Instant) -> Option<Vec<Record>> {
        let age = now.saturating_duration_since(self.stored).as_secs();
        let age = u32::try_from(age).unwrap_or(u32::MAX);
        if age >= self.ttl {
            return None;
        }
        Some(
            self.answers
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.set_ttl(r.ttl().saturating_sub(age));
                    r
                })
                .collect(),
        )
    }

    /// Seconds left at `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        (self.stored + Duration::from_secs(self.ttl.into())).saturating_duration_since(now)
    }
}

type Key = (Name, RecordType, DNSClass);

/// A bounded answer cache; size 0 turns it off.
#[derive(Debug)]
pub(crate) struct AnswerCache {
    entries: HashMap<Key, Entry>,
    max: usize,
}

impl AnswerCache {
    pub fn new(max: usize) -> Self {
        Self { entries: HashMap::new(), max }
    }

    fn key(name: &Name, rtype: RecordType, class: DNSClass) -> Key {
        (name.to_lowercase(), rtype, class)
    }

    pub fn get(&self, name: &Name, rtype: RecordType, class: DNSClass) -> Option<&Entry> {
        if self.max == 0 {
            return None;
        }
        self.entries.get(&Self::key(name, rtype, class))
    }

    pub fn remove(&mut self, name: &Name, rtype: RecordType, class: DNSClass) {
        self.entries.remove(&Self::key(name, rtype, class));
    }

    /// Keep an answer for the smallest TTL of its records; answers without
    /// records or with a TTL of 0 are not kept. When full, expired entries
    /// make room; if none has expired the answer is not kept.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now: Instant,
        name: &Name,
        rtype: RecordType,
        class: DNSClass,
        code: ResponseCode,
        answers: Vec<Record>,
        origin: Origin,
    ) {
        let ttl = answers.iter().map(Record::ttl).min().unwrap_or(0);
        if self.max == 0 || ttl == 0 {
            return;
        }
        if self.entries.len() >= self.max {
            self.entries.retain(|_, e| e.remaining(now) > Duration::ZERO);
            if self.entries.len() >= self.max {
                return;
            }
        }
        self.entries.insert(Self::key(name, rtype, class), Entry { code, answers, origin, stored: now, ttl });
    }
}
