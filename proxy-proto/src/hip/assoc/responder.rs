//! The Responder's stateless half (§4.1.1, §6.8): R1s are signed once per
//! generation and DH group, then sent to any Initiator with only the
//! Receiver's HIT, Opaque and Random #I filled in, which HIP_SIGNATURE_2
//! leaves out (§5.2.15). #I is RHASH(generation secret | HIT-I | HIT-R),
//! so an I2 is checked against the generation its R1_COUNTER names with no
//! per-Initiator state. Under load a new generation raises #K (§4.1.2).

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use core::net::IpAddr;
use core::time::Duration;

use super::DropReason;
use super::config::HostConfig;
use super::local::LocalIdentity;
use super::seal::{SigKind, seal};
use crate::hip::crypto::{DhGroupId, DhKeyPair, Hit, puzzle};
use crate::hip::wire::param::ParamRepr;
use crate::hip::wire::param::dh::{DhGroupList, DiffieHellman};
use crate::hip::wire::param::esp::EspTransform;
use crate::hip::wire::param::puzzle::{Puzzle, R1Counter, Solution};
use crate::hip::wire::param::registration::RegInfo;
use crate::hip::wire::param::suites::{HipCipher as HipCipherList, HitSuiteList, TransportFormatList};
use crate::hip::wire::param::tlv::{ParamIter, TLV_HEADER_LEN};
use crate::hip::wire::{HEADER_LEN, HipPacket, NEXT_HEADER_NONE, Packet, PacketType};

/// Offset of Random #I in PUZZLE contents (after #K, Lifetime, Opaque).
const RANDOM_I_OFFSET: usize = 4;

/// One signed R1 for one DH group.
struct SignedR1 {
    dh: DhKeyPair,
    /// The R1 with Receiver's HIT, Opaque and #I zero, checksum zero.
    bytes: Vec<u8>,
    /// Where #I starts in `bytes`.
    random_i_at: usize,
}

/// One R1 generation (one R1_COUNTER value).
struct Generation {
    counter: u64,
    k: u8,
    secret: [u8; 32],
    started: Instant,
    r1s: Vec<SignedR1>,
    /// RHASH(#I | #J) of every I2 accepted from this generation.
    accepted: HashSet<Vec<u8>>,
}

/// A verified I2 puzzle: the generation's DH key for the chosen group and
/// the KEYMAT salt parts.
pub struct PuzzleOk<'a> {
    /// The DH key pair of the R1 the Initiator answered.
    pub dh: &'a DhKeyPair,
    /// #I.
    pub i: Vec<u8>,
    /// #J.
    pub j: Vec<u8>,
    /// Identifies this solution for replay detection.
    pub solution_id: Vec<u8>,
}

/// Pre-computed R1s of one local identity.
pub struct R1Pool {
    generations: VecDeque<Generation>,
    next_counter: u64,
    /// Start of the current one-second load window and I1s in it.
    window: Option<(Instant, u32)>,
    under_load: bool,
}

impl Default for R1Pool {
    fn default() -> Self {
        Self::new()
    }
}

impl R1Pool {
    /// An empty pool; the first I1 creates generation 1.
    pub fn new() -> Self {
        R1Pool { generations: VecDeque::new(), next_counter: 1, window: None, under_load: false }
    }

    /// The #K of the current generation (for `assoc stats`).
    pub fn current_k(&self) -> Option<u8> {
        self.generations.front().map(|g| g.k)
    }

    /// The R1_COUNTER of the current generation.
    pub fn current_counter(&self) -> Option<u64> {
        self.generations.front().map(|g| g.counter)
    }

    /// When the current generation must be replaced.
    pub fn next_rotation(&self, cfg: &HostConfig) -> Option<Instant> {
        self.generations.front().map(|g| g.started + cfg.r1_rotate)
    }

    /// Start a new generation with difficulty `k`; returns whether one was made.
    fn rotate(&mut self, now: Instant, k: u8, cfg: &HostConfig, rng: &mut dyn FnMut(&mut [u8])) {
        let mut secret = [0u8; 32];
        rng(&mut secret);
        self.generations.push_front(Generation {
            counter: self.next_counter,
            k,
            secret,
            started: now,
            r1s: Vec::new(),
            accepted: HashSet::new(),
        });
        self.next_counter += 1;
        self.generations.truncate(cfg.r1_generations.max(1));
    }

