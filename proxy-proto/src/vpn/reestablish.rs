//! Re-establishing the MN <-> GW VPN from scratch (seed 004, step 6: the
//! mobile node's last resort when no Registration Reply comes): a two-message
//! handshake authenticated with a pre-shared key that yields a fresh pair of
//! ESP tunnel-mode SAs (new SPIs, new keys).
//!
//! This stands in for the HIP base exchange between MN and GW (issue 4)
//! until that lands in the daemon; it exists so the fallback is real (new
//! SAs, new keys) and can be timed against the fast handover. Format, all
//! fields in network byte order, UDP to the GW's re-establishment port:
//!
//! ```text
//!  0: 'V' 'R' | version=1 | kind (1 Init, 2 Response)
//!  4: home address of the MN
//!  8: timestamp (NTP format, the initiator's clock; echoed in the Response)
//! 16: SPI the sender chose for its inbound SA
//! 20: nonce (16 octets)
//! 36: MAC = HMAC-SHA-256-128(PSK, octets 0..36 [|| Init nonce for a Response])
//! ```
//!
//! Replay: the GW accepts an Init only with a timestamp strictly above the
//! last one it accepted for that home address; a Response is bound to the
//! Init's nonce by its MAC. Keys: KEYMAT(direction) =
//! HMAC-SHA-256(PSK, "mvpn keys" || direction || Ni || Nr || SPI_mn || SPI_gw),
//! first 20 octets = AES-128-GCM key and salt (RFC 4106 §8.1).

use core::net::Ipv4Addr;
use std::collections::HashMap;

use aws_lc_rs::{constant_time, hmac};

pub const LEN: usize = 52;
pub const NONCE_LEN: usize = 16;
const MAC_AT: usize = 36;
const MAC_LEN: usize = 16;
/// KEYMAT per direction: AES-128-GCM key (16) + salt (4).
pub const KEYMAT_LEN: usize = 20;

const KIND_INIT: u8 = 1;
const KIND_RESPONSE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReError {
    #[error("not a re-establishment message of ours")]
    Malformed,
    #[error("unexpected message kind {0}")]
    Kind(u8),
    #[error("unknown mobile node {0}")]
    UnknownNode(Ipv4Addr),
    #[error("MAC mismatch")]
    BadMac,
    #[error("timestamp not above the last accepted one (replay)")]
    Replayed,
    #[error("response does not answer our pending Init")]
    Mismatch,
}

/// Fresh SA material for both directions.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSas {
    /// SPI of the MN -> GW SA (the GW's inbound SPI).
    pub spi_mn_to_gw: u32,
    /// SPI of the GW -> MN SA (the MN's inbound SPI).
    pub spi_gw_to_mn: u32,
    pub keymat_mn_to_gw: [u8; KEYMAT_LEN],
    pub keymat_gw_to_mn: [u8; KEYMAT_LEN],
}

impl core::fmt::Debug for NewSas {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print keys.
        f.debug_struct("NewSas")
            .field("spi_mn_to_gw", &self.spi_mn_to_gw)
            .field("spi_gw_to_mn", &self.spi_gw_to_mn)
            .finish_non_exhaustive()
    }
}

struct Fields {
    kind: u8,
    home: Ipv4Addr,
    timestamp: u64,
    spi: u32,
    nonce: [u8; NONCE_LEN],
}

fn parse(b: &[u8]) -> Result<Fields, ReError> {
    if b.len() != LEN || b[0] != b'V' || b[1] != b'R' || b[2] != 1 {
        return Err(ReError::Malformed);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&b[20..36]);
    Ok(Fields {
        kind: b[3],
        home: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
        timestamp: u64::from_be_bytes(b[8..16].try_into().map_err(|_| ReError::Malformed)?),
        spi: u32::from_be_bytes(b[16..20].try_into().map_err(|_| ReError::Malformed)?),
        nonce,
    })
}

fn mac(psk: &hmac::Key, body: &[u8], bound: Option<&[u8; NONCE_LEN]>) -> [u8; MAC_LEN] {
    let mut ctx = hmac::Context::with_key(psk);
    ctx.update(body);
    if let Some(n) = bound {
        ctx.update(n);
    }
    let tag = ctx.sign();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
    out
}

fn emit(psk: &hmac::Key, f: &Fields, bound: Option<&[u8; NONCE_LEN]>) -> Vec<u8> {
    let mut b = vec![0u8; LEN];
    b[..4].copy_from_slice(&[b'V', b'R', 1, f.kind]);
    b[4..8].copy_from_slice(&f.home.octets());
    b[8..16].copy_from_slice(&f.timestamp.to_be_bytes());
    b[16..20].copy_from_slice(&f.spi.to_be_bytes());
    b[20..36].copy_from_slice(&f.nonce);
    let m = mac(psk, &b[..MAC_AT], bound);
    b[MAC_AT..].copy_from_slice(&m);
    b
}

fn verify(psk: &hmac::Key, b: &[u8], bound: Option<&[u8; NONCE_LEN]>) -> Result<(), ReError> {
    let m = mac(psk, &b[..MAC_AT], bound);
    constant_time::verify_slices_are_equal(&m, &b[MAC_AT..]).map_err(|_| ReError::BadMac)
}

