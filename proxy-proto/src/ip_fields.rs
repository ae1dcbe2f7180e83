//! Byte offsets of the IP, TCP and UDP header fields, in one place for
//! every view that reads or rewrites them in place (BEET, the proxy's
//! translator, the Mobile IP slow path). Options and extension headers are
//! the callers' business; these are the fixed parts.

/// A field that spans several octets.
pub type Field = core::ops::Range<usize>;

/// IPv4 header without options (RFC 791 §3.1).
pub mod ipv4 {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
    pub const HEADER_END: usize = 20;
}

/// IPv6 fixed header (RFC 8200 §3).
pub mod ipv6 {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
    pub const HEADER_END: usize = 40;
}

/// TCP header without options (RFC 9293 §3.1).
pub mod tcp {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const CHECKSUM: Field = 16..18;
    pub const HEADER_END: usize = 20;
}

/// UDP header (RFC 768).
pub mod udp {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const HEADER_END: usize = 8;
}
