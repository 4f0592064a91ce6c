//! Every error path of the core: one clear report, the right exit code, no panic, no backtrace.

use crate::common;

use common::fixture::{masked, same};
use common::Fixture;

#[test]
fn syntax_error_names_file_line_and_column_with_a_caret() {
    let p = Fixture::new().build();
    p.write("playbooks/s.rhai", "let a = 1;\nlet b = ;\n");
    p.test()
        .masking_timings()
        .args(["play", "playbooks/s.rhai"])
        .stdout(
            r#"PLAY playbooks/s.rhai

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr(
            r#"  × syntax error: Unexpected ';'
   ╭─[playbooks/s.rhai:2:9]
 1 │ let a = 1;
 2 │ let b = ;
   ·         ┬
   ·         ╰── here
   ╰────
"#,
        )
        .status(1)
        .run();
}

#[test]
fn runtime_error_names_the_step_and_the_line() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/r.rhai",
        "step(\"cacerts\", || {\n    let x = 1;\n    let y = x + template(2);\n});\n",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/r.rhai"])
        .stdout(r#"PLAY playbooks/r.rhai

STEP [cacerts]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [cacerts] failed: no function template(integer): template takes other arguments (see: runner api template)
   ╭─[playbooks/r.rhai:3:17]
 2 │     let x = 1;
 3 │     let y = x + template(2);
   ·                 ────┬───
   ·                     ╰── in step [cacerts]
 4 │ });
   ╰────
"#)
        .status(1)
        .run();
}

#[test]
fn strict_variables_catch_typos_before_running() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/t.rhai",
        "write_file(\"x\", \"1\");\nlet a = 1;\nprint(b);\n",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/t.rhai"])
        .stdout(
            r#"PLAY playbooks/t.rhai

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr(
            r#"  × syntax error: Undefined variable: b
   ╭─[playbooks/t.rhai:3:7]
 2 │ let a = 1;
 3 │ print(b);
   ·       ┬
   ·       ╰── here
   ╰────
"#,
        )
        .status(1)
        .run();
    assert!(
        !p.exists("x"),
        "a playbook that does not compile must not run at all"
    );
}

