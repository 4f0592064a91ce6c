//! What a play prints: targets first, quiet waits, summaries of what changed, warnings once and
//! marked in a rehearsal, a recap of objects, `--limit`, `--only` errors, JSON error events.

use crate::common;
use crate::common::backend::Backend;

use common::Fixture;
use serde_json::Value;

/// Ports and durations vary from run to run: they are replaced by placeholders.
fn normalized(text: &str) -> String {
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let duration = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").unwrap();
    let text = port.replace_all(text, "127.0.0.1:PORT");
    duration.replace_all(&text, "TIME").into_owned()
}

const PLAYBOOK: &str = r#"let cs = declare_clusters(["cluster-1", "cluster-2"]);
let one = cs[0];
let config = #{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "a", namespace: "default" }, data: #{ k: "v" } };
step("config", || {
    one.apply(config);
    cs[1].get("Namespace", "default");
    warn("the same warning");
});
step("again", || {
    warn("the same warning");
    warn_real_clusters("cluster-2: a loopback address");
    one.apply(config);
    one.wait_until("ConfigMap", "a", |o| o.data.k == "v", #{ namespace: "default", timeout: 5 });
});
"#;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_play_lists_its_targets_first_and_prints_only_what_changed() {
    let p = Fixture::new().build();
    p.write("playbooks/out.rhai", PLAYBOOK);
    let out = p
        .runner(&["play", "playbooks/out.rhai", "--sandbox"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = normalized(&stdout(&out));
    let play: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("SANDBOX"))
        .collect();
    assert_eq!(
        play,
        [
            "PLAY playbooks/out.rhai",
            "TARGET cluster-1  context=cluster-1  server=https://127.0.0.1:PORT  preflight ok",
            "TARGET cluster-2  context=cluster-2  server=https://127.0.0.1:PORT  preflight ok",
            "",
            "STEP [config]",
            "  cluster-1    created    ConfigMap default/a",
            "  warning: the same warning",
            "  => changed · cluster-1 · created 1 · TIME",
            "",
            "STEP [again]",
            "  warning (expected in a sandbox): cluster-2: a loopback address",
            "  => ok · unchanged 1 · TIME",
            "",
            "PLAY RECAP (TIME)",
            "cluster-1 : created=1    configured=0    unchanged=1    deleted=0    steps ok=2   failed=0   rescued=0",
            "cluster-2 : created=0    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0",
            "",
        ]
    );
}

const BOTH: &str = r#"let cs = declare_clusters(["cluster-1", "cluster-2"]);
step("config", || {
    for c in cs {
        c.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "a", namespace: "default" }, data: #{ k: c.name } });
    }
});
step("read-back", || {
    if cs[0].get("ConfigMap", "a", #{ namespace: "default" }) == () { throw "the plan is not seen by later reads"; }
});
step("zeta", || {});
step("alpha", || {});
"#;

#[test]
fn limit_changes_only_the_named_clusters_and_reports_the_others_as_skipped() {
    let p = Fixture::new().build();
    p.write("playbooks/both.rhai", BOTH);
    let out = p
        .runner(&[
            "play",
            "playbooks/both.rhai",
            "--sandbox",
            "--limit",
            "cluster-2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = normalized(&stdout(&out));
    let play: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("SANDBOX"))
        .collect();
    assert_eq!(
        play[3..],
        [
            "",
            "STEP [config]",
            "  cluster-1    skipped    ConfigMap default/a (not in --limit; would be created)",
            "  cluster-2    created    ConfigMap default/a",
            "  => changed · cluster-2 · created 1 · TIME",
            "",
            "STEP [read-back]",
            "  => ok · TIME",
            "",
            "STEP [zeta]",
            "  => ok · TIME",
            "",
            "STEP [alpha]",
            "  => ok · TIME",
            "",
            "PLAY RECAP (TIME)",
            "cluster-1 : created=0    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0  (not in --limit: 1 object(s) skipped)",
            "cluster-2 : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0",
            "local     : created=0    configured=0    unchanged=0    deleted=0    steps ok=2   failed=0   rescued=0",
            "",
        ]
    );
    // The sandbox inventory shows what is really there: nothing in cluster-1.
    assert!(
        text.contains("cluster-2 (1 objects)\n  ConfigMap                        default/a\n"),
        "{text}"
    );
    assert!(!text.contains("cluster-1 (1 objects)"), "{text}");
}

#[test]
fn a_limit_naming_no_cluster_of_the_play_fails_before_the_first_step() {
    let p = Fixture::new().build();
    p.write("playbooks/both.rhai", BOTH);
    let out = p
        .runner(&[
            "play",
            "playbooks/both.rhai",
            "--sandbox",
            "--limit",
            "cluster-9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("STEP"), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some("  × --limit cluster-9: this play has no cluster of that name (its clusters: cluster-1, cluster-2)"),
        "{stderr}"
    );
}

#[test]
fn only_and_start_at_errors_list_the_steps_in_play_order_before_any_step_runs() {
    let p = Fixture::new().build();
    p.write("playbooks/both.rhai", BOTH);
    let out = p
        .runner(&[
            "play",
            "playbooks/both.rhai",
            "--sandbox",
            "--only",
            "alpah",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("TARGET"), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        [
            "  × no step named \"alpah\" in this play",
            "  help: steps of this play, in play order: config, read-back, zeta, alpha",
        ]
    );
    let out = p
        .runner(&[
            "play",
            "playbooks/both.rhai",
            "--sandbox",
            "--start-at",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("help: steps of this play, in play order: config, read-back, zeta, alpha"));
}

fn events(output: &std::process::Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn json_error_events_carry_step_file_line_and_column() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/boom.rhai",
        "step(\"first\", || {});\nstep(\"boom\", || {\n    let x = 1 + \"a\" - 2;\n});\n",
    );
    let out = p
        .runner(&["play", "playbooks/boom.rhai", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let events = events(&out);
    let errors: Vec<&Value> = events.iter().filter(|e| e["event"] == "error").collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    let error = errors[0];
    assert_eq!(error["step"], "boom");
    assert_eq!(error["file"], "playbooks/boom.rhai");
    assert_eq!(error["line"], 3);
    assert_eq!(error["column"], 21);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("no function"),
        "{error}"
    );
}

#[test]
fn json_output_prints_each_fact_once() {
    let p = Fixture::new().build();
    p.write("playbooks/out.rhai", PLAYBOOK);
    let out = p
        .runner(&[
            "play",
            "playbooks/out.rhai",
            "--sandbox",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let kinds: Vec<String> = events(&out)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "play_started",
            "target",
            "target",
            "step_started",
            "object",
            "warning",
            "step_finished",
            "step_started",
            "warning",
            "object",
            "wait",
            "step_finished",
            "play_finished",
            "sandbox_inventory",
        ]
    );
    let events = events(&out);
    assert_eq!(events[1]["preflight"], "ok");
    assert_eq!(events[8]["expected_in_sandbox"], true);
    assert_eq!(events[5]["expected_in_sandbox"], false);
    let recap = &events[12]["recap"][0];
    assert_eq!(recap["host"], "cluster-1");
    assert_eq!(
        (recap["created"].as_u64(), recap["unchanged"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_output_logs_requests_and_never_a_token() {
    let sandbox = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let token = sandbox
        .sandbox()
        .cluster("cluster-1")
        .unwrap()
        .admin_token()
        .to_string();
    let p = Fixture::new().build();
    p.write(
        "playbooks/v.rhai",
        "let c = declare_clusters([\"cluster-1\"])[0];\nstep(\"s\", || { c.apply(#{ apiVersion: \"v1\", kind: \"ConfigMap\", metadata: #{ name: \"v\", namespace: \"default\" } }); });\n",
    );
    let kubeconfig = sandbox.kubeconfig().display().to_string();
    let args = [
        "-vv",
        "play",
        "playbooks/v.rhai",
        "--kubeconfig",
        &kubeconfig,
        "--yes",
    ];
    // Whatever RUST_LOG asks for, the HTTP libraries' header logs stay off.
    let out = p
        .runner(&args)
        .env(
            "RUST_LOG",
            "trace,h2=trace,hyper=trace,hyper_util=trace,rustls=trace,kube=trace",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let server = regex::Regex::new(r"https://127\.0\.0\.1:\d+").unwrap();
    let logged: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("runner::http"))
        .map(|l| {
            server
                .replace_all(l.split_once("runner::http: ").unwrap().1, "SERVER")
                .into_owned()
        })
        .map(|l| {
            regex::Regex::new(r"\(\d+ ms\)")
                .unwrap()
                .replace_all(&l, "(T)")
                .into_owned()
        })
        .collect();
    assert!(
        logged.starts_with(&[
            "GET SERVER/api/v1/namespaces?&limit=1".to_string(),
            "GET SERVER/api/v1/namespaces?&limit=1 -> 200 (T)".to_string(),
        ]),
        "{stderr}"
    );
    assert!(
        logged.contains(
            &"PATCH SERVER/api/v1/namespaces/default/configmaps/v?&fieldManager=runner&fieldValidation=Strict -> 201 (T)"
                .to_string()
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(&token), "the token leaked into -vv output");
    assert!(!stderr.to_lowercase().contains("authorization"), "{stderr}");
    assert!(
        !stderr.contains("h2::") && !stderr.contains("hyper"),
        "{stderr}"
    );
    // Without -v and RUST_LOG, nothing is logged.
    let quiet = p
        .runner(&args[1..])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_prints_one_line_only_when_it_lasted_more_than_a_second() {
    // The sandbox gives load balancers their address 1.5 s after they are asked for.
    let sandbox = Fixture::new()
        .sandbox_options(runner_sandbox::SandboxOptions {
            clusters: vec!["cluster-1".into()],
            lb_delay: std::time::Duration::from_millis(1500),
            ..Default::default()
        })
        .start()
        .await;
    let p = Fixture::new().build();
    p.write(
        "playbooks/lb.rhai",
        r#"let c = declare_clusters(["cluster-1"])[0];
step("lb", || {
    c.apply(#{ apiVersion: "v1", kind: "Service", metadata: #{ name: "edge", namespace: "default" },
               spec: #{ type: "LoadBalancer", ports: [#{ port: 443 }] } });
    c.wait_loadbalancer("edge", #{ namespace: "default", timeout: 30 });
    c.wait_loadbalancer("edge", #{ namespace: "default", timeout: 30 });
});
"#,
    );
    let kubeconfig = sandbox.kubeconfig().display().to_string();
    let out = p
        .runner(&["play", "playbooks/lb.rhai", "--kubeconfig", &kubeconfig])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = normalized(&stdout(&out));
    let step: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .take_while(|l| !l.is_empty())
        .collect();
    // The second wait found the address at once: no line.
    assert_eq!(
        step,
        [
            "STEP [lb]",
            "  cluster-1    created    Service default/edge",
            "  waited TIME for a load balancer IP of Service default/edge in cluster-1",
            "  => changed · cluster-1 · created 1 · TIME",
        ]
    );
}

#[test]
fn local_files_are_counted_in_the_step_summary_and_the_recap_and_a_second_run_says_nothing_changed()
{
    let p = Fixture::new().build();
    p.write(
        "playbooks/files.rhai",
        "step(\"files\", || { write_file(\"out/a\", \"x\"); });\n",
    );
    let run = || {
        let out = p
            .runner(&["play", "playbooks/files.rhai"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        normalized(&stdout(&out))
    };
    assert_eq!(
        run(),
        "PLAY playbooks/files.rhai\n\nSTEP [files]\n  created    file out/a\n  => changed · local · created 1 · TIME\n\nPLAY RECAP (TIME)\nlocal    : created=1    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0\n"
    );
    assert_eq!(
        run(),
        "PLAY playbooks/files.rhai\n\nSTEP [files]\n  => ok · unchanged 1 · TIME\n\nPLAY RECAP (TIME)\nlocal    : created=0    configured=0    unchanged=1    deleted=0    steps ok=1   failed=0   rescued=0\nnothing changed\n"
    );
}

#[test]
fn limit_does_not_run_a_program_that_names_a_cluster_left_out() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/e.rhai",
        r#"let cs = declare_clusters(["cluster-1", "cluster-2"]);
step("programs", || {
    for c in cs {
        exec("sh", ["-c", "echo ran > out-$2", "sh", "--context", c.context]);
    }
});
"#,
    );
    let out = p
        .runner(&[
            "play",
            "playbooks/e.rhai",
            "--sandbox",
            "--limit",
            "cluster-2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = normalized(&stdout(&out));
    let step: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        step,
        [
            "STEP [programs]",
            "  not in --limit (cluster-1): would run: sh -c 'echo ran > out-$2' sh --context cluster-1",
            "  => ok · TIME",
        ]
    );
    assert!(
        !p.exists("out-cluster-1"),
        "a program changed a cluster --limit left out"
    );
    assert_eq!(p.read("out-cluster-2"), "ran\n");
}

#[test]
fn very_verbose_output_shows_what_the_sandbox_served() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/v.rhai",
        "let c = declare_clusters([\"cluster-1\"])[0];\nstep(\"s\", || { c.get(\"Namespace\", \"default\"); });\n",
    );
    let out = p
        .runner(&["-vv", "play", "playbooks/v.rhai", "--sandbox"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let server = regex::Regex::new(r"https://127\.0\.0\.1:\d+").unwrap();
    let served: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.split_once("runner::sandbox: "))
        .map(|(_, l)| server.replace_all(l, "SERVER").into_owned())
        .collect();
    assert_eq!(
        served,
        [
            "cluster-1: GET SERVER/api/v1/namespaces?&limit=1 -> 200",
            "cluster-1: GET SERVER/api/v1 -> 200",
            "cluster-1: GET SERVER/api/v1/namespaces/default -> 200",
            // The end of the run reads the cluster's inventory (none yet: nothing was applied).
            "cluster-1: GET SERVER/api/v1/namespaces/kube-system/configmaps/runner-inventory-v -> 404",
        ],
        "{stderr}"
    );
    assert!(!stderr.to_lowercase().contains("bearer"), "{stderr}");
}
