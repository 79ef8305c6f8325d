//! Any bytes as an OCDS file (release or record package, single release or record, JSON
//! lines): parties, awards, contracts and items into suppliers and procurement lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cadena::import::ocds::parse(data);
});
