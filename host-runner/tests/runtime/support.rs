//! Shared helpers: the built filter modules (compiled once per test binary) and paths.

use meshlock_host::wasm_host::FilterModule;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// The filter built for a triple; panics with the build instruction when it is missing.
pub fn wasm_path(rel: &str) -> PathBuf {
    let p = target_dir().join(rel);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/build-filter.sh (it builds the filter for wasm32-wasip1 and wasm32-unknown-unknown)",
        p.display()
    );
    p
}

pub fn wasip1() -> &'static FilterModule {
    static M: OnceLock<FilterModule> = OnceLock::new();
    M.get_or_init(|| FilterModule::from_file(&wasm_path(meshlock_host::FILTER_WASIP1)).expect("compile wasip1"))
}

pub fn unknown() -> &'static FilterModule {
    static M: OnceLock<FilterModule> = OnceLock::new();
    M.get_or_init(|| {
        FilterModule::from_file(&wasm_path(meshlock_host::FILTER_UNKNOWN)).expect("compile unknown-unknown")
    })
}

pub fn suite_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/suites"))
        .expect("tests/suites")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshlock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The policies of the suites' workloads plus a STRICT namespace policy, as one YAML text.
pub fn strict_policies() -> String {
    let dir = root().join("tests/suites/policies");
    let w = std::fs::read_to_string(dir.join("workloads.yaml")).expect("workloads.yaml");
    let s = std::fs::read_to_string(dir.join("strict.yaml")).expect("strict.yaml");
    format!("{w}\n---\n{s}")
}

pub fn plugin_config(direction: &str, kind: &str, policies: &str) -> String {
    serde_json::json!({
        "direction": direction,
        "workload": {"namespace": "foo", "name": "httpbin"},
        "policies": policies,
        "log": "decisions",
        "kind": kind,
    })
    .to_string()
}
