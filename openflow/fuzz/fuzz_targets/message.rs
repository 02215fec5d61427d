//! Any bytes into the message decoder: it must return Ok or a typed error, never panic. What
//! decodes must encode again, and that encoding must decode to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        if let Ok(bytes) = m.encode() {
            let again = Message::decode(&bytes).expect("our own encoding decodes");
            assert_eq!(again, m, "decode(encode(m)) != m");
        }
    }
});
