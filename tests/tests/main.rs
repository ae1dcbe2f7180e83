//! Integration tests: real daemons, real sockets, network namespaces.
//! Root only; run through `cargo xtask test`.

mod afxdp;
mod dns;
mod esp;
mod hip;
mod hipesp;
mod hostxdp;
mod mobility_v6;
mod nat;
mod proxy_rekey;
mod proxyesp;
mod rvs;
mod rvs_proxy;
mod topo;
mod vpn;
mod xdp_fixtures;
mod xsk_fixtures;
