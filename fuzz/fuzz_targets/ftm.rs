//! Any bytes as OpenSanctions data: FollowTheMoney JSON lines, and (the same bytes) as a
//! `targets.simple.csv` export.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cadena::import::opensanctions::parse_ftm(data);
    let _ = cadena::import::opensanctions::parse_simple_csv(data);
});