fn derive(psk: &hmac::Key, ni: &[u8; NONCE_LEN], nr: &[u8; NONCE_LEN], spi_mn: u32, spi_gw: u32) -> NewSas {
    let km = |dir: &[u8]| {
        let mut ctx = hmac::Context::with_key(psk);
        for part in [&b"mvpn keys"[..], dir, ni, nr, &spi_mn.to_be_bytes(), &spi_gw.to_be_bytes()] {
            ctx.update(part);
        }
        let mut out = [0u8; KEYMAT_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..KEYMAT_LEN]);
        out
    };
    NewSas {
        spi_mn_to_gw: spi_gw,
        spi_gw_to_mn: spi_mn,
        keymat_mn_to_gw: km(b"mn->gw"),
        keymat_gw_to_mn: km(b"gw->mn"),
    }
}

/// The mobile node's side: one pending Init.
pub struct Initiator {
    psk: hmac::Key,
    home: Ipv4Addr,
    spi_in: u32,
    nonce: [u8; NONCE_LEN],
    timestamp: u64,
}

impl Initiator {
    /// Starts a handshake; returns the Init to send. `spi_in` is the SPI the
    /// MN picked for its new inbound SA, `nonce` fresh random octets.
    pub fn start(psk: &[u8], home: Ipv4Addr, now_ntp: u64, spi_in: u32, nonce: [u8; NONCE_LEN]) -> (Self, Vec<u8>) {
        let psk = hmac::Key::new(hmac::HMAC_SHA256, psk);
        let init = emit(&psk, &Fields { kind: KIND_INIT, home, timestamp: now_ntp, spi: spi_in, nonce }, None);
        (Self { psk, home, spi_in, nonce, timestamp: now_ntp }, init)
    }

    /// The GW's Response: the new SAs.
    pub fn handle_response(&self, b: &[u8]) -> Result<NewSas, ReError> {
        let f = parse(b)?;
        if f.kind != KIND_RESPONSE {
            return Err(ReError::Kind(f.kind));
        }
        verify(&self.psk, b, Some(&self.nonce))?;
        if f.home != self.home || f.timestamp != self.timestamp {
            return Err(ReError::Mismatch);
        }
        Ok(derive(&self.psk, &self.nonce, &f.nonce, self.spi_in, f.spi))
    }
}

/// The gateway's side: the PSK per mobile node and the last timestamp seen.
#[derive(Default)]
pub struct Responder {
    nodes: HashMap<Ipv4Addr, (hmac::Key, Option<u64>)>,
}

/// What the GW does with a valid Init.
#[derive(Debug)]
pub struct Accepted {
    pub home_address: Ipv4Addr,
    pub sas: NewSas,
    pub response: Vec<u8>,
}

impl Responder {
    pub fn add_node(&mut self, home: Ipv4Addr, psk: &[u8]) {
        self.nodes.insert(home, (hmac::Key::new(hmac::HMAC_SHA256, psk), None));
    }

    /// An Init; `spi_in` and `nonce` are the GW's fresh choices.
    pub fn handle_init(&mut self, b: &[u8], spi_in: u32, nonce: [u8; NONCE_LEN]) -> Result<Accepted, ReError> {
        let f = parse(b)?;
        if f.kind != KIND_INIT {
            return Err(ReError::Kind(f.kind));
        }
        let (psk, last) = self.nodes.get_mut(&f.home).ok_or(ReError::UnknownNode(f.home))?;
        verify(psk, b, None)?;
        if last.is_some_and(|l| f.timestamp <= l) {
            return Err(ReError::Replayed);
        }
        *last = Some(f.timestamp);
        let response = emit(
            psk,
            &Fields { kind: KIND_RESPONSE, home: f.home, timestamp: f.timestamp, spi: spi_in, nonce },
            Some(&f.nonce),
        );
        Ok(Accepted { home_address: f.home, sas: derive(psk, &f.nonce, &nonce, f.spi, spi_in), response })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);

    #[test]
    fn handshake_agrees_and_rejects_replay_forgery_and_mismatch() {
        let mut gw = Responder::default();
        gw.add_node(HOME, b"psk");
        let (mn, init) = Initiator::start(b"psk", HOME, 100, 0x111, [1; 16]);
        let a = gw.handle_init(&init, 0x222, [2; 16]).unwrap();
        let sas = mn.handle_response(&a.response).unwrap();
        assert!(sas == a.sas);
        assert_eq!((sas.spi_mn_to_gw, sas.spi_gw_to_mn), (0x222, 0x111));
        assert_ne!(sas.keymat_mn_to_gw, sas.keymat_gw_to_mn);
        // The same Init again: replay.
        assert_eq!(gw.handle_init(&init, 0x333, [3; 16]).unwrap_err(), ReError::Replayed);
        // A forged Init (wrong key).
        let (_, forged) = Initiator::start(b"other", HOME, 200, 0x111, [1; 16]);
        assert_eq!(gw.handle_init(&forged, 0x333, [3; 16]).unwrap_err(), ReError::BadMac);
        // A Response to another Init does not verify.
        let (mn2, _) = Initiator::start(b"psk", HOME, 300, 0x111, [9; 16]);
        assert_eq!(mn2.handle_response(&a.response).unwrap_err(), ReError::BadMac);
        let (_, unknown) = Initiator::start(b"psk", Ipv4Addr::new(1, 2, 3, 4), 1, 1, [0; 16]);
        assert!(matches!(gw.handle_init(&unknown, 1, [0; 16]), Err(ReError::UnknownNode(_))));
        assert_eq!(gw.handle_init(&init[..10], 1, [0; 16]).unwrap_err(), ReError::Malformed);
        assert_eq!(mn.handle_response(&init).unwrap_err(), ReError::Kind(1));
    }
}
