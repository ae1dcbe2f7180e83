//! The HIPv2 packet format (RFC 7401 §5): the fixed header and its
//! checksum, the parameter TLVs, typed parameters, an owned packet, and
//! the inputs of HIP MACs and signatures.
//!
//! Layout follows smoltcp: [`Packet`] and [`ParamTlv`] are views over
//! bytes with checked constructors; [`HipPacket`] and the parameter types
//! are owned `Repr`s with `parse`, `buffer_len` and `emit`. Nothing here
//! panics on received bytes.

mod auth_input;
mod error;
mod header;
mod packet;
pub mod param;

pub use auth_input::{AuthParam, auth_input};
pub use error::Error;
pub use header::{
    CONTROL_ANONYMOUS, HEADER_LEN, IP_PROTOCOL, MAX_PACKET_LEN, NEXT_HEADER_NONE, Packet, PacketType, VERSION,
};
pub use packet::HipPacket;
pub use param::tlv::{ParamIter, ParamTlv, RawParam};
pub use param::{Param, ParamRepr, TypedParam};