#[test]
fn undefined_template_variable_names_the_template_and_line() {
    let p = Fixture::new().build();
    p.write(
        "templates/svc.yaml.j2",
        "kind: Service\nmetadata:\n  name: {{ service_name }}\n",
    );
    p.write(
        "playbooks/t.rhai",
        "step(\"render\", || {\n  template(\"svc.yaml.j2\");\n});\n",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/t.rhai"])
        .stdout(r#"PLAY playbooks/t.rhai

STEP [render]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [render] failed: template templates/svc.yaml.j2:3: undefined variable service_name
  ╰─▶ called from playbooks/t.rhai:2:3 in step [render]
   ╭─[templates/svc.yaml.j2:3:12]
 2 │ metadata:
 3 │   name: {{ service_name }}
   ·            ──────┬─────
   ·                  ╰── here
   ╰────
  help: define the value in the play's variables (vars file or --var) or pass it in the template() context
"#)
        .status(1)
        .run();
}

#[test]
fn bad_var_is_a_usage_error() {
    let p = Fixture::new().build();
    p.write("playbooks/v.rhai", "");
    for (bad, expected) in [
        (
            "novalue",
            r#"  × invalid --var "novalue": expected KEY=VALUE, for example --var mesh_id=mesh1
"#,
        ),
        (
            "a..b=1",
            r#"  × invalid --var "a..b=1": the key "a..b" has an empty part; use KEY=VALUE or a.b.c=VALUE
"#,
        ),
        (
            "=x",
            r#"  × invalid --var "=x": the key "" has an empty part; use KEY=VALUE or a.b.c=VALUE
"#,
        ),
    ] {
        p.test()
            .args(["play", "playbooks/v.rhai", "--var", bad])
            .stdout("")
            .stderr(expected)
            .status(2)
            .run();
    }
}

#[test]
fn missing_files_are_clear_errors() {
    let p = Fixture::new().build();
    p.test()
        .args(["play", "playbooks/nope.rhai"])
        .stdout("")
        .stderr(
            r#"  × playbook playbooks/nope.rhai not found
  help: pass the path of a .rhai playbook, for example playbooks/primary-remote.rhai
"#,
        )
        .status(2)
        .run();
    p.write("playbooks/v.rhai", "");
    p.test()
        .args(["play", "playbooks/v.rhai", "--vars", "missing.yaml"])
        .stdout("")
        .stderr("  × variables file missing.yaml not found\n")
        .status(2)
        .run();
    p.write(
        "playbooks/m.rhai",
        "step(\"load\", || read_file(\"data/none.txt\"));",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/m.rhai"])
        .stdout(r#"PLAY playbooks/m.rhai

STEP [load]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [load] failed: cannot read data/none.txt
  ╰─▶ No such file or directory (os error 2)
   ╭─[playbooks/m.rhai:1:17]
 1 │ step("load", || read_file("data/none.txt"));
   ·                 ────┬────
   ·                     ╰── in step [load]
   ╰────
"#)
        .status(1)
        .run();
}

#[test]
fn invalid_vars_file_names_file_and_line() {
    let p = Fixture::new().build();
    p.write("playbooks/v.rhai", "");
    p.write("bad.yaml", "a: 1\nb: [unclosed\n");
    p.test()
        .args(["play", "playbooks/v.rhai", "--vars", "bad.yaml"])
        .stdout("")
        .stderr(r#"  × bad.yaml:3:1: invalid YAML
  ╰─▶ did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 4
"#)
        .status(2)
        .run();
}

#[test]
fn runaway_loop_stops_with_a_clear_error() {
    let p = Fixture::new().build();
    p.write("playbooks/l.rhai", "step(\"spin\", || { loop { } });");
    p.test()
        .masking_timings()
        .args(["play", "playbooks/l.rhai", "--max-operations", "100000"])
        .stdout(r#"PLAY playbooks/l.rhai

STEP [spin]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [spin] failed: the playbook ran more than 100000 operations and was stopped
   ╭─[playbooks/l.rhai:1:1]
 1 │ step("spin", || { loop { } });
   · ──┬─
   ·   ╰── in step [spin]
   ╰────
  help: look for a loop that never ends; a playbook that really needs more can raise the limit with --max-operations
"#)
        .status(1)
        .run();
}

#[test]
fn paths_may_not_escape_the_project_root() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/e.rhai",
        "step(\"escape\", || read_file(\"../../etc/passwd\"));",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/e.rhai"])
        .stdout(r#"PLAY playbooks/e.rhai

STEP [escape]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [escape] failed: path "../../etc/passwd" is outside the project root <project>
   ╭─[playbooks/e.rhai:1:19]
 1 │ step("escape", || read_file("../../etc/passwd"));
   ·                   ────┬────
   ·                       ╰── in step [escape]
   ╰────
  help: playbooks may only read and write files inside their project; use a path relative to the project root
"#)
        .status(1)
        .run();
    p.write(
        "playbooks/w.rhai",
        "write_file(\"/tmp/runner-escape-test\", \"x\");",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/w.rhai"])
        .stdout(r#"PLAY playbooks/w.rhai

PLAY RECAP (TIME)
(no steps ran)
"#)
        .stderr(r#"  × path "/tmp/runner-escape-test" is outside the project root <project>
   ╭─[playbooks/w.rhai:1:1]
 1 │ write_file("/tmp/runner-escape-test", "x");
   · ─────┬────
   ·      ╰── here
   ╰────
  help: playbooks may only read and write files inside their project; use a path relative to the project root
"#)
        .status(1)
        .run();
}

#[test]
fn invalid_yaml_in_a_playbook_names_the_document_and_line() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/y.rhai",
        "step(\"parse\", || yaml::parse(\"a: 1\\n---\\nb: [\\n\"));",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/y.rhai"])
        .stdout(r#"PLAY playbooks/y.rhai

STEP [parse]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [parse] failed: invalid YAML in document 2 at line 4 column 1
  ╰─▶ did not find expected node content at line 4 column 1, while parsing a flow node
   ╭─[playbooks/y.rhai:1:1]
 1 │ step("parse", || yaml::parse("a: 1\n---\nb: [\n"));
   · ──┬─
   ·   ╰── in step [parse]
   ╰────
"#)
        .status(1)
        .run();
}

#[test]
fn interrupting_a_play_reports_the_step_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let p = Fixture::new().build();
    p.write("playbooks/i.rhai", "step(\"spin\", || { loop { } });");
    let mut child = crate::common::runner()
        .args(["play", "playbooks/i.rhai", "--max-operations", "0"])
        .current_dir(p.dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("STEP [spin]") {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout: String = lines.map(|l| l.unwrap() + "\n").collect();
    assert_eq!(output.status.code(), Some(130));
    same(
        "stdout after the step began",
        &masked(&stdout),
        r#"  => interrupted · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#,
    );
    same(
        "stderr",
        &String::from_utf8_lossy(&output.stderr),
        r#"runner: interrupting: abandoning the current request (Ctrl-C again to exit at once)
runner: interrupted in step [spin]
"#,
    );
}

#[test]
fn a_template_missing_a_key_names_it_and_the_keys_beside_it() {
    let p = Fixture::new().build();
    p.write(
        "templates/svc.yaml.j2",
        "kind: Service\nmetadata:\n  name: {{ app.nmae }}\n",
    );
    p.write(
        "playbooks/t.rhai",
        "let app = #{ name: \"web\", port: 80 };\nstep(\"render\", || {\n  write_file(\"out\", template(\"svc.yaml.j2\", #{ app: app }));\n});\n",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/t.rhai"])
        .stdout(r#"PLAY playbooks/t.rhai

STEP [render]
  => failed · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .stderr(r#"  × step [render] failed: template templates/svc.yaml.j2:3: app has no key nmae; did you mean name? (keys: name, port)
  ╰─▶ called from playbooks/t.rhai:3:21 in step [render]
   ╭─[templates/svc.yaml.j2:3:12]
 2 │ metadata:
 3 │   name: {{ app.nmae }}
   ·            ────┬───
   ·                ╰── here
   ╰────
  help: define the value in the play's variables (vars file or --var) or pass it in the template() context
"#)
        .status(1)
        .run();
    assert!(!p.exists("out"));
}
