//! `runner play --sandbox`: the rehearsal path of the README's quickstart, through the binary.

use crate::common;

use common::fixture::Env;
use common::Fixture;
use predicates::prelude::*;

/// `runner` in the project, with no kubeconfig anywhere in reach.
fn runner(project: &Env, args: &[&str]) -> crate::common::Runner {
    let mut cmd = project.runner(args);
    cmd.env("HOME", project.dir());
    cmd
}

#[test]
fn the_flagship_playbook_rehearses_on_sandboxes_and_verifies() {
    let project = Fixture::new().build();
    crate::common::copy_shipped(project.dir());
    runner(
        &project,
        &["play", "playbooks/primary-remote.rhai", "--sandbox"],
    )
    .assert()
    .success()
    .stdout(predicate::str::is_match(r"verified: \d+ cluster\(s\) share one root").unwrap())
    .stdout(predicate::str::contains("SANDBOX CLUSTERS"));
    assert!(project.exists("certs/root-key.pem"));
}

#[test]
fn programs_the_play_runs_reach_the_sandboxes() {
    let project = Fixture::new().build();
    project.write(
        "tool.rhai",
        r#"
        let alpha = cluster("alpha");
        let beta = cluster("beta");
        alpha.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n");
        let seen = exec("kubectl", ["--context", "alpha", "get", "namespace", "team-a", "-o", "name"]);
        print(`kubectl saw ${seen.stdout}`);
        let other = exec("kubectl", ["--context", "beta", "get", "namespace", "team-a"], #{check: false});
        print(`beta answered ${other.code}`);
        // A cluster named after a program ran is there for the next program.
        let gamma = cluster("gamma");
        gamma.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-g\n");
        let late = exec("kubectl", ["--context", "gamma", "get", "namespace", "team-g", "-o", "name"]);
        print(`late kubectl saw ${late.stdout}`);
        "#,
    );
    runner(&project, &["play", "tool.rhai", "--sandbox"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kubectl saw namespace/team-a"))
        .stdout(predicate::str::contains("beta answered 1"))
        .stdout(predicate::str::contains(
            "late kubectl saw namespace/team-g",
        ));
}
