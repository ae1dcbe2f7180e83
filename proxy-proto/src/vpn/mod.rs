//! The mobile-VPN gateway's protocol cores (sans-IO), after seed 004.
//!
//! A mobile node (MN) keeps an ESP tunnel-mode VPN to a gateway (GW) in
//! front of a private network; Mobile IPv4 (RFC 5944) runs inside the
//! tunnel to the home agent (HA) behind the GW. On a new co-located
//! care-of address the MN moves its own SAs and registers; the HA tells the
//! GW through an authenticated Security Information Update (SIU, see
//! `SIU.md`) to move its outbound SA before the Registration Reply is
//! forwarded. No re-keying.
//!
//! - Wire formats: [`request`], [`reply`] and [`extension`] (RFC 5944
//!   §3.3-3.5), [`auth`] (the MN-HA authenticator, §5.1), [`identification`]
//!   (timestamps, §5.7), [`siu`] and [`rr`] (ours, `SIU.md`), [`ipv4`],
//!   [`udp`] and [`ipip`] (RFC 2003).
//! - State machines: [`mobile_node::MobileNode`], [`home_agent::HomeAgent`],
//!   [`gateway::Gateway`]. Time and randomness are always parameters.

pub mod auth;
pub mod extension;
pub mod gateway;
pub mod home_agent;
pub mod identification;
pub mod ipip;
pub mod ipv4;
pub mod mobile_node;
pub mod reply;
pub mod request;
pub mod rr;
pub mod siu;
pub mod udp;
