//! Watch mode on a sandbox cluster: edits reach the cluster, nothing else is written, errors
//! are reported and watching goes on, and --prune deletes exactly what is no longer rendered.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::run::RunningRunner;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::backend::Backend;
use crate::common::fixture::Env;
use crate::common::Fixture;
use serde_json::Value;

const PLAYBOOK: &str = r#"
let c = cluster("c1");
step("apply", || {
    c.apply(template("app.yaml.j2"));
});
"#;

/// The variables' schema beside the playbook: `team` is one of two colours.
const SCHEMA: &str = "type: object\nproperties:\n  team: {enum: [blue, green]}\n";

fn template(replicas: u32, team: &str, with_b: bool) -> String {
    let mut text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n  labels:\n    team: {team}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers: [{{name: web, image: web:1}}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\ndata:\n  k: v\n"
    );
    if with_b {
        text.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: default\ndata:\n  k: v\n");
    }
    text
}

struct Watcher {
    env: Env,
    kubeconfig: PathBuf,
    child: RunningRunner,
    events: mpsc::Receiver<Value>,
}

impl Watcher {
    fn start() -> Watcher {
        Watcher::start_with("json")
    }

    /// `output` is `json` (events) or `human` (each line as a JSON string).
    fn start_with(output: &str) -> Watcher {
        let env = Fixture::new()
            .file("playbooks/app.rhai", PLAYBOOK)
            .file("templates/app.yaml.j2", &template(1, "blue", true))
            .file("vars.yaml", "team: blue\n")
            .file("playbooks/app.vars.schema.yaml", SCHEMA)
            .clusters(Backend::Sandbox, &["c1"])
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        let mut child = crate::common::runner()
            .current_dir(env.dir())
            .args([
                "play",
                "playbooks/app.rhai",
                "--watch",
                "--prune",
                "--output",
                output,
                "--vars",
                "vars.yaml",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, events) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) if event.is_object() => {
                        let _ = tx.send(event);
                    }
                    _ => {
                        let _ = tx.send(Value::String(line));
                    }
                }
            }
        });
        let mut watcher = Watcher {
            env,
            kubeconfig,
            child,
            events,
        };
        if output == "json" {
            watcher.until("watching");
        } else {
            watcher.lines_until("watching ");
        }
        watcher
    }

    /// Human lines up to and including the first that starts with `prefix`.
    fn lines_until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .events
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no line starting with {prefix:?}; saw {seen:?}"));
            let line = line.as_str().unwrap_or_default().to_string();
            let done = line.starts_with(prefix);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.path(rel)
    }

    /// Events up to and including the first of `kind`.
    fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .events
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {kind} event; saw {seen:?}"));
            let done = event["event"] == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.kubectl(&[args, &["-o", "json"]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn save(&self, rel: &str, text: &str) {
        // A moment between saves, as between a person's edits; the watcher debounces bursts.
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(self.path(rel), text).unwrap();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn changed(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "object" && e["action"] != "unchanged")
        .map(|e| {
            format!(
                "{} {} {}",
                e["action"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn resource_version(w: &Watcher, args: &[&str]) -> String {
    w.json(args)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn edits_are_applied_errors_survive_and_prune_deletes_exactly_the_removed_object() {
    let mut w = Watcher::start();
    assert_eq!(w.json(&["get", "deployment", "web"])["spec"]["replicas"], 1);
    let a_version = resource_version(&w, &["get", "configmap", "a"]);

    // Replicas and a label change: only the Deployment is written.
    w.save("templates/app.yaml.j2", &template(3, "green", true));
    let events = w.until("watch_run");
    assert_eq!(changed(&events), vec!["configured Deployment web"]);
    assert_eq!(events.last().unwrap()["status"], "applied");
    assert!(events.last().unwrap()["latency_ms"].as_u64().is_some());
    let web = w.json(&["get", "deployment", "web"]);
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["metadata"]["labels"]["team"], "green");
    assert_eq!(
        resource_version(&w, &["get", "configmap", "a"]),
        a_version,
        "nothing else is written"
    );

    // A syntax error is reported with its place, and watching goes on.
    w.save(
        "playbooks/app.rhai",
        "let c = cluster(\"c1\")\nstep(\"apply\", || { c.apply(template(\"app.yaml.j2\")) ;\n",
    );
    let events = w.until("watch_run");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "error"
                && e["message"].as_str().unwrap().contains("syntax error")),
        "{events:?}"
    );
    assert!(changed(&events).is_empty());

    // Fixing it recovers.
    w.save("playbooks/app.rhai", PLAYBOOK);
    let events = w.until("watch_run");
    assert_eq!(events.last().unwrap()["status"], "applied");

    // A removed document is pruned: exactly that object.
    w.save("templates/app.yaml.j2", &template(3, "green", false));
    let events = w.until("watch_run");
    assert_eq!(changed(&events), vec!["deleted ConfigMap b"], "{events:?}");
    let gone = w.kubectl(&["get", "configmap", "b"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
    assert!(w.kubectl(&["get", "configmap", "a"]).status.success());
    assert!(w.kubectl(&["get", "deployment", "web"]).status.success());
}

#[test]
fn a_run_that_renders_nothing_never_prunes_everything() {
    let mut w = Watcher::start();
    w.save("templates/app.yaml.j2", "# nothing here any more\n");
    let events = w.until("watch_run");
    assert!(changed(&events).is_empty(), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "warning"
                && e["message"].as_str().unwrap().contains("not pruning")),
        "{events:?}"
    );
    assert!(w.kubectl(&["get", "configmap", "b"]).status.success());
    let _ = Path::new("");
}

#[test]
fn a_change_during_a_run_queues_exactly_one_more_run() {
    let mut w = Watcher::start();
    // A slow step: the run is still going when the second save lands.
    let slow = PLAYBOOK.replace(
        "step(\"apply\", || {",
        "step(\"apply\", || {\n    exec(\"sleep\", [\"0.8\"]);",
    );
    w.save("playbooks/app.rhai", &slow);
    let first = w.until("watch_run");
    assert_eq!(first.last().unwrap()["status"], "applied");

    w.save("templates/app.yaml.j2", &template(2, "blue", true));
    w.until("step_started");
    // Mid-run: the run that is going on is not cancelled, one more run follows it.
    w.save("templates/app.yaml.j2", &template(5, "blue", true));
    let during = w.until("watch_run");
    assert_eq!(
        during.last().unwrap()["status"],
        "applied",
        "the run in progress completes"
    );
    let queued = w.until("watch_run");
    assert_eq!(queued.last().unwrap()["status"], "applied");
    assert_eq!(
        w.json(&["get", "deployment", "web"])["spec"]["replicas"],
        5,
        "the last save wins"
    );
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        if let Ok(event) = w.events.recv_timeout(left) {
            assert_ne!(
                event["event"], "play_started",
                "no further run without a further change"
            );
        }
    }
}

#[test]
fn template_and_variables_errors_are_reported_and_watching_goes_on() {
    let mut w = Watcher::start();
    w.save(
        "templates/app.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ broken\n",
    );
    let events = w.until("watch_run");
    assert_eq!(
        events.last().unwrap()["status"],
        "failed (nothing more applied; still watching)"
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .expect("an error event");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("templates/app.yaml.j2:4"),
        "{error}"
    );

    // A broken vars file is reported and nothing runs until it is fixed.
    w.save("vars.yaml", "team: [unclosed\n");
    let events = w.until("error");
    assert!(
        events.iter().all(|e| e["event"] != "play_started"),
        "{events:?}"
    );
    assert!(
        events.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("vars.yaml"),
        "{events:?}"
    );
    let note = w.until("log");
    assert!(
        note.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("not run"),
        "{note:?}"
    );

    w.save("vars.yaml", "team: green\n");
    let events = w.until("watch_run");
    assert_eq!(events.last().unwrap()["trigger"], "vars.yaml");
    w.save("templates/app.yaml.j2", &template(4, "green", true));
    let events = w.until("watch_run");
    assert_eq!(events.last().unwrap()["status"], "applied", "{events:?}");
    assert_eq!(w.json(&["get", "deployment", "web"])["spec"]["replicas"], 4);
}

#[test]
fn a_rerun_prints_the_file_that_changed_the_objects_it_changed_and_the_time_from_save() {
    let mut w = Watcher::start_with("human");
    w.save("templates/app.yaml.j2", &template(3, "blue", true));
    let lines = w.lines_until("  applied:");
    let time = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").unwrap();
    let lines: Vec<String> = lines
        .iter()
        .map(|l| time.replace_all(l, "TIME").into_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "",
            "▶ templates/app.yaml.j2 changed",
            "  c1           configured Deployment default/web",
            "  applied: c1: 1 changed · TIME from save to last apply",
        ]
    );
}

#[test]
fn a_schema_edit_is_checked_and_a_fixed_schema_runs_the_play_again() {
    let mut w = Watcher::start();
    // The same vars.yaml, now refused by the schema: reported, and nothing runs.
    w.save(
        "playbooks/app.vars.schema.yaml",
        "type: object\nproperties:\n  team: {enum: [green]}\n",
    );
    let events = w.until("error");
    assert!(
        events.iter().all(|e| e["event"] != "play_started"),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap()["message"],
        "vars.yaml:1: vars.team: expected one of green, not a string (\"blue\")",
        "{events:?}"
    );
    w.save("playbooks/app.vars.schema.yaml", SCHEMA);
    let events = w.until("watch_run");
    assert_eq!(
        events.last().unwrap()["trigger"],
        "playbooks/app.vars.schema.yaml"
    );
    assert_eq!(events.last().unwrap()["status"], "applied", "{events:?}");
}
