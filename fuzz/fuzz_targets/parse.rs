//! The core's front door on arbitrary bytes: parse, index, lint, and every query must return
//! (diagnostics are fine), never panic or hang.

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshlock_core::reach::ReachFilter;
use meshlock_core::report::Outcome;
use meshlock_core::{Analysis, Options, Source};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let a = Analysis::new(&[Source::new("fuzz.yaml", text)], &Options::default());
    let report = a.analyze();
    // The linear-time counts must equal the full listing on any input.
    let listed = a.reach(&ReachFilter::default()).calls;
    let counts = a.reach_counts(&ReachFilter::default());
    assert_eq!(counts.total, listed.len() as u64);
    assert_eq!(counts.failing, listed.iter().filter(|c| c.outcome == Outcome::Fails).count() as u64);
    assert_eq!(counts.mtls, listed.iter().filter(|c| c.outcome == Outcome::Mtls).count() as u64);
    for w in &report.workloads {
        let key = format!("{}/{}", w.namespace, w.name);
        let _ = a.explain(&key, None);
        let _ = a.inbound_policy(&key);
    }
});
