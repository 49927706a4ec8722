//! The property is in logcore (`logcore::fuzz::wire`), so that the unit
//! tests replay this target's corpus through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logcore::fuzz::wire(data));
