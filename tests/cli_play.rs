//! End-to-end: the built `runner` binary on small playbooks in temporary projects.

use crate::common;

use common::Fixture;
use serde_json::Value;

#[test]
fn a_play_reports_steps_changes_and_recap() {
    let p = Fixture::new().build();
    p.write(
        "templates/cm.yaml.j2",
        "name: {{ name }}\nreplicas: {{ replicas }}\n",
    );
    p.write(
        "playbooks/site.rhai",
        r#"
        step("render", || {
            write_file("out/cm.yaml", template("cm.yaml.j2"));
        });
        step("look", || { let x = read_file("out/cm.yaml"); });
        "#,
    );
    p.write("playbooks/site.vars.yaml", "name: demo\nreplicas: 1\n");
    p.test()
        .masking_timings()
        .args(["play", "playbooks/site.rhai", "--var", "replicas=3"])
        .stdout(r#"PLAY playbooks/site.rhai

STEP [render]
  created    file out/cm.yaml
  => changed · local · created 1 · TIME

STEP [look]
  => ok · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("out/cm.yaml"), "name: demo\nreplicas: 3\n");

    // The second run changes nothing and says so.
    p.test()
        .masking_timings()
        .args(["play", "playbooks/site.rhai", "--var", "replicas=3"])
        .stdout(r#"PLAY playbooks/site.rhai

STEP [render]
  => ok · unchanged 1 · TIME

STEP [look]
  => ok · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=1    deleted=0    steps ok=2   failed=0   rescued=0
nothing changed
"#)
        .stderr("")
        .status(0)
        .run();
}

#[test]
fn variables_layer_defaults_then_files_then_flags() {
    let p = Fixture::new().build();
    p.write(
        "templates/v.j2",
        "{{ a }} {{ b }} {{ c }} {{ nested.x }} {{ nested.y }}",
    );
    p.write(
        "playbooks/v.rhai",
        r#"write_file("out.txt", template("v.j2"));"#,
    );
    p.write(
        "playbooks/v.vars.yaml",
        "a: default\nb: default\nc: default\nnested: {x: 1, y: 1}\n",
    );
    p.write("one.yaml", "b: one\nc: one\n");
    p.write("two.yaml", "c: two\nnested: {y: 2}\n");
    p.test()
        .masking_timings()
        .args([
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
        .stdout(r#"PLAY playbooks/v.rhai
  created    file out.txt

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=0   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("out.txt"), "last one two 3 2");
}

#[test]
fn with_defaults_lets_command_line_values_win() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/d.rhai",
        r#"let vars = with_defaults(#{ replicas: 1, mesh: "m1" });
           write_file("out.txt", `${vars.replicas} ${vars.mesh}`);"#,
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/d.rhai", "--var", "replicas=3"])
        .stdout(r#"PLAY playbooks/d.rhai
  created    file out.txt

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=0   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("out.txt"), "3 m1");
}

#[test]
fn imports_resolve_relative_to_the_playbook() {
    let p = Fixture::new().build();
    p.write("playbooks/lib/common.rhai", "fn twice(x) { x * 2 }");
    p.write(
        "playbooks/i.rhai",
        r#"import "lib/common" as common; write_file("out.txt", `${common::twice(21)}`);"#,
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/i.rhai"])
        .stdout(r#"PLAY playbooks/i.rhai
  created    file out.txt

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=0   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("out.txt"), "42");
}

#[test]
fn only_and_start_at_run_part_of_a_play() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/s.rhai",
        r#"
        step("one", || write_file("1", "x"));
        step("two", || write_file("2", "x"));
        step("three", || write_file("3", "x"));
        "#,
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/s.rhai", "--only", "one,three"])
        .stdout(r#"PLAY playbooks/s.rhai

STEP [one]
  created    file 1
  => changed · local · created 1 · TIME
STEP [two] skipped (not in --only)

STEP [three]
  created    file 3
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=2    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0
skipped steps: 1
"#)
        .stderr("")
        .status(0)
        .run();
    assert!(p.exists("1") && !p.exists("2") && p.exists("3"));

    let q = Fixture::new().build();
    q.write("playbooks/s.rhai", &p.read("playbooks/s.rhai"));
    q.test()
        .masking_timings()
        .args(["play", "playbooks/s.rhai", "--start-at", "two"])
        .stdout(r#"PLAY playbooks/s.rhai
STEP [one] skipped (before --start-at)

STEP [two]
  created    file 2
  => changed · local · created 1 · TIME

STEP [three]
  created    file 3
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=2    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0
skipped steps: 1
"#)
        .stderr("")
        .status(0)
        .run();
    assert!(!q.exists("1") && q.exists("2") && q.exists("3"));

    q.test()
        .masking_timings()
        .args(["play", "playbooks/s.rhai", "--only", "four"])
        .stdout(
            r#"PLAY playbooks/s.rhai

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr(
            r#"  × no step named "four" in this play
  help: steps of this play, in play order: one, two, three
"#,
        )
        .status(1)
        .run();
}

#[test]
fn json_output_is_one_event_per_line() {
    let p = Fixture::new().build();
    p.write(
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
    let p = Fixture::new().build();
    p.write(
        "playbooks/r.rhai",
        r#"try { step("flaky", || { throw "nope"; }); } catch (e) { print(`handled: ${e}`); }
           step("after", || write_file("after", "x"));"#,
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/r.rhai"])
        .stdout(r#"PLAY playbooks/r.rhai

STEP [flaky]
  => failed · TIME
  handled: nope

STEP [after]
  created    file after
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=1
"#)
        .stderr("")
        .status(0)
        .run();
}

#[test]
fn parallel_runs_every_item_and_keeps_the_order() {
    let p = Fixture::new().build();
    p.write(
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
    p.test()
        .sorting_runs_of("  created    file ")
        .masking_timings()
        .args(["play", "playbooks/p.rhai"])
        .stdout(r#"PLAY playbooks/p.rhai

STEP [fan-out]
  created    file caught
  created    file par/1
  created    file par/10
  created    file par/2
  created    file par/3
  created    file par/4
  created    file par/5
  created    file par/6
  created    file par/7
  created    file par/8
  created    file par/9
  created    file results
  => changed · local · created 12 · TIME

PLAY RECAP (TIME)
local    : created=12   configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("results"), "[2, 4, 6, 8, 10, 12, 14, 16, 18, 20]");
    assert_eq!(p.read("par/7"), "107");
    assert_eq!(p.read("caught"), "item two failed");
}

/// Nested `parallel` calls run their items side by side even when the outer call already uses
/// every worker: each inner pair only finishes once both of its items have started.
#[test]
fn nested_parallel_calls_do_not_wait_for_each_other() {
    let p = Fixture::new().build();
    p.write(
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
    p.test()
        .sorting_runs_of("  created    file ")
        .masking_timings()
        .args(["play", "playbooks/p.rhai"])
        .stdout(r#"PLAY playbooks/p.rhai

STEP [fan-out]
  created    file results
  created    file started/1-1
  created    file started/1-2
  created    file started/2-1
  created    file started/2-2
  created    file started/3-1
  created    file started/3-2
  created    file started/4-1
  created    file started/4-2
  created    file started/5-1
  created    file started/5-2
  created    file started/6-1
  created    file started/6-2
  created    file started/7-1
  created    file started/7-2
  created    file started/8-1
  created    file started/8-2
  => changed · local · created 17 · TIME

PLAY RECAP (TIME)
local    : created=17   configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("results"), "8 [1, 2]");
}

/// A method called on a captured variable holds it for the whole call. Each item works on its
/// own copy, so two items inside such a call at once neither wait for nor fail on each other,
/// and what they change stays with them.
#[test]
fn parallel_items_each_work_on_their_own_copy_of_captured_variables() {
    let p = Fixture::new().build();
    p.write(
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
    p.test()
        .sorting_runs_of("  created    file ")
        .masking_timings()
        .args(["play", "playbooks/p.rhai"])
        .stdout(r#"PLAY playbooks/p.rhai

STEP [fan-out]
  created    file results
  created    file started/1
  created    file started/2
  => changed · local · created 3 · TIME

PLAY RECAP (TIME)
local    : created=3    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(p.read("results"), "[1, 2] 0");
}

#[test]
fn plan_flags_without_a_plan_or_with_a_bad_mode_are_usage_errors() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/site.rhai",
        r#"step("s", || { write_file("out/x", "x"); });"#,
    );
    p.test()
        .args(["play", "playbooks/site.rhai", "--detailed-exitcode"])
        .stdout("")
        .stderr(
            r#"error: the following required arguments were not provided:
  --dry-run

Usage: runner play --dry-run --detailed-exitcode <PLAYBOOK>

For more information, try '--help'.
"#,
        )
        .status(2)
        .run();
    p.test()
        .args(["play", "playbooks/site.rhai", "--dry-run", "--diff", "all"])
        .stdout("")
        .stderr(
            r#"error: invalid value 'all' for '--diff <MODE>'
  [possible values: none, summary, full]

  tip: a similar value exists: 'full'

For more information, try '--help'.
"#,
        )
        .status(2)
        .run();
    assert!(!p.exists("out"));
}

#[test]
fn a_plan_of_local_files_exits_3_with_changes_and_0_without() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/site.rhai",
        r#"step("s", || { write_file("out/x", "x"); });"#,
    );
    p.test()
        .masking_timings()
        .args([
        "play",
        "playbooks/site.rhai",
        "--dry-run",
        "--detailed-exitcode",
    ])
        .stdout(r#"PLAY playbooks/site.rhai (dry run: nothing is written)
PLAN: 0 to create, 0 to change, 0 to delete (0 unchanged); 1 local change(s)
  CLUSTER  KIND  NAMESPACE/NAME  ACTION
  local    -     file out/x      create

STEP [s]
  would write file out/x
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(3)
        .run();
    assert!(!p.exists("out"));
    // Without --detailed-exitcode a plan with changes is a success.
    p.test()
        .masking_timings()
        .args(["play", "playbooks/site.rhai", "--dry-run"])
        .stdout(r#"PLAY playbooks/site.rhai (dry run: nothing is written)
PLAN: 0 to create, 0 to change, 0 to delete (0 unchanged); 1 local change(s)
  CLUSTER  KIND  NAMESPACE/NAME  ACTION
  local    -     file out/x      create

STEP [s]
  would write file out/x
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    p.test()
        .masking_timings()
        .args(["play", "playbooks/site.rhai"])
        .stdout(r#"PLAY playbooks/site.rhai

STEP [s]
  created    file out/x
  => changed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    p.test()
        .masking_timings()
        .args([
        "play",
        "playbooks/site.rhai",
        "--dry-run",
        "--detailed-exitcode",
    ])
        .stdout(r#"PLAY playbooks/site.rhai (dry run: nothing is written)
PLAN: no changes (0 objects unchanged)

STEP [s]
  => ok · unchanged 1 · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=1    deleted=0    steps ok=1   failed=0   rescued=0
nothing changed
"#)
        .stderr("")
        .status(0)
        .run();
}
