//! The rule-file loader: the bundled rule set with one of its files replaced by the
//! input (the first byte picks which). Problems must come back as `RulesError`s naming
//! file and line, never as a panic.
#![no_main]

use cadena::rules::{BUNDLED_FILES, Ruleset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let replaced = usize::from(pick) % BUNDLED_FILES.len();
    let files = BUNDLED_FILES
        .iter()
        .enumerate()
        .map(|(i, (path, contents))| {
            ((*path).to_owned(), if i == replaced { text.to_owned() } else { (*contents).to_owned() })
        })
        .collect();
    if let Err(err) = Ruleset::from_files("rules", files) {
        let _ = err.to_string();
    }
});
