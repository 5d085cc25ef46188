#![no_main]
// Placeholder; replaced by the module's owner.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
