//! The fast YAML reader against serde_yaml on arbitrary text: wherever the fast reader accepts a
//! document it must build exactly the tree (and node count) serde_yaml builds; wherever it does
//! not, serde_yaml reads it (and reports its own error). And the outline scan that skims the
//! lines no head can be in against the scan that shapes every line: the same outline, the same
//! depth errors. And reading on one thread against reading with a second thread that splits and
//! outlines the documents and the List items beside their reading: the same resources,
//! diagnostics and work.
//! A difference is a crash.

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(difference) = meshlock_core::parse::fast_reader_differential(text) {
        panic!("{difference}");
    }
    if let Err(difference) = meshlock_core::parse::outline_skim_differential(text) {
        panic!("{difference}");
    }
    // Only a `kind: List` or a stream of documents is read apart from its outline; a thread per
    // source costs the other differentials most of their executions, so only texts that could
    // hold one pay for it, each with one placement of the second thread (chosen by its length,
    // so the corpus covers all of them).
    if (text.contains("items") || text.contains("---"))
        && let Err(difference) = meshlock_core::parse::threads_differential(text, text.len())
    {
        panic!("{difference}");
    }
});
