//! `meshlock simulate`: the example mesh on loopback agrees with reach call by call; a filter
//! configuration broken on purpose shows as a difference; bad input is refused with nothing
//! left running.

use crate::support::{root, wasip1, wasm_path};
use meshlock_core::reach::{ReachFilter, SymptomClass};
use meshlock_core::{Analysis, Options, Source};
use meshlock_testbed::simulate::{SimulateError, SimulateOptions, simulate};
use std::process::Command;
use std::sync::Arc;

fn example() -> Analysis {
    let dir = root().join("examples/authn");
    let mut sources = Vec::new();
    for f in ["namespaces.yaml", "policies.yaml", "workloads.yaml"] {
        sources.push(Source::new(f, std::fs::read_to_string(dir.join(f)).unwrap()));
    }
    Analysis::new(&sources, &Options::default())
}

#[test]
fn the_example_mesh_agrees_with_reach_call_by_call() {
    let a = example();
    let report = simulate(&a, wasip1(), &SimulateOptions::default()).unwrap();
    let listed = a.reach(&ReachFilter::default()).calls.len();
    assert_eq!(report.rows.len(), listed);
    assert_eq!(report.simulated(), listed, "every call of the example runs on loopback");
    for row in &report.rows {
        assert_eq!(row.agrees(), Some(true), "{row:?}");
    }
    // The seeds' flow is all there: mTLS through both sidecars, plaintext refused by STRICT,
    // plaintext to a sidecar-less server.
    let observed: Vec<_> = report.rows.iter().filter_map(|r| r.observed.as_ref().ok()).collect();
    assert!(observed.iter().any(|o| o.outcome.ok && o.outcome.mtls));
    assert!(observed.iter().any(|o| o.outcome.ok && !o.outcome.mtls));
    assert!(observed.iter().any(|o| o.outcome.class == SymptomClass::NoFilterChain));
}

#[test]
fn a_broken_filter_configuration_is_reported_as_a_difference() {
    let a = example();
    // Every server sidecar accepts plaintext, whatever the policies say.
    let options = SimulateOptions {
        tamper: Some(Arc::new(|c| {
            if let Some(inbound) = c.inbound.as_mut() {
                inbound.default_mode = meshlock_core::model::Mode::Permissive;
                inbound.port_modes.clear();
            }
        })),
        ..SimulateOptions::default()
    };
    let report = simulate(&a, wasip1(), &options).unwrap();
    assert!(report.disagreements() > 0);
    let differing = report.rows.iter().find(|r| r.agrees() == Some(false)).unwrap();
    assert_eq!(differing.predicted.class, SymptomClass::NoFilterChain, "{differing:?}");
    assert!(differing.observed.as_ref().unwrap().outcome.ok, "{differing:?}");
}

#[test]
fn secure_naming_refuses_a_server_with_the_wrong_identity() {
    let a = example();
    // The client sidecars accept only an identity no server has.
    let options = SimulateOptions {
        tamper: Some(Arc::new(|c| {
            for entry in c.outbound.iter_mut().flatten() {
                entry.identities = vec!["spiffe://cluster.local/ns/foo/sa/impostor".to_owned()];
            }
        })),
        ..SimulateOptions::default()
    };
    let report = simulate(&a, wasip1(), &options).unwrap();
    let refused = report
        .rows
        .iter()
        .filter_map(|r| r.observed.as_ref().ok().map(|o| (r, o)))
        .find(|(r, _)| r.predicted.mtls)
        .unwrap();
    assert_eq!(refused.1.outcome.class, SymptomClass::CertificateVerifyFailed, "{:?}", refused.0);
    assert!(refused.1.detail.starts_with("503"), "{:?}", refused.1);
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let a = example();
    let unknown_client = SimulateOptions {
        filter: ReachFilter { from: vec!["foo/nobody".to_owned()], ..ReachFilter::default() },
        ..SimulateOptions::default()
    };
    let e = simulate(&a, wasip1(), &unknown_client).unwrap_err();
    assert!(matches!(e, SimulateError::Input(_)) && e.to_string().contains("foo/nobody"), "{e}");
    let unknown_destination = SimulateOptions {
        filter: ReachFilter { to: vec!["nowhere.example".to_owned()], ..ReachFilter::default() },
        ..SimulateOptions::default()
    };
    let e = simulate(&a, wasip1(), &unknown_destination).unwrap_err();
    assert!(e.to_string().contains("nowhere.example"), "{e}");
    // A port in use: the run stops before any call and says which port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let collision = SimulateOptions { base_port: port, ..SimulateOptions::default() };
    let e = simulate(&a, wasip1(), &collision).unwrap_err();
    assert!(matches!(e, SimulateError::Bind { .. }) && e.to_string().contains(&port.to_string()), "{e}");
}

#[test]
fn the_command_prints_both_sides_and_exits_by_agreement() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meshlock"))
            .args(args)
            .current_dir(root())
            .env("MESHLOCK_FILTER", wasm_path(meshlock_testbed::FILTER_WASIP1))
            .output()
            .unwrap()
    };
    let o = run(&["simulate", "examples/authn"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("PREDICTED") && out.contains("OBSERVED"), "{out}");
    assert!(out.contains("18 calls: 18 simulated (18 agree, 0 differ)"), "{out}");
    let o = run(&["simulate", "examples/authn", "--to", "nowhere.example"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no service `nowhere.example` in the input"));
}

#[test]
fn the_playground_examples_agree_or_say_why_not() {
    let dir = root().join("www/src/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut simulated = 0;
    for f in files.iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
        let a = Analysis::new(&[Source::new("example", std::fs::read_to_string(f).unwrap())], &Options::default());
        let report = simulate(&a, wasip1(), &SimulateOptions::default()).unwrap();
        assert_eq!(report.disagreements(), 0, "{}: {:?}", f.display(), report.rows);
        for row in &report.rows {
            if let Err(why) = &row.observed {
                assert!(!why.is_empty(), "{}: a call not simulated says why", f.display());
            }
        }
        simulated += report.simulated();
    }
    assert!(simulated >= 40, "{simulated} calls simulated");
}

#[test]
fn a_run_is_bounded_in_calls_and_time() {
    let a = example();
    let few = SimulateOptions { max_calls: 5, ..SimulateOptions::default() };
    let report = simulate(&a, wasip1(), &few).unwrap();
    assert_eq!((report.rows.len(), report.not_driven), (5, 13));
    let no_time = SimulateOptions { deadline: std::time::Duration::ZERO, ..SimulateOptions::default() };
    let report = simulate(&a, wasip1(), &no_time).unwrap();
    assert_eq!((report.rows.len(), report.not_driven), (0, 18));
}
