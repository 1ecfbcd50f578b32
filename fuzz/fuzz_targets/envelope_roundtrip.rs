//! Envelope level: any bytes that decode as a `Message` (or `Hello`) decode the same
//! after one more encode (prost drops unknown fields, so byte identity is not expected).
#![no_main]

use bytes::Bytes;
use gorums_core::wire::{decode_hello, decode_message};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if let Ok(msg) = decode_message(body.clone()) {
        let again = decode_message(Bytes::from(msg.encode_to_vec())).expect("re-encoded message decodes");
        assert_eq!(msg, again);
    }
    if let Ok(hello) = decode_hello(body) {
        let again = decode_hello(Bytes::from(hello.encode_to_vec())).expect("re-encoded hello decodes");
        assert_eq!(hello, again);
    }
});
