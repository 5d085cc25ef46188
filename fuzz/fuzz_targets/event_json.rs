//! Feeds arbitrary bytes to `ArvoEvent::from_json_slice`; whatever parses must serialise,
//! parse again, and from then on round-trip byte for byte.
#![no_main]

use arvo_runtime::event::ArvoEvent;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(first) = ArvoEvent::from_json_slice(data) else {
        return;
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