    fn wanted_k(&self, cfg: &HostConfig) -> u8 {
        if self.under_load { cfg.puzzle_k_under_load.max(cfg.puzzle_k) } else { cfg.puzzle_k }
    }

    /// Time passes: rotate an expired generation. Returns true if a new
    /// generation was created.
    pub fn on_timeout(&mut self, now: Instant, cfg: &HostConfig, rng: &mut dyn FnMut(&mut [u8])) -> bool {
        if self.next_rotation(cfg).is_some_and(|t| now >= t) {
            self.rotate(now, self.wanted_k(cfg), cfg, rng);
            return true;
        }
        false
    }

    /// Count an I1 toward the load estimate; switch #K when the load
    /// crosses the threshold. Returns true if a new generation was created.
    fn note_i1(&mut self, now: Instant, cfg: &HostConfig, rng: &mut dyn FnMut(&mut [u8])) -> bool {
        let (start, count) = self.window.get_or_insert((now, 0));
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            // The window that just ended decides the next second's #K.
            self.under_load = *count > cfg.load_threshold;
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > cfg.load_threshold {
            self.under_load = true;
        }
        let want = self.wanted_k(cfg);
        if self.generations.front().is_none_or(|g| g.k != want) {
            self.rotate(now, want, cfg, rng);
            return true;
        }
        false
    }

    /// The R1 answering an I1 from `hit_i` to `local` at these addresses,
    /// ready to send (checksum filled). `group` was chosen from the I1's
    /// DH_GROUP_LIST. Also returns whether a generation was created.
    #[allow(clippy::too_many_arguments)]
    pub fn r1_for(
        &mut self,
        now: Instant,
        cfg: &HostConfig,
        local: &LocalIdentity,
        group: DhGroupId,
        hit_i: &Hit,
        src: IpAddr,
        dst: IpAddr,
        rng: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(Vec<u8>, bool), DropReason> {
        let rotated = self.note_i1(now, cfg, rng);
        let g = self.generations.front_mut().ok_or(DropReason::Internal)?;
        if !g.r1s.iter().any(|r| r.dh.group() == group) {
            let r1 = build_r1(cfg, local, g.counter, g.k, group, rng)?;
            g.r1s.push(r1);
        }
        let r1 = g.r1s.iter().find(|r| r.dh.group() == group).ok_or(DropReason::Internal)?;
        let i = cookie(local, &g.secret, hit_i);
        let mut bytes = r1.bytes.clone();
        bytes[r1.random_i_at..r1.random_i_at + i.len()].copy_from_slice(&i);
        let mut view = Packet::new_unchecked(&mut bytes[..]);
        view.set_receiver_hit(hit_i.to_ipv6());
        view.fill_checksum(src, dst).map_err(|_| DropReason::Internal)?;
        Ok((bytes, rotated))
    }

    /// Check an I2's R1_COUNTER and SOLUTION against our generations
    /// (§6.9 steps 2-4) and find the DH key of the group it chose.
    pub fn check_solution(
        &self,
        local: &LocalIdentity,
        hit_i: &Hit,
        counter: Option<&R1Counter>,
        solution: &Solution,
        dh_group: u8,
    ) -> Result<PuzzleOk<'_>, DropReason> {
        // §6.9: without R1_COUNTER, only the current generation is tried.
        let g = match counter {
            Some(c) => self.generations.iter().find(|g| g.counter == c.counter),
            None => self.generations.front(),
        }
        .ok_or(DropReason::StaleR1Counter)?;
        let i = cookie(local, &g.secret, hit_i);
        if solution.random_i != i || solution.k < g.k {
            return Err(DropReason::BadPuzzleSolution);
        }
        puzzle::verify(local.suite, &i, hit_i, &local.hit, solution.k, &solution.solution_j)
            .map_err(|_| DropReason::BadPuzzleSolution)?;
        let solution_id = local.suite.rhash(&[&i, &solution.solution_j]).as_ref().to_vec();
        if g.accepted.contains(&solution_id) {
            return Err(DropReason::ReplayedI2);
        }
        let dh = &g.r1s.iter().find(|r| r.dh.group().id() == dh_group).ok_or(DropReason::NoCommonProposal)?.dh;
        Ok(PuzzleOk { dh, i, j: solution.solution_j.clone(), solution_id })
    }

