//! Every kind of error, pinned caret for caret: the real binary on real bad input, its exit
//! status and its whole stderr.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::fixture::Env;
use common::Fixture;

/// Runs `runner ARGS` in the project and asserts the exit status and the whole stderr.
#[track_caller]
fn assert_error(project: &Env, args: &[&str], status: i32, stderr: &str) {
    let output = project.runner(args).output().expect("runner runs");
    let actual = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        actual, stderr,
        "stderr of runner {args:?}:\n{actual}\nexpected:\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(status), "{actual}");
}

#[test]
fn usage_a_playbook_that_does_not_exist() {
    let p = Fixture::new().build();
    assert_error(
        &p,
        &["play", "playbooks/missing.rhai"],
        2,
        "  × playbook playbooks/missing.rhai not found
  help: pass the path of a .rhai playbook, for example playbooks/primary-remote.rhai
",
    );
}

#[test]
fn usage_a_context_flag_without_a_cluster_name() {
    let p = Fixture::new().build();
    p.write("playbooks/p.rhai", "print(1);\n");
    assert_error(
        &p,
        &["play", "playbooks/p.rhai", "--context", "prod-east"],
        2,
        "  × invalid --context \"prod-east\": expected NAME=CONTEXT, for example --context cluster-1=prod-east
",
    );
}

#[test]
fn variables_a_vars_file_that_is_not_yaml() {
    let p = Fixture::new().build();
    p.write("playbooks/p.rhai", "print(vars);\n");
    p.write("bad.vars.yaml", "replicas: [1\n");
    assert_error(
        &p,
        &["play", "playbooks/p.rhai", "--vars", "bad.vars.yaml"],
        2,
        "  × bad.vars.yaml:2:1: invalid YAML
  ╰─▶ did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 11
",
    );
}

#[test]
fn template_an_undefined_variable_points_at_the_template_line() {
    let p = Fixture::new().build();
    p.write(
        "templates/svc.yaml.j2",
        "kind: Service\nmetadata:\n  name: {{ service_name }}\n",
    );
    p.write(
        "playbooks/t.rhai",
        "step(\"render\", || {\n    template(\"svc.yaml.j2\");\n});\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/t.rhai"],
        1,
        "  × step [render] failed: template templates/svc.yaml.j2:3: undefined variable service_name
  ╰─▶ called from playbooks/t.rhai:2:5 in step [render]
   ╭─[templates/svc.yaml.j2:3:12]
 2 │ metadata:
 3 │   name: {{ service_name }}
   ·            ──────┬─────
   ·                  ╰── here
   ╰────
  help: define the value in the play's variables (vars file or --var) or pass it in the template() context
",
    );
}

#[test]
fn io_a_missing_file_says_its_cause_once() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/io.rhai",
        "step(\"load\", || {\n    let text = read_file(\"missing.txt\");\n});\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/io.rhai"],
        1,
        "  × step [load] failed: cannot read missing.txt
  ╰─▶ No such file or directory (os error 2)
   ╭─[playbooks/io.rhai:2:16]
 1 │ step(\"load\", || {
 2 │     let text = read_file(\"missing.txt\");
   ·                ────┬────
   ·                    ╰── in step [load]
 3 │ });
   ╰────
",
    );
}

#[test]
fn step_failed_the_innermost_step_is_blamed() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/nested.rhai",
        "step(\"outer\", || {\n    step(\"inner\", || {\n        let ports = [80, 443];\n        let port = ports[2];\n    });\n});\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/nested.rhai"],
        1,
        "  × step [inner] failed: Array index 2 out of bounds: only 2 elements in array
   ╭─[playbooks/nested.rhai:4:26]
 3 │         let ports = [80, 443];
 4 │         let port = ports[2];
   ·                          ┬
   ·                          ╰── in step [inner]
 5 │     });
   ╰────
",
    );
}

#[test]
fn step_failed_an_outer_step_that_fails_otherwise_is_blamed_itself() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/outer.rhai",
        "step(\"outer\", || {\n    try {\n        step(\"inner\", || read_file(\"missing.txt\"));\n    } catch {\n        throw \"the inner step failed\";\n    }\n});\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/outer.rhai"],
        1,
        "  × step [outer] failed: the inner step failed
   ╭─[playbooks/outer.rhai:5:9]
 4 │     } catch {
 5 │         throw \"the inner step failed\";
   ·         ──┬──
   ·           ╰── in step [outer]
 6 │     }
   ╰────
