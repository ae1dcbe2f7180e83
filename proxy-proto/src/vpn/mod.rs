//! The mobile-VPN gateway's protocol cores (sans-IO).
//!
//! A mobile node (MN) keeps an ESP tunnel-mode VPN to a gateway (GW) in
//! front of a private network; Mobile IPv4 (RFC 5944) runs inside the
//! tunnel to the home agent (HA) behind the GW. On a new co-located
//! care-of address the MN moves its own SAs and registers; the HA tells the
//! GW through an authenticated security information update (SIU, see
//! `SIU.md`) to move its outbound SA before the Registration Reply is
//! forwarded. No re-keying is needed.

pub mod auth;
pub mod extension;
pub mod identification;
pub mod ipip;
pub mod ipv4;
pub mod reply;
pub mod request;
pub mod udp;
pub mod rr;
pub mod siu;
pub mod mobile_node;
pub mod home_agent;
pub mod gateway;
