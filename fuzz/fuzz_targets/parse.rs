//! The core's front door on arbitrary bytes: parse, index, lint, and every query must return
//! (diagnostics are fine), never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshlock_core::reach::ReachFilter;
use meshlock_core::{Analysis, Options, Source};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let a = Analysis::new(&[Source::new("fuzz.yaml", text)], &Options::default());
    let report = a.analyze();
    let _ = a.reach(&ReachFilter::default());
    for w in &report.workloads {
        let key = format!("{}/{}", w.namespace, w.name);
        let _ = a.explain(&key, None);
        let _ = a.inbound_policy(&key);
    }
});
