//! Any byte stream, fed in chunks of varying size: the framer must yield frames or typed
//! errors, never panic, and never hand out a frame longer than its header says.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::framer::Framer;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut f = Framer::new();
    for piece in rest.chunks(chunk) {
        f.extend(piece);
        while let Some(item) = f.next_frame() {
            match item {
                Ok(frame) => {
                    let h = frame.header();
                    assert_eq!(usize::from(h.length), frame.bytes().len());
                    let _ = frame.message();
                }
                Err(e) if e.is_fatal() => return,
                Err(_) => {}
            }
        }
    }
});
