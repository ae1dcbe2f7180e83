//! Userspace-only: aya::Pod so the types can be read and written in maps.

use crate::{config::DatapathConfig, nat, vpn};

// SAFETY: all of these are #[repr(C)], contain only integers and byte
// arrays, and have every padding byte spelled out as a field, so any byte
// pattern is a valid value and none is uninitialised.
unsafe impl aya::Pod for nat::Mapping {}
unsafe impl aya::Pod for nat::FlowKey {}
unsafe impl aya::Pod for nat::FlowEntry {}
unsafe impl aya::Pod for nat::ReplyKey {}
unsafe impl aya::Pod for DatapathConfig {}
unsafe impl aya::Pod for crate::dns::DnsSteerConfig {}
unsafe impl aya::Pod for crate::dns::SteerKey {}
unsafe impl aya::Pod for crate::dns::SteerEntry {}
unsafe impl aya::Pod for vpn::IpipBinding {}
unsafe impl aya::Pod for crate::xsk::SteerFlags {}
