//! The differential suite: every scenario in `tests/differential/scenarios/*.yaml` is sent to the
//! built-in sandbox and to a real kube-apiserver v1.36 (started once from `KUBEBUILDER_ASSETS`),
//! and their answers are compared: status code, reason, the field paths of `details.causes`,
//! `Warning` headers and the stored object after defaulting (uids, times, resourceVersions,
//! generated names, cluster IPs and node ports normalised).
//!
//! A difference either is fixed in the sandbox or is listed, with its reason, in
//! `tests/differential/known-differences.yaml`; an unexplained difference fails with both
//! answers, and so does a listed difference that no longer reproduces.
mod harness;

use harness::{Known, Outcome, Scenario};

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

#[test]
fn scenarios_and_known_differences_are_well_formed() {
    let scenarios = Scenario::load_all(&data_dir().join("scenarios")).expect("scenarios parse");
    assert!(
        scenarios.len() >= 80,
        "the suite needs at least 80 scenarios, has {}",
        scenarios.len()
    );
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "scenario names must be unique");
    let known = Known::load(&data_dir().join("known-differences.yaml")).expect("known parse");
    for entry in &known {
        assert!(
            !entry.reason.trim().is_empty(),
            "known difference {} needs a reason",
            entry.id
        );
        assert!(
            names.iter().any(|n| entry.matches_scenario(n)),
            "known difference {} names no scenario ({})",
            entry.id,
            entry.scenario
        );
    }
    // The table is mirrored in the sandbox's module docs and the README.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "crates/sandbox/src/lib.rs"] {
        let text = std::fs::read_to_string(root.join(doc)).expect("doc readable");
        for entry in &known {
            assert!(
                text.contains(&format!("`{}`", entry.id)),
                "{doc} does not list known difference `{}`",
                entry.id
            );
        }
    }
}

#[test]
fn sandbox_answers_as_kube_apiserver_does() {
    let Some(assets) = std::env::var_os("KUBEBUILDER_ASSETS").filter(|a| !a.is_empty()) else {
        println!(
            "skipped: KUBEBUILDER_ASSETS is not set, so there is no real kube-apiserver to compare \
             the sandbox with; set it to a directory holding etcd and kube-apiserver v1.36 \
             (e.g. `../shared/envtest/unpack DIR`) to run the differential suite"
        );
        return;
    };
    let scenarios = Scenario::load_all(&data_dir().join("scenarios")).expect("scenarios parse");
    let known = Known::load(&data_dir().join("known-differences.yaml")).expect("known parse");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome: Outcome = runtime.block_on(harness::run(
        std::path::PathBuf::from(assets),
        &scenarios,
        &known,
    ));
    println!("{}", outcome.summary());
    assert!(outcome.passed(), "{}", outcome.failures());
}
