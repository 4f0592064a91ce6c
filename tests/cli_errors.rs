//! Every error path of the core: one clear report, the right exit code, no panic, no backtrace.

use crate::common;

use common::Project;
use predicates::prelude::*;

fn no_backtrace() -> impl Predicate<str> {
    predicate::str::contains("panicked")
        .not()
        .and(predicate::str::contains("stack backtrace").not())
}

#[test]
fn syntax_error_names_file_line_and_column_with_a_caret() {
    let p = Project::new();
    p.file("playbooks/s.rhai", "let a = 1;\nlet b = ;\n");
    p.runner(&["play", "playbooks/s.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("syntax error"))
        .stderr(predicate::str::contains("playbooks/s.rhai:2:9"))
        .stderr(predicate::str::contains("let b = ;"))
        .stderr(no_backtrace());
}

#[test]
fn runtime_error_names_the_step_and_the_line() {
    let p = Project::new();
    p.file(
        "playbooks/r.rhai",
        "step(\"cacerts\", || {\n    let x = 1;\n    let y = x + template(2);\n});\n",
    );
    p.runner(&["play", "playbooks/r.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "step [cacerts] failed: no function template(integer): template takes other arguments (see: runner api template)",
        ))
        .stderr(predicate::str::contains("playbooks/r.rhai:3:17"))
        .stderr(no_backtrace());
}

#[test]
fn strict_variables_catch_typos_before_running() {
    let p = Project::new();
    p.file(
        "playbooks/t.rhai",
        "write_file(\"x\", \"1\");\nlet a = 1;\nprint(b);\n",
    );
    p.runner(&["play", "playbooks/t.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "syntax error: Undefined variable: b",
        ))
        .stderr(predicate::str::contains("playbooks/t.rhai:3:7"));
    assert!(
        !p.exists("x"),
        "a playbook that does not compile must not run at all"
    );
}

#[test]
fn undefined_template_variable_names_the_template_and_line() {
    let p = Project::new();
    p.file(
        "templates/svc.yaml.j2",
        "kind: Service\nmetadata:\n  name: {{ service_name }}\n",
    );
    p.file(
        "playbooks/t.rhai",
        "step(\"render\", || {\n  template(\"svc.yaml.j2\");\n});\n",
    );
    p.runner(&["play", "playbooks/t.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("templates/svc.yaml.j2:3"))
        .stderr(predicate::str::contains("service_name"))
        .stderr(predicate::str::contains(
            "called from playbooks/t.rhai:2:3 in step [render]",
        ));
}

#[test]
fn bad_var_is_a_usage_error() {
    let p = Project::new();
    p.file("playbooks/v.rhai", "");
    for bad in ["novalue", "a..b=1", "=x"] {
        p.runner(&["play", "playbooks/v.rhai", "--var", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid --var"));
    }
}

#[test]
fn missing_files_are_clear_errors() {
    let p = Project::new();
    p.runner(&["play", "playbooks/nope.rhai"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "playbook playbooks/nope.rhai not found",
        ));
    p.file("playbooks/v.rhai", "");
    p.runner(&["play", "playbooks/v.rhai", "--vars", "missing.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "variables file missing.yaml not found",
        ));
    p.file(
        "playbooks/m.rhai",
        "step(\"load\", || read_file(\"data/none.txt\"));",
    );
    p.runner(&["play", "playbooks/m.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read data/none.txt"));
}

#[test]
fn invalid_vars_file_names_file_and_line() {
    let p = Project::new();
    p.file("playbooks/v.rhai", "");
    p.file("bad.yaml", "a: 1\nb: [unclosed\n");
    p.runner(&["play", "playbooks/v.rhai", "--vars", "bad.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml:"))
        .stderr(predicate::str::contains("invalid YAML"));
}

#[test]
fn runaway_loop_stops_with_a_clear_error() {
    let p = Project::new();
    p.file("playbooks/l.rhai", "step(\"spin\", || { loop { } });");
    p.runner(&["play", "playbooks/l.rhai", "--max-operations", "100000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ran more than 100000 operations"))
        .stderr(predicate::str::contains("step [spin] failed"));
}

#[test]
fn paths_may_not_escape_the_project_root() {
    let p = Project::new();
    p.file(
        "playbooks/e.rhai",
        "step(\"escape\", || read_file(\"../../etc/passwd\"));",
    );
    p.runner(&["play", "playbooks/e.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("outside the project root"));
    p.file(
        "playbooks/w.rhai",
        "write_file(\"/tmp/runner-escape-test\", \"x\");",
    );
    p.runner(&["play", "playbooks/w.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("outside the project root"));
}

#[test]
fn invalid_yaml_in_a_playbook_names_the_document_and_line() {
    let p = Project::new();
    p.file(
        "playbooks/y.rhai",
        "step(\"parse\", || yaml::parse(\"a: 1\\n---\\nb: [\\n\"));",
    );
    p.runner(&["play", "playbooks/y.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid YAML in document 2"));
}

#[test]
fn interrupting_a_play_reports_the_step_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let p = Project::new();
    p.file("playbooks/i.rhai", "step(\"spin\", || { loop { } });");
    let mut child = crate::common::runner()
        .args(["play", "playbooks/i.rhai", "--max-operations", "0"])
        .current_dir(p.path())
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
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted in step [spin]"));
}

#[test]
fn a_template_missing_a_key_names_it_and_the_keys_beside_it() {
    let p = Project::new();
    p.file(
        "templates/svc.yaml.j2",
        "kind: Service\nmetadata:\n  name: {{ app.nmae }}\n",
    );
    p.file(
        "playbooks/t.rhai",
        "let app = #{ name: \"web\", port: 80 };\nstep(\"render\", || {\n  write_file(\"out\", template(\"svc.yaml.j2\", #{ app: app }));\n});\n",
    );
    p.runner(&["play", "playbooks/t.rhai"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "× step [render] failed: template templates/svc.yaml.j2:3: app has no key nmae; did you mean name? (keys: name, port)\n",
        ))
        .stderr(predicate::str::contains(
            "called from playbooks/t.rhai:3:21 in step [render]",
        ));
    assert!(!p.exists("out"));
}
