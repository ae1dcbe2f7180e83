//! HIP RR RDATA (RFC 8005 §5) and its presentation format: parsing never
//! panics, and whatever parses re-emits to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::dns::HipRdata;

fuzz_target!(|data: &[u8]| {
    if let Ok(rr) = HipRdata::from_bytes(data) {
        let bytes = rr.to_bytes().expect("a parsed record emits");
        assert_eq!(bytes, data);
        let text = rr.to_string();
        let back: HipRdata = text.parse().expect("Display output parses");
        assert_eq!(back, rr);
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(rr) = text.parse::<HipRdata>() {
            let bytes = rr.to_bytes().expect("a parsed record emits");
            assert_eq!(
                HipRdata::from_bytes(&bytes).expect("emitted bytes parse"),
                rr
            );
        }
    }
});
