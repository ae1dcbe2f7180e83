//! What a HIP host offers and how patient it is.

use core::time::Duration;

use crate::esp::Transform;
use crate::hip::crypto::{DhGroupPreference, HipCipher};

/// Host-wide settings of the base exchange.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Answer I1s (a HIP host). The proxy role only initiates.
    pub responder: bool,
    /// DH groups in order of preference (DH_GROUP_LIST, §5.2.7).
    pub dh_groups: DhGroupPreference,
    /// HIP ciphers for the ENCRYPTED HOST_ID, in order of preference (§5.2.8).
    pub hip_ciphers: Vec<HipCipher>,
    /// ESP transforms in order of preference (ESP_TRANSFORM, RFC 7402 §5.1.2).
    pub esp_transforms: Vec<Transform>,
    /// Puzzle difficulty #K in our R1s (§4.1.2).
    pub puzzle_k: u8,
    /// #K while under load: more I1s per second than [`HostConfig::load_threshold`].
    pub puzzle_k_under_load: u8,
    /// I1s per second above which R1s carry [`HostConfig::puzzle_k_under_load`].
    pub load_threshold: u32,
    /// The PUZZLE Lifetime exponent: 2^(value - 32) seconds (§5.2.4).
    pub puzzle_lifetime: u8,
    /// The Initiator gives up on an R1 whose #K exceeds this (§4.1.2).
    pub max_puzzle_k: u8,
    /// How often the Responder starts a new R1 generation (R1_COUNTER, §5.2.3).
    pub r1_rotate: Duration,
    /// How many R1 generations an I2 may answer (the current one included).
    pub r1_generations: usize,
    /// First retransmission of I1, I2 and CLOSE; doubled after each (§4.4.3).
    pub retransmit_initial: Duration,
    /// Retransmissions before E-FAILED (I1, I2) or CLOSED (CLOSE).
    pub max_retransmits: u32,
    /// How long the Responder stays in R2-SENT before ESTABLISHED when no
    /// ESP arrives first (§4.4.2: "Timeout: move to ESTABLISHED").
    pub r2_sent_timeout: Duration,
    /// How long CLOSED and E-FAILED associations are kept (§4.4.2: UAL).
    pub linger: Duration,
    /// NOTIFYs we send per second at most (they cost a signature).
    pub notify_per_sec: u32,
    /// Offer the rendezvous service (RFC 8003, 8004): REG_INFO in R1,
    /// registrations in I2 / UPDATE, I1s relayed to registered HITs.
    pub registrar: Option<super::RegistrarConfig>,
    /// Credit-based authorization (RFC 8046 §3.3.2): a peer's new locator
    /// gets data while its address check runs, up to the credit the peer
    /// earned. None: strict, no data before the echo verifies (§5.3.2).
    pub credit: Option<super::CreditConfig>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            responder: true,
            dh_groups: DhGroupPreference::default(),
            hip_ciphers: vec![HipCipher::Aes128Cbc, HipCipher::Aes256Cbc, HipCipher::NullEncrypt],
            esp_transforms: vec![
                Transform::Aes128Gcm16,
                Transform::Aes128CbcHmacSha256,
                Transform::Aes256CbcHmacSha256,
                Transform::NullHmacSha256,
            ],
            puzzle_k: 1,
            puzzle_k_under_load: 10,
            load_threshold: 100,
            // 2^(40 - 32) = 256 s: an I2 is accepted while its R1
            // generation is among the last `r1_generations` (3 x 60 s).
            puzzle_lifetime: 40,
            max_puzzle_k: 28,
            r1_rotate: Duration::from_secs(60),
            r1_generations: 3,
            retransmit_initial: Duration::from_millis(500),
            max_retransmits: 5,
            r2_sent_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(30),
            notify_per_sec: 10,
            registrar: None,
            credit: None,
        }
    }
}
