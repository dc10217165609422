//! Fuzz target: any bytes as an SDP offer must be accepted or refused with `invalid_sdp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(err) = hark_proxy::offer::validate_offer(&text) {
        assert_eq!(err.status_and_code().1, "invalid_sdp");
    }
});
