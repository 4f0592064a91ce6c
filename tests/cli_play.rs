//! End-to-end: the built `runner` binary on small playbooks in temporary projects.

use crate::common;

use common::Project;
use predicates::prelude::*;
use serde_json::Value;

#[test]
fn a_play_reports_steps_changes_and_recap() {
    let p = Project::new();
    p.file(
        "templates/cm.yaml.j2",
        "name: {{ name }}\nreplicas: {{ replicas }}\n",
    );
    p.file(
        "playbooks/site.rhai",
        r#"
        step("render", || {
            write_file("out/cm.yaml", template("cm.yaml.j2"));
        });
        step("look", || { let x = read_file("out/cm.yaml"); });
        "#,
    );
    p.file("playbooks/site.vars.yaml", "name: demo\nreplicas: 1\n");
    p.runner(&["play", "playbooks/site.rhai", "--var", "replicas=3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("STEP [render]"))
        .stdout(predicate::str::contains("created    file out/cm.yaml"))
        .stdout(predicate::str::contains("PLAY RECAP"))
        .stdout(predicate::str::contains(
            "\nlocal    : created=1    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0\n",
        ));
    assert_eq!(p.read("out/cm.yaml"), "name: demo\nreplicas: 3\n");

    // The second run changes nothing and says so.
    p.runner(&["play", "playbooks/site.rhai", "--var", "replicas=3"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\nlocal    : created=0    configured=0    unchanged=1    deleted=0    steps ok=2   failed=0   rescued=0\nnothing changed\n",
        ));
}

#[test]
fn variables_layer_defaults_then_files_then_flags() {
    let p = Project::new();
    p.file(
        "templates/v.j2",
        "{{ a }} {{ b }} {{ c }} {{ nested.x }} {{ nested.y }}",
    );
    p.file(
        "playbooks/v.rhai",
        r#"write_file("out.txt", template("v.j2"));"#,
    );
    p.file(
        "playbooks/v.vars.yaml",
        "a: default\nb: default\nc: default\nnested: {x: 1, y: 1}\n",
    );
    p.file("one.yaml", "b: one\nc: one\n");
    p.file("two.yaml", "c: two\nnested: {y: 2}\n");
    p.runner(&[
        "play",
        "playbooks/v.rhai",
        "--vars",
        "one.yaml",
        "--vars",
        "two.yaml",
        "--var",
        "nested.x=3",
        "--var",
        "a=flag",
        "--var",
        "a=last",
    ])
    .assert()
    .success();
    assert_eq!(p.read("out.txt"), "last one two 3 2");
}

#[test]
fn with_defaults_lets_command_line_values_win() {
    let p = Project::new();
    p.file(
        "playbooks/d.rhai",
        r#"let vars = with_defaults(#{ replicas: 1, mesh: "m1" });
           write_file("out.txt", `${vars.replicas} ${vars.mesh}`);"#,
    );
    p.runner(&["play", "playbooks/d.rhai", "--var", "replicas=3"])
        .assert()
        .success();
    assert_eq!(p.read("out.txt"), "3 m1");
}

#[test]
fn imports_resolve_relative_to_the_playbook() {
    let p = Project::new();
    p.file("playbooks/lib/common.rhai", "fn twice(x) { x * 2 }");
    p.file(
        "playbooks/i.rhai",
        r#"import "lib/common" as common; write_file("out.txt", `${common::twice(21)}`);"#,
    );
    p.runner(&["play", "playbooks/i.rhai"]).assert().success();
    assert_eq!(p.read("out.txt"), "42");
}

#[test]
fn only_and_start_at_run_part_of_a_play() {
    let p = Project::new();
    p.file(
        "playbooks/s.rhai",
        r#"
        step("one", || write_file("1", "x"));
        step("two", || write_file("2", "x"));
        step("three", || write_file("3", "x"));
        "#,
    );
    p.runner(&["play", "playbooks/s.rhai", "--only", "one,three"])
        .assert()
        .success()
        .stdout(predicate::str::contains("STEP [two] skipped"));
    assert!(p.exists("1") && !p.exists("2") && p.exists("3"));

    let q = Project::new();
    q.file("playbooks/s.rhai", &p.read("playbooks/s.rhai"));
    q.runner(&["play", "playbooks/s.rhai", "--start-at", "two"])
        .assert()
        .success();
    assert!(!q.exists("1") && q.exists("2") && q.exists("3"));

    q.runner(&["play", "playbooks/s.rhai", "--only", "four"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no step named \"four\""))
        .stderr(predicate::str::contains(
            "steps of this play, in play order: one, two, three",
        ));
}

#[test]
fn json_output_is_one_event_per_line() {
    let p = Project::new();
    p.file(
        "playbooks/j.rhai",
        r#"step("a", || { warn("careful"); }); step("b", || { throw "boom"; });"#,
    );
    let out = p
        .runner(&["play", "playbooks/j.rhai", "--output", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let events: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "play_started",
            "step_started",
            "warning",
            "step_finished",
            "step_started",
            "step_finished",
            "error",
            "play_finished"
        ]
    );
    assert_eq!(events[3]["status"], "ok");
    assert_eq!(events[5]["status"], "failed");
    assert_eq!(events[6]["step"], "b");
    assert_eq!(events[7]["status"], "failed");
}

#[test]
fn a_caught_step_failure_is_rescued_and_the_play_goes_on() {
    let p = Project::new();
    p.file(
        "playbooks/r.rhai",
        r#"try { step("flaky", || { throw "nope"; }); } catch (e) { print(`handled: ${e}`); }
           step("after", || write_file("after", "x"));"#,
    );
    p.runner(&["play", "playbooks/r.rhai"])
        .assert()
        .success()
        .stdout(predicate::str::contains("handled: nope"))
        .stdout(predicate::str::contains(
            "\nlocal    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=1\n",
        ));
}

#[test]
fn parallel_runs_every_item_and_keeps_the_order() {
    let p = Project::new();
    p.file(
        "playbooks/p.rhai",
        r#"
        let offset = 100;
        step("fan-out", || {
            let out = parallel([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], |x| { write_file(`par/${x}`, `${x + offset}`); x * 2 });
            write_file("results", `${out}`);
            try { parallel([1, 2, 3], |x| { if x == 2 { throw "item two failed"; } x }); }
            catch (e) { write_file("caught", `${e}`); }
        });
        "#,
    );
    p.runner(&["play", "playbooks/p.rhai"]).assert().success();
    assert_eq!(p.read("results"), "[2, 4, 6, 8, 10, 12, 14, 16, 18, 20]");
    assert_eq!(p.read("par/7"), "107");
    assert_eq!(p.read("caught"), "item two failed");
}

/// Nested `parallel` calls run their items side by side even when the outer call already uses
/// every worker: each inner pair only finishes once both of its items have started.
#[test]
fn nested_parallel_calls_do_not_wait_for_each_other() {
    let p = Project::new();
    p.file(
        "playbooks/p.rhai",
        r#"
        fn meet(outer, me, other) {
            write_file(`started/${outer}-${me}`, "");
            let waited = 0;
            while !file_exists(`started/${outer}-${other}`) {
                waited += 1;
                if waited > 200000 { throw `item ${outer}-${me} never met ${outer}-${other}`; }
            }
            me
        }
        step("fan-out", || {
            let out = parallel([1, 2, 3, 4, 5, 6, 7, 8], |o| parallel([1, 2], |i| meet(o, i, 3 - i)));
            write_file("results", `${out.len()} ${out[7]}`);
        });
        "#,
    );
    p.runner(&["play", "playbooks/p.rhai"]).assert().success();
    assert_eq!(p.read("results"), "8 [1, 2]");
}

/// A method called on a captured variable holds it for the whole call. Each item works on its
/// own copy, so two items inside such a call at once neither wait for nor fail on each other,
/// and what they change stays with them.
#[test]
fn parallel_items_each_work_on_their_own_copy_of_captured_variables() {
    let p = Project::new();
    p.file(
        "playbooks/p.rhai",
        r#"
        fn meet(me, other) {
            write_file(`started/${me}`, "");
            let waited = 0;
            while !file_exists(`started/${other}`) {
                waited += 1;
                if waited > 200000 { throw `item ${me} never met item ${other}`; }
            }
            this.seen += 1;
            me
        }
        let tally = #{ seen: 0 };
        step("fan-out", || {
            let out = parallel([1, 2], |i| tally.meet(i, 3 - i));
            write_file("results", `${out} ${tally.seen}`);
        });
        "#,
    );
    p.runner(&["play", "playbooks/p.rhai"]).assert().success();
    assert_eq!(p.read("results"), "[1, 2] 0");
}

#[test]
fn plan_flags_without_a_plan_or_with_a_bad_mode_are_usage_errors() {
    let p = Project::new();
    p.file(
        "playbooks/site.rhai",
        r#"step("s", || { write_file("out/x", "x"); });"#,
    );
    p.runner(&["play", "playbooks/site.rhai", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the following required arguments were not provided:\n  --dry-run",
        ));
    p.runner(&["play", "playbooks/site.rhai", "--dry-run", "--diff", "all"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'all' for '--diff <MODE>'",
        ))
        .stderr(predicate::str::contains(
            "[possible values: none, summary, full]",
        ));
    assert!(!p.exists("out"));
}

#[test]
fn a_plan_of_local_files_exits_3_with_changes_and_0_without() {
    let p = Project::new();
    p.file(
        "playbooks/site.rhai",
        r#"step("s", || { write_file("out/x", "x"); });"#,
    );
    p.runner(&[
        "play",
        "playbooks/site.rhai",
        "--dry-run",
        "--detailed-exitcode",
    ])
    .assert()
    .code(3)
    .stdout(predicate::str::contains("  would write file out/x\n"));
    assert!(!p.exists("out"));
    // Without --detailed-exitcode a plan with changes is a success.
    p.runner(&["play", "playbooks/site.rhai", "--dry-run"])
        .assert()
        .code(0);
    p.runner(&["play", "playbooks/site.rhai"]).assert().code(0);
    p.runner(&[
        "play",
        "playbooks/site.rhai",
        "--dry-run",
        "--detailed-exitcode",
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains(
        "PLAN: no changes (0 objects unchanged)\n",
    ));
}
