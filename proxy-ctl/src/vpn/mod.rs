//! The mobile-VPN roles' configuration and the control-socket views they
//! share with the CLI. The drivers live in `daemon/vpn_*.rs`.

pub mod config;
pub mod view;
