//! Fuzzes the DAG file loader: no input may make it panic, hang or blow up memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let report = weir_core::spec::load_file(text);
        // Rendering must be as robust as loading: it indexes into the source text.
        let _ = report.render("fuzz.yaml", text);
    }
});