",
    );
}

#[test]
fn step_failed_a_caught_step_error_is_not_blamed_for_a_later_failure() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/caught.rhai",
        "try {\n    step(\"load\", || read_file(\"missing.txt\"));\n} catch (e) {\n    print(`caught: ${e}`);\n}\nread_file(\"missing.txt\");\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/caught.rhai"],
        1,
        "  × cannot read missing.txt
  ╰─▶ No such file or directory (os error 2)
   ╭─[playbooks/caught.rhai:6:1]
 5 │ }
 6 │ read_file(\"missing.txt\");
   · ────┬────
   ·     ╰── here
   ╰────
",
    );
}

#[test]
fn playbook_a_thrown_value() {
    let p = Fixture::new().build();
    p.write("playbooks/throw.rhai", "let a = 1;\nthrow \"gave up\";\n");
    assert_error(
        &p,
        &["play", "playbooks/throw.rhai"],
        1,
        "  × gave up
   ╭─[playbooks/throw.rhai:2:1]
 1 │ let a = 1;
 2 │ throw \"gave up\";
   · ──┬──
   ·   ╰── here
   ╰────
",
    );
}

// Rhai gives an error of a namespaced function (`certs::`, `json::`) no position, unlike an
// unqualified call's: the caret falls back to the step's call. A binding that throws with its
// NativeCallContext's position would put it on line 2; these two tests then change with it.
#[test]
fn certificates_an_unknown_key_type() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/ca.rhai",
        "step(\"ca\", || {\n    certs::ensure_root_ca(\"certs\", #{ key_type: \"rsa-1024\" });\n});\n",
    );
    assert_error(
        &p,
        &["play", "playbooks/ca.rhai"],
        1,
        "  × step [ca] failed: certs::ensure_root_ca: invalid options: unknown key type \"rsa-1024\"; valid key types: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384
   ╭─[playbooks/ca.rhai:1:1]
 1 │ step(\"ca\", || {
   · ──┬─
   ·   ╰── in step [ca]
 2 │     certs::ensure_root_ca(\"certs\", #{ key_type: \"rsa-1024\" });
   ╰────
  help: options: key_type, validity_days, organization, common_name, country, state, locality, expiry_warn_days, lock_wait_secs
",
    );
    assert!(!p.exists("certs"), "nothing is created for refused options");
}

#[test]
fn certificates_a_file_that_cannot_be_read_says_why_once() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/inspect.rhai",
        "step(\"inspect\", || {\n    certs::inspect_file(\"certs/missing.pem\");\n});\n",
    );
    let missing = p.dir().join("certs/missing.pem");
    let expected = format!(
        "  × step [inspect] failed: {}
  ╰─▶ No such file or directory (os error 2)
   ╭─[playbooks/inspect.rhai:1:1]
 1 │ step(\"inspect\", || {{
   · ──┬─
   ·   ╰── in step [inspect]
 2 │     certs::inspect_file(\"certs/missing.pem\");
   ╰────
",
        missing.display()
    );
    assert_error(&p, &["play", "playbooks/inspect.rhai"], 1, &expected);
}

#[test]
fn cluster_a_kubeconfig_that_does_not_exist() {
    let p = Fixture::new().build();
    p.write("playbooks/kc.rhai", "let c = cluster(\"east\");\n");
    assert_error(
        &p,
        &["play", "playbooks/kc.rhai", "--kubeconfig", "nope.yaml"],
        1,
        "  × kubeconfig nope.yaml not found
   ╭─[playbooks/kc.rhai:1:9]
 1 │ let c = cluster(\"east\");
   ·         ───┬───
   ·            ╰── here
   ╰────
  help: --kubeconfig must name an existing kubeconfig file
",
    );
}

#[test]
fn api_status_names_the_cluster_and_the_object() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/api.rhai",
        r#"let c = cluster("east");
step("config", || {
    apply(c, #{
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: #{ name: "Bad_Name", namespace: "default" },
    });
});
"#,
    );
    assert_error(
        &p,
        &["play", "playbooks/api.rhai", "--sandbox"],
        1,
        r#"  × step [config] failed: east: cannot apply ConfigMap default/Bad_Name: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (reason Invalid, HTTP 422)
   ╭─[playbooks/api.rhai:3:5]
 2 │ step("config", || {
 3 │     apply(c, #{
   ·     ──┬──
   ·       ╰── in step [config]
 4 │         apiVersion: "v1",
   ╰────
"#,
    );
}

#[test]
fn api_status_in_json_names_the_cluster_the_object_and_the_status() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/api.rhai",
        r#"let c = cluster("east");
apply(c, #{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "Bad_Name", namespace: "default" } });
"#,
    );
    let output = p
        .runner(&[
            "play",
            "playbooks/api.rhai",
            "--sandbox",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let error: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error event in {stdout}"));
    assert_eq!(
        (
            &error["kind"],
            &error["step"],
            &error["cluster"],
            &error["object"],
            &error["http_status"],
            &error["line"],
        ),
        (
            &serde_json::json!("api-status"),
            &serde_json::Value::Null,
            &serde_json::json!("east"),
            &serde_json::json!("ConfigMap default/Bad_Name"),
            &serde_json::json!(422),
            &serde_json::json!(2),
        )
    );
    assert_eq!(output.status.code(), Some(1));
}

/// Runs a playbook whose step spins until `signal` arrives; returns stderr and the exit code.
fn interrupt_spinning_step(signal: libc::c_int) -> (String, Option<i32>) {
    let p = Fixture::new().build();
    p.write(
        "playbooks/spin.rhai",
        "step(\"spin\", || {\n    write_file(\"ready\", \"\");\n    loop { }\n});\n",
    );
    let mut child = common::runner()
        .args(["play", "playbooks/spin.rhai"])
        .current_dir(p.dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The file is the event that says the step is running.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists("ready") {
        assert!(Instant::now() < deadline, "the step never started");
        assert!(child.try_wait().unwrap().is_none(), "runner ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let output = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}

const INTERRUPTED_IN_SPIN: &str =
    "runner: interrupting: abandoning the current request (Ctrl-C again to exit at once)
runner: interrupted in step [spin]
";

#[test]
fn interrupted_ctrl_c_names_the_step() {
    assert_eq!(
        interrupt_spinning_step(libc::SIGINT),
        (INTERRUPTED_IN_SPIN.to_string(), Some(130))
    );
}

#[test]
fn interrupted_sigterm_takes_the_same_way_out_with_143() {
    assert_eq!(
        interrupt_spinning_step(libc::SIGTERM),
        (INTERRUPTED_IN_SPIN.to_string(), Some(143))
    );
}

#[test]
fn json_output_says_the_step_once_and_the_message_whole() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/io.rhai",
        "step(\"load\", || {\n    let text = read_file(\"missing.txt\");\n});\n",
    );
    let output = p
        .runner(&["play", "playbooks/io.rhai", "--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let error = stdout
        .lines()
        .find(|l| l.contains(r#""event":"error""#))
        .unwrap_or_else(|| panic!("no error event in {stdout}"));
    assert_eq!(
        error,
        r#"{"event":"error","kind":"io","step":"load","message":"cannot read missing.txt: No such file or directory (os error 2)","file":"playbooks/io.rhai","line":2,"column":16,"cluster":null,"object":null,"http_status":null}"#
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn cluster_a_sandbox_state_directory_that_is_a_file() {
    let p = Fixture::new().build();
    p.write("state", "not a directory\n");
    assert_error(
        &p,
        &["sandbox", "up", "--clusters", "a", "--state", "state"],
        1,
        "  × cannot write sandbox state state
  ╰─▶ File exists (os error 17)
",
    );
}

#[test]
fn cluster_a_sandbox_kubeconfig_in_a_missing_directory() {
    let p = Fixture::new().build();
    let output = p
        .runner(&[
            "sandbox",
            "up",
            "--clusters",
            "a",
            "--kubeconfig",
            "nodir/kc.yaml",
        ])
        .output()
        .unwrap();
    let dir = p.dir().display().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&dir, "DIR");
    // The temporary file the kubeconfig is written through has a random name.
    let stderr = regex::Regex::new(r"\.tmp[A-Za-z0-9]+")
        .unwrap()
        .replace_all(&stderr, ".tmpRANDOM");
    assert_eq!(
        stderr,
        "  × cannot write kubeconfig DIR/nodir/kc.yaml
  ╰─▶ No such file or directory (os error 2) at path \"DIR/nodir/.tmpRANDOM\"
"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn io_init_below_a_file_says_what_it_could_not_create_and_why() {
    let p = Fixture::new().build();
    p.write("taken", "a file, not a directory\n");
    assert_error(
        &p,
        &["init", "taken/mesh"],
        2,
        "  × cannot create taken/mesh/playbooks
  ╰─▶ Not a directory (os error 20)
",
    );
}

/// Runs `runner play p.rhai ARGS` with `env` set and asserts a usage error with this stderr.
#[track_caller]
fn assert_retry_usage(args: &[&str], env: &[(&str, &str)], stderr: &str) {
    let p = Fixture::new().build();
    p.write("p.rhai", "print(1);\n");
    let mut runner = p.runner(&["play", "p.rhai"]);
    runner.args(args);
    for (key, value) in env {
        runner.env(key, value);
    }
    let output = runner.output().expect("runner runs");
    let actual = String::from_utf8_lossy(&output.stderr);
    assert_eq!(actual, stderr, "stderr of runner {args:?} {env:?}");
    assert_eq!(output.status.code(), Some(2), "{actual}");
}

#[test]
fn usage_retries_out_of_range_or_not_a_number() {
    let expected = |value: &str| {
        format!(
            "error: invalid value '{value}' for '--retries <N>': the number of retries is a whole number from 0 to 100

For more information, try '--help'.
"
        )
    };
    assert_retry_usage(&["--retries", "101"], &[], &expected("101"));
    assert_retry_usage(&["--retries", "1.5"], &[], &expected("1.5"));
    assert_retry_usage(&[], &[("RUNNER_RETRIES", "many")], &expected("many"));
}

#[test]
fn usage_retry_backoff_that_is_not_min_to_max() {
    let expected = |value: &str, why: &str| {
        format!(
            "error: invalid value '{value}' for '--retry-backoff <MIN..MAX>': {why}

For more information, try '--help'.
"
        )
    };
    let cases = [
        ("2s", "expected MIN..MAX, for example 100ms..2s"),
        ("2s..100ms", "MIN (2s) is longer than MAX (100ms)"),
        (
            "fast..2s",
            "MIN \"fast\" is not a duration (write it as 250ms, 2s or 1m)",
        ),
        ("0s..2s", "MIN must be at least 1ms"),
        ("1s..1h", "MAX must be at most 10m"),
    ];
    for (value, why) in cases {
        assert_retry_usage(&["--retry-backoff", value], &[], &expected(value, why));
    }
    assert_retry_usage(
        &[],
        &[("RUNNER_RETRY_BACKOFF", "100ms")],
        &expected("100ms", "expected MIN..MAX, for example 100ms..2s"),
    );
}

#[test]
fn usage_request_timeout_that_is_not_a_duration() {
    let expected = |value: &str, why: &str| {
        format!(
            "error: invalid value '{value}' for '--request-timeout <DURATION>': {why}

For more information, try '--help'.
"
        )
    };
    assert_retry_usage(
        &["--request-timeout", "15"],
        &[],
        &expected(
            "15",
            "the timeout \"15\" is not a duration (write it as 250ms, 2s or 1m)",
        ),
    );
    assert_retry_usage(
        &["--request-timeout", "0s"],
        &[],
        &expected("0s", "the timeout must be at least 1ms"),
    );
    assert_retry_usage(
        &[],
        &[("RUNNER_REQUEST_TIMEOUT", "1h")],
        &expected("1h", "the timeout must be at most 10m"),
    );
}

/// A caught error's kind, HTTP status and reason are what a playbook decides on; a thrown
/// value is caught as itself.
#[test]
fn a_caught_error_says_its_kind_status_and_reason() {
    let p = Fixture::new().build();
    p.write(
        "p.rhai",
        r#"let c = cluster("cluster-1");
try {
    c.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "Not_Valid" }, data: #{ a: "1" } });
} catch (e) {
    print(`${e.kind} ${e.status} ${e.reason}`);
}
try {
    read_file("missing.txt");
} catch (e) {
    print(`${e.kind} ${e.status == ()} ${e.reason == ()} | ${e.message} | ${e.causes}`);
}
try {
    throw "plain";
} catch (e) {
    print(`${type_of(e)} ${e}`);
}
"#,
    );
    let output = p
        .runner(&["play", "p.rhai", "--sandbox", "--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let printed: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "log")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        printed,
        [
            "api_status 422 Invalid",
            "io true true | cannot read missing.txt | [\"No such file or directory (os error 2)\"]",
            "string plain"
        ]
    );
}