    /// Remember an accepted solution so a replay of its I2 is caught.
    pub fn accept(&mut self, counter: Option<&R1Counter>, solution_id: Vec<u8>) {
        let g = match counter {
            Some(c) => self.generations.iter_mut().find(|g| g.counter == c.counter),
            None => self.generations.front_mut(),
        };
        if let Some(g) = g {
            g.accepted.insert(solution_id);
        }
    }

    /// Whether `solution_id` was accepted from any live generation.
    pub fn was_accepted(&self, solution_id: &[u8]) -> bool {
        self.generations.iter().any(|g| g.accepted.contains(solution_id))
    }
}

/// #I for `hit_i`: RHASH(secret | HIT-I | HIT-R), RHASH_len octets.
fn cookie(local: &LocalIdentity, secret: &[u8; 32], hit_i: &Hit) -> Vec<u8> {
    local.suite.rhash(&[secret, &hit_i.0, &local.hit.0]).as_ref().to_vec()
}

/// Sign an R1 for this generation and group (§5.3.2): R1_COUNTER, PUZZLE,
/// The HIT_SUITE_LIST of our R1s (RFC 7401 Section 5.2.10): every suite we
/// can verify and key with, our own HIT's suite first (RFC 9374 Section 3.4.2
/// adds EdDSA/cSHAKE128).
fn hit_suite_list(ours: crate::hip::crypto::HitSuite) -> HitSuiteList {
    let others = crate::hip::crypto::HitSuite::SUPPORTED.into_iter().filter(|s| *s != ours);
    let ids: Vec<u8> = core::iter::once(ours).chain(others).map(|s| s.id()).collect();
    HitSuiteList::from_suite_ids(&ids)
}

/// DIFFIE_HELLMAN, HIP_CIPHER, HOST_ID, HIT_SUITE_LIST, DH_GROUP_LIST,
/// TRANSPORT_FORMAT_LIST, ESP_TRANSFORM (RFC 7402 §5.3.1), HIP_SIGNATURE_2.
fn build_r1(
    cfg: &HostConfig,
    local: &LocalIdentity,
    counter: u64,
    k: u8,
    group: DhGroupId,
    rng: &mut dyn FnMut(&mut [u8]),
) -> Result<SignedR1, DropReason> {
    let dh = DhKeyPair::generate(group, rng).map_err(|_| DropReason::Internal)?;
    let pkt = HipPacket {
        next_header: NEXT_HEADER_NONE,
        packet_type: PacketType::R1,
        controls: 0,
        sender_hit: local.hit.to_ipv6(),
        receiver_hit: core::net::Ipv6Addr::UNSPECIFIED,
        params: vec![
            R1Counter { counter }.into(),
            Puzzle { k, lifetime: cfg.puzzle_lifetime, opaque: [0; 2], random_i: vec![0; local.suite.rhash_len()] }
                .into(),
            DiffieHellman { group_id: group.id(), public_value: dh.public_value().to_vec() }.into(),
            HipCipherList { ciphers: cfg.hip_ciphers.iter().map(|c| c.id()).collect() }.into(),
            local.host_id.clone().into(),
            hit_suite_list(local.suite).into(),
            DhGroupList { groups: cfg.dh_groups.to_list() }.into(),
            TransportFormatList { formats: vec![EspTransform::TYPE] }.into(),
            EspTransform { suites: cfg.esp_transforms.iter().filter_map(|t| t.suite_id()).collect() }.into(),
        ]
        .into_iter()
        // RFC 8003 §3.1: a registrar announces its services in R1.
        .chain(cfg.registrar.as_ref().map(|r| {
            RegInfo {
                min_lifetime: r.min_lifetime,
                max_lifetime: r.max_lifetime,
                reg_types: vec![crate::hip::wire::param::registration::REG_TYPE_RENDEZVOUS],
            }
            .into()
        }))
        .collect(),
    };
    let bytes = seal(pkt, None, Some((local, SigKind::Sig2)))?;
    let puzzle_at = ParamIter::new(&bytes[HEADER_LEN..])
        .filter_map(Result::ok)
        .find(|r| r.tlv.param_type() == Puzzle::TYPE)
        .map(|r| HEADER_LEN + r.offset)
        .ok_or(DropReason::Internal)?;
    Ok(SignedR1 { dh, bytes, random_i_at: puzzle_at + TLV_HEADER_LEN + RANDOM_I_OFFSET })
}
