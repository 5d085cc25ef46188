//! Feeds arbitrary bytes to `ArvoEvent::from_json_slice`; whatever parses must serialise,
//! parse again, and from then on round-trip byte for byte (array-index keys are moved first,
//! as JavaScript lists them, by the first write). JSON errors quote a bounded prefix.
#![no_main]

use arvo_runtime::event::{ArvoEvent, EventError};
use arvo_runtime::issue::MAX_QUOTED_BYTES;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let first = match ArvoEvent::from_json_slice(data) {
        Ok(e) => e,
        Err(e) => {
            // A JSON error quotes at most a bounded prefix of the input.
            if let EventError::Json(_) = e {
                let len = e.to_string().len();
                assert!(len < MAX_QUOTED_BYTES + 256, "a {len}-byte JSON error");
            }
            return;
        }
    };
    // The first write normalises numbers to their JavaScript form (`5.0` -> `5`).
    let text = first.to_json_string();
    let second = match ArvoEvent::from_json_str(&text) {
        Ok(e) => e,
        Err(e) => panic!("our own output did not parse: {e}\n{text}"),
    };
    let again = second.to_json_string();
    assert_eq!(again, text, "serialisation is not stable");
    let third = ArvoEvent::from_json_str(&again).expect("stable output parses");
    assert_eq!(third, second, "parse is not stable");
});
