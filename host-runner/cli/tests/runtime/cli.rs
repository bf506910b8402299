//! `meshlock test` and `meshlock ca` as users run them.

use crate::support::{root, scratch, wasm_path};
use std::process::{Command, Output};

fn meshlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshlock"))
        .args(args)
        .current_dir(root())
        .env("MESHLOCK_FILTER", wasm_path(meshlock_testbed::FILTER_WASIP1))
        .output()
        .expect("run meshlock")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn test_command_passes_fails_and_refuses_as_documented() {
    let dir = scratch("cli-test");
    let junit = dir.join("junit.xml");
    let o = meshlock(&[
        "test",
        "tests/suites/authn-example-foo.yaml",
        "tests/suites/authn-example-bar.yaml",
        "--target",
        "host",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(out.lines().last(), Some("9 passed, 0 failed"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok   ")).count(), 9, "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuites name="meshlock" tests="9" failures="0">"#), "{xml}");
    assert!(xml.contains(r#"name="sleep in bar is admitted""#), "{xml}");

    // A failing case: exit 1, and the closing line counts it.
    let failing = dir.join("failing.yaml");
    std::fs::write(
        &failing,
        format!(
            "policies: [{}]\nworkload: foo/httpbin\ncases:\n  - name: wrong on purpose\n    port: 80\n    client: plaintext\n    expect: allow\n  - name: right\n    port: 80\n    client: plaintext\n    expect: deny\n",
            root().join("examples/authn").display()
        ),
    )
    .unwrap();
    let o = meshlock(&["test", failing.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"), "{out}");
    assert!(out.contains("FAIL wrong on purpose"), "{out}");

    // An unreadable suite: exit 2 with the file and line, before any case runs.
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "workload: foo/httpbin\ncases:\n  - name: x\n    port: eighty\n").unwrap();
    let o = meshlock(&["test", broken.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("broken.yaml") && err.contains("line 4"), "{err}");

    // An unknown target is a usage error (`--target envoy`: tests/runtime/envoy.rs).
    let o = meshlock(&["test", "tests/suites/strict.yaml", "--target", "kubernetes"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn ca_init_issue_inspect() {
    let dir = scratch("cli-ca");
    let d = dir.to_str().unwrap();
    let o = meshlock(&["ca", "init", d]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    for f in ["ca.crt", "ca.key", "untrusted-ca.crt", "untrusted-ca.key"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let issue = |name: &str, extra: &[&str]| {
        let mut args = vec!["ca", "issue", "--dir", d, "--name", name];
        args.extend_from_slice(extra);
        let o = meshlock(&args);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    };
    issue("sleep", &["--uri", "spiffe://cluster.local/ns/bar/sa/sleep", "--dns", "sleep.bar"]);
    issue("old", &["--uri", "spiffe://cluster.local/ns/bar/sa/sleep", "--validity", "expired"]);
    issue("later", &["--uri", "spiffe://cluster.local/ns/bar/sa/sleep", "--validity", "not-yet-valid"]);
    issue("nosan", &["--dns", "client.local"]);
    issue("evil", &["--uri", "spiffe://cluster.local/ns/bar/sa/sleep", "--issuer", "untrusted"]);
    let path = |n: &str| dir.join(format!("{n}.crt")).to_str().unwrap().to_owned();
    let o = meshlock(&["ca", "inspect", &path("sleep"), &path("old"), &path("later"), &path("nosan"), &path("evil")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let sections: Vec<&str> = out.split("\n/").collect();
    assert_eq!(sections.len(), 5, "{out}");
    assert!(sections[0].contains("Status:           valid"), "{out}");
    assert!(
        sections[0].contains("Subject Alt Name: URI:spiffe://cluster.local/ns/bar/sa/sleep, DNS:sleep.bar"),
        "{out}"
    );
    assert!(sections[0].contains("SPIFFE ID:        spiffe://cluster.local/ns/bar/sa/sleep"), "{out}");
    assert!(sections[0].contains("Issuer:           CN=meshlock test mesh root,O=cluster.local"), "{out}");
    assert!(sections[1].contains("Status:           EXPIRED"), "{out}");
    assert!(sections[2].contains("Status:           NOT YET VALID"), "{out}");
    assert!(sections[3].contains("SPIFFE ID:        none: the certificate has no URI SAN"), "{out}");
    assert!(sections[4].contains("Issuer:           CN=meshlock untrusted root"), "{out}");
}
