//! ECHO_REQUEST_SIGNED (RFC 7401 §5.2.20), ECHO_REQUEST_UNSIGNED
//! (§5.2.21), ECHO_RESPONSE_SIGNED (§5.2.22) and ECHO_RESPONSE_UNSIGNED
//! (§5.2.23): opaque data the peer must echo back.
//!
//! The signed variants have types below the signatures and are covered
//! by them; the unsigned ones sort after HIP_SIGNATURE and are not.

use super::opaque_param;

opaque_param!(
    /// ECHO_REQUEST_SIGNED (897): opaque data to echo, covered by the
    /// signature.
    EchoRequestSigned,
    897,
    opaque
);
opaque_param!(
    /// ECHO_RESPONSE_SIGNED (961): the echoed opaque data, covered by the
    /// signature.
    EchoResponseSigned,
    961,
    opaque
);
opaque_param!(
    /// ECHO_REQUEST_UNSIGNED (63661): opaque data to echo, not covered by
    /// the signature.
    EchoRequestUnsigned,
    63661,
    opaque
);
opaque_param!(
    /// ECHO_RESPONSE_UNSIGNED (63425): the echoed opaque data, not covered
    /// by the signature.
    EchoResponseUnsigned,
    63425,
    opaque
);

#[cfg(test)]
mod tests {
    use super::super::test_util::round_trip;
    use super::*;

    /// The CLOSE / CLOSE_ACK pair of bex.pcap (frames 17, 18) carries a
    /// 4-octet nonce 0x290eb4e1.
    #[test]
    fn echo_params() {
        let n = vec![0x29, 0x0e, 0xb4, 0xe1];
        round_trip(&EchoRequestSigned { opaque: n.clone() }, "03810004290eb4e1");
        round_trip(&EchoResponseSigned { opaque: n.clone() }, "03c10004290eb4e1");
        round_trip(&EchoRequestUnsigned { opaque: n.clone() }, "f8ad0004290eb4e1");
        round_trip(&EchoResponseUnsigned { opaque: vec![1] }, "f7c1000101000000");
    }
}
