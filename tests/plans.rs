//! Plans that tell the truth: for every state of a mesh, a dry run's (cluster, kind, namespace,
//! name, action) events equal what the following real run reports, on sandbox clusters reached
//! through a kubeconfig (not `--sandbox`, so these are the paths real clusters take).

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;
use serde_json::Value;

type Row = (String, String, Option<String>, String, String);

/// Sandbox clusters served from this test's runtime and a copy of the playbooks and templates.
struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
    /// TMPDIR of every run: a plan leaves nothing here.
    tmp: tempfile::TempDir,
}

struct Run {
    code: i32,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The (cluster, kind, namespace, name, action) of every object event.
    fn rows(&self) -> BTreeSet<Row> {
        self.of("object")
            .iter()
            .map(|e| {
                (
                    e["cluster"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                    e["namespace"].as_str().map(str::to_string),
                    e["name"].as_str().unwrap().to_string(),
                    e["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn of(&self, event: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == event).collect()
    }

    fn changed(&self) -> BTreeSet<Row> {
        self.rows()
            .into_iter()
            .filter(|r| r.4 != "unchanged")
            .collect()
    }

    fn plan(&self) -> &Value {
        let plans = self.of("plan");
        assert_eq!(plans.len(), 1, "one plan event: {}", self.stdout);
        plans[0]
    }
}

fn row(cluster: &str, kind: &str, namespace: Option<&str>, name: &str, action: &str) -> Row {
    (
        cluster.into(),
        kind.into(),
        namespace.map(str::to_string),
        name.into(),
        action.into(),
    )
}

impl Mesh {
    fn new(clusters: &[&str]) -> Mesh {
        Mesh::on(Backend::Sandbox, clusters)
    }

    /// The mesh's clusters on `backend`: the built-in sandbox or real control planes.
    fn on(backend: Backend, clusters: &[&str]) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, clusters)
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh {
            env,
            kubeconfig,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    fn vars(&self, remotes: &[&str]) -> String {
        let mut text = String::from("certs:\n  key_type: ecdsa-p256\nremotes:\n");
        for r in remotes {
            text.push_str(&format!(
                "  - name: {r}\n    context: {r}\n    network: network1\n    api_server: \"\"\n"
            ));
        }
        let name = format!("mesh-{}.yaml", remotes.join("-"));
        std::fs::write(self.path(&name), text).unwrap();
        name
    }

    fn command(&self, playbook: &str, args: &[&str]) -> crate::common::Runner {
        let mut cmd = crate::common::runner();
        cmd.current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .env("TMPDIR", self.tmp.path())
            .env_remove("KUBECONFIG")
            .args(["play", playbook, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(args);
        cmd
    }

    fn run(&self, playbook: &str, args: &[&str]) -> Run {
        let out = self
            .command(playbook, &[args, &["--output", "json"]].concat())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let events = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        Run {
            code: out.status.code().unwrap_or(-1),
            events,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// The flagship with the rehearsal manifests, with these remotes.
    fn flagship(&self, remotes: &[&str], extra: &[&str]) -> Run {
        let vars = self.vars(remotes);
        let args = [
            &[
                "--vars",
                vars.as_str(),
                "--var",
                "istio.installer=manifests",
            ],
            extra,
        ]
        .concat();
        self.run("playbooks/primary-remote.rhai", &args)
    }

    /// The flagship run to convergence with these remotes; a failure shows what it printed.
    fn converge(&self, remotes: &[&str]) -> Run {
        let run = self.flagship(remotes, &[]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        run
    }

    /// A plan (exit 3: changes planned, 0: none) and the run after it report the same objects.
    fn plan_then_run(&self, remotes: &[&str], expect_changes: bool) -> (Run, Run) {
        let plan = self.flagship(remotes, &["--dry-run", "--detailed-exitcode"]);
        let code = if expect_changes { 3 } else { 0 };
        assert_eq!(plan.code, code, "{}\n{}", plan.stdout, plan.stderr);
        assert!(
            plan.of("object").iter().all(|e| e["dry_run"] == true),
            "{}",
            plan.stdout
        );
        assert_eq!(
            std::fs::read_dir(self.tmp.path()).unwrap().count(),
            0,
            "a plan writes nothing to the temp directory"
        );
        let run = self.flagship(remotes, &[]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(plan.rows(), run.rows(), "the plan equals the run");
        let planned: BTreeSet<Row> = plan.plan()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["cluster"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                    e["namespace"].as_str().map(str::to_string),
                    e["name"].as_str().unwrap().to_string(),
                    e["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            planned,
            run.changed(),
            "the plan's table lists the run's changes"
        );
        (plan, run)
    }
}

fn objects_of(run: &Run, cluster: &str) -> BTreeSet<(String, Option<String>, String)> {
    run.rows()
        .into_iter()
        .filter(|r| r.0 == cluster)
        .map(|r| (r.1, r.2, r.3))
        .collect()
}

fn on_fresh_clusters_the_plan_succeeds_writes_nothing_and_equals_the_run(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2"]);
    let (plan, run) = mesh.plan_then_run(&["cluster-2"], true);
    // Every object once in the table: the 33 the run creates, istiod-external and the reader
    // RBAC included.
    let changes = plan.plan()["changes"].as_array().unwrap().clone();
    assert_eq!(changes.len(), 33, "{changes:#?}");
    assert_eq!(plan.plan()["unchanged"], 0);
    for name in ["istiod-external", "istio-reader-service-account"] {
        assert_eq!(
            changes.iter().filter(|c| c["name"] == name).count(),
            if name == "istiod-external" { 1 } else { 2 },
            "{name}: once per cluster"
        );
    }
    // The intermediates are made in parallel: their order varies.
    let mut local: Vec<String> = plan.plan()["local"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["action"].as_str().unwrap(),
                l["what"].as_str().unwrap()
            )
        })
        .collect();
    local.sort();
    assert_eq!(
        local,
        [
            "created intermediate CA certs/cluster-1",
            "created intermediate CA certs/cluster-2",
            "created root CA certs/root-cert.pem",
        ]
    );
    assert_eq!(run.changed().len(), 33);
    // What a later step needs and only the run can know is shown as known after apply.
    let logs: Vec<&str> = plan
        .of("log")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    // The token controller fills the reader's token: the plan requests no expiring token.
    assert!(
        logs.contains(&"dry run: not waiting for the wait_until predicate of Secret istio-system/istio-reader-service-account-istio-remote-secret-token in cluster-2 (now: exists, without status)"),
        "{logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains("would request")),
        "{logs:#?}"
    );
    let remote_server = plan
        .of("target")
        .iter()
        .find(|t| t["cluster"] == "cluster-2")
        .map(|t| t["server"].as_str().unwrap().to_string())
        .unwrap();
    let not_probed =
        format!("dry run: not probing {remote_server}: the credentials are known after apply");
    assert!(logs.contains(&not_probed.as_str()), "{logs:#?}");
    let finished = plan.of("play_finished");
    assert_eq!(finished[0]["status"], "ok");
}

fn a_converged_mesh_plans_no_change_not_even_the_remote_secret(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2"]);
    mesh.converge(&["cluster-2"]);
    let (plan, run) = mesh.plan_then_run(&["cluster-2"], false);
    assert!(run.changed().is_empty());
    assert_eq!(plan.plan()["changes"], serde_json::json!([]));
    assert_eq!(plan.plan()["local"], serde_json::json!([]));
    assert!(plan.rows().contains(&row(
        "cluster-1",
        "Secret",
        Some("istio-system"),
        "istio-remote-secret-cluster-2",
        "unchanged"
    )));
    // The human plan says so first.
    let out = mesh
        .command(
            "playbooks/primary-remote.rhai",
            &[
                "--vars",
                &mesh.vars(&["cluster-2"]),
                "--var",
                "istio.installer=manifests",
                "--dry-run",
                "--diff",
                "none",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "PLAY playbooks/primary-remote.rhai (dry run: nothing is written)",
            "PLAN: no changes (33 objects unchanged)"
        ],
        "{stdout}"
    );
}

fn adding_a_remote_plans_exactly_its_objects(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    mesh.converge(&["cluster-2"]);
    let (plan, run) = mesh.plan_then_run(&["cluster-2", "cluster-3"], true);
    let changed_clusters: BTreeSet<String> = run.changed().into_iter().map(|r| r.0).collect();
    assert_eq!(
        changed_clusters,
        BTreeSet::from(["cluster-1".to_string(), "cluster-3".to_string()])
    );
    // On the primary only the new remote's secret; the new remote's reader RBAC once.
    let primary: BTreeSet<Row> = run
        .changed()
        .into_iter()
        .filter(|r| r.0 == "cluster-1")
        .collect();
    assert_eq!(
        primary,
        BTreeSet::from([row(
            "cluster-1",
            "Secret",
            Some("istio-system"),
            "istio-remote-secret-cluster-3",
            "created"
        )])
    );
    assert_eq!(
        objects_of(&plan, "cluster-3"),
        objects_of(&run, "cluster-3")
    );
    assert_eq!(
        plan.of("object")
            .iter()
            .filter(|e| e["cluster"] == "cluster-3" && e["kind"] == "ClusterRole")
            .count(),
        1,
        "the reader ClusterRole is planned once"
    );
}

fn a_template_edit_plans_exactly_the_objects_it_changes(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2"]);
    mesh.converge(&["cluster-2"]);
    let template = mesh.path("templates/apps/service.yaml.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    let edited = text.replace(
        "            - containerPort: 8080\n",
        "            - containerPort: 8080\n              name: http\n",
    );
    assert_ne!(text, edited);
    std::fs::write(&template, edited).unwrap();
    let (_, run) = mesh.plan_then_run(&["cluster-2"], true);
    assert_eq!(
        run.changed(),
        BTreeSet::from([
            row(
                "cluster-1",
                "Deployment",
                Some("production"),
                "frontend",
                "configured"
            ),
            row(
                "cluster-2",
                "Deployment",
                Some("production"),
                "backend",
                "configured"
            ),
        ])
    );
}

fn removing_a_remote_plans_what_the_run_does(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    mesh.converge(&["cluster-2", "cluster-3"]);
    // The playbook never detaches a remote by itself: neither the plan nor the run touch it.
    let (plan, _) = mesh.plan_then_run(&["cluster-2"], false);
    assert!(objects_of(&plan, "cluster-3").is_empty());
}

fn each_step_alone_after_a_full_run_changes_nothing(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2"]);
    mesh.converge(&["cluster-2"]);
    for step in [
        "ca",
        "istio-system",
        "control-plane",
        "expose-istiod",
        "remote-data-planes",
        "attach-remotes",
        "alerts",
        "demo-apps",
        "traffic",
        "verify",
    ] {
        let run = mesh.flagship(&["cluster-2"], &["--only", step]);
        assert_eq!(run.code, 0, "{step}: {}\n{}", run.stdout, run.stderr);
        let ran: Vec<&str> = run
            .of("step_finished")
            .iter()
            .map(|e| e["step"].as_str().unwrap())
            .collect();
        assert_eq!(ran, [step]);
        assert_eq!(run.of("step_finished")[0]["status"], "ok", "{step}");
        assert!(run.changed().is_empty(), "{step}: {:?}", run.changed());
        assert!(
            run.of("local").iter().all(|e| e["action"] == "unchanged"),
            "{step}"
        );
    }
}

fn start_at_remote_data_planes_completes_a_run_that_stopped_there(backend: Backend) {
    let mesh = Mesh::on(backend, &["cluster-1", "cluster-2"]);
    let first = mesh.flagship(
        &["cluster-2"],
        &["--only", "ca,istio-system,control-plane,expose-istiod"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Planned first: the plan equals the rest of the run.
    let plan = mesh.flagship(
        &["cluster-2"],
        &["--start-at", "remote-data-planes", "--dry-run"],
    );
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let rest = mesh.flagship(&["cluster-2"], &["--start-at", "remote-data-planes"]);
    assert_eq!(rest.code, 0, "{}\n{}", rest.stdout, rest.stderr);
    assert_eq!(plan.rows(), rest.rows());
    let ran: Vec<&str> = rest
        .of("step_finished")
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        [
            "remote-data-planes",
            "attach-remotes",
            "alerts",
            "demo-apps",
            "traffic",
            "verify"
        ]
    );
    assert!(rest
        .of("step_finished")
        .iter()
        .all(|e| e["status"] != "failed"));
    assert!(rest.rows().contains(&row(
        "cluster-1",
        "Secret",
        Some("istio-system"),
        "istio-remote-secret-cluster-2",
        "created"
    )));
    // The mesh is complete: a full run changes nothing.
    let again = mesh.flagship(&["cluster-2"], &[]);
    assert_eq!(again.code, 0);
    assert!(again.changed().is_empty(), "{:?}", again.changed());
}

const READS: &str = r#"
let c = cluster("cluster-1");
step("write", || {
    c.apply(`
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, labels: {tier: web}}
data: {color: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2}
`);
});
step("read", || {
    print(`color=${c.get("ConfigMap", "settings", #{ namespace: "shop" }).data.color}`);
    print(`exists=${c.exists("Secret", "creds", #{ namespace: "shop" })}`);
    print(`listed=${c.list("ConfigMap", #{ namespace: "shop", labels: #{ tier: "web" } }).map(|o| o.metadata.name)}`);
    print(`password length=${c.read_secret("creds", #{ namespace: "shop" }).password.len()}`);
    c.patch("ConfigMap", "settings", #{ data: #{ color: "green" } }, #{ namespace: "shop" });
    print(`patched=${c.get("ConfigMap", "settings", #{ namespace: "shop" }).data.color}`);
    c.delete("Secret", "creds", #{ namespace: "shop" });
    print(`deleted=${!c.exists("Secret", "creds", #{ namespace: "shop" })}`);
});
"#;

#[test]
fn a_plan_reads_what_it_would_write_as_the_run_does() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(mesh.path("playbooks/reads.rhai"), READS).unwrap();
    let plan = mesh.run(
        "playbooks/reads.rhai",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.run("playbooks/reads.rhai", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let printed = |r: &Run| -> Vec<String> {
        r.of("log")
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    };
    let expected = [
        "color=blue",
        "exists=true",
        "listed=[\"settings\"]",
        "password length=7",
        "patched=green",
        "deleted=true",
    ];
    assert_eq!(printed(&plan), expected);
    assert_eq!(printed(&run), expected);
    let objects = |r: &Run| -> Vec<(String, String)> {
        r.of("object")
            .iter()
            .map(|e| {
                (
                    format!(
                        "{} {}",
                        e["kind"].as_str().unwrap(),
                        e["name"].as_str().unwrap()
                    ),
                    e["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let expected: Vec<(String, String)> = [
        ("Namespace shop", "created"),
        ("ConfigMap settings", "created"),
        ("Secret creds", "created"),
        ("ConfigMap settings", "configured"),
        ("Secret creds", "deleted"),
    ]
    .iter()
    .map(|(o, a)| (o.to_string(), a.to_string()))
    .collect();
    assert_eq!(objects(&plan), expected);
    assert_eq!(objects(&run), expected);
    assert!(!plan.stdout.contains("hunter2") && !plan.stdout.contains("aHVudGVyMg"));

    // Again, on what the run left: the merge patch made another field manager own the
    // ConfigMap's color, so applying blue again conflicts. The plan fails where the run fails.
    let plan = mesh.run(
        "playbooks/reads.rhai",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.run("playbooks/reads.rhai", &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let expected: Vec<(String, String)> =
        [("Namespace shop", "unchanged"), ("Secret creds", "created")]
            .iter()
            .map(|(o, a)| (o.to_string(), a.to_string()))
            .collect();
    assert_eq!(objects(&plan), expected);
    assert_eq!(objects(&run), expected);
    for failed in [&plan, &run] {
        let error = failed.of("error")[0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(
                "cluster-1: cannot apply ConfigMap shop/settings: Apply failed with 1 conflict"
            ),
            "{error}"
        );
    }
}

#[test]
fn the_istioctl_path_plans_the_files_and_commands_it_would_write_and_run() {
    let mesh = Mesh::new(&["cluster-1", "cluster-2"]);
    let vars = mesh.vars(&["cluster-2"]);
    let out = mesh
        .command(
            "playbooks/primary-remote.rhai",
            &[
                "--vars",
                &vars,
                "--var",
                "istio.installer=istioctl",
                "--dry-run",
                "--diff",
                "summary",
            ],
        )
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = mesh.env.dir().canonicalize().unwrap();
    for line in [
        "  would write file rendered/cluster-1/istio-primary.yaml".to_string(),
        format!(
            "  would run: istioctl install -y -f {}/rendered/cluster-1/istio-primary.yaml --context cluster-1 (with rendered/cluster-1/istio-primary.yaml, which the run writes first)",
            root.display()
        ),
        "  would write file rendered/cluster-2/istio-remote.yaml".to_string(),
        "  dry run: cluster-1: istiod is installed by the run; its state is known after apply"
            .to_string(),
        "  local      -                   file rendered/cluster-1/istio-primary.yaml                           create".to_string(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("created file"), "{stdout}");
    assert!(!mesh.path("rendered").exists(), "a plan writes no file");
    assert!(!mesh.path("certs").exists(), "a plan writes no certificate");
}

#[test]
fn diff_chooses_how_much_of_the_plan_follows_its_table() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(mesh.path("playbooks/reads.rhai"), READS).unwrap();
    let human = |mode: &str| -> Vec<String> {
        let out = mesh
            .command("playbooks/reads.rhai", &["--dry-run", "--diff", mode])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("  => ") && !l.starts_with("PLAY RECAP"))
            .map(str::to_string)
            .collect()
    };
    let table = [
        "PLAY playbooks/reads.rhai (dry run: nothing is written)",
        "PLAN: 3 to create, 0 to change, 0 to delete (0 unchanged)",
        "  CLUSTER    KIND       NAMESPACE/NAME  ACTION",
        "  cluster-1  Namespace  shop            create",
        "  cluster-1  ConfigMap  shop/settings   create",
        "  cluster-1  Secret     shop/creds      create",
    ];
    let none = human("none");
    assert_eq!(none[..6], table);
    assert_eq!(
        none[6..],
        [
            "",
            "cluster-1 : created=3    configured=1    unchanged=0    deleted=1    steps ok=2   failed=0   rescued=0"
        ]
    );
    let summary = human("summary");
    assert_eq!(summary[..6], table);
    assert!(
        summary.contains(&"  cluster-1    would be configured ConfigMap shop/settings".to_string())
    );
    assert!(summary.contains(&"  cluster-1    would be deleted Secret shop/creds".to_string()));
    assert!(
        !summary.iter().any(|l| l.starts_with("  ---")),
        "{summary:#?}"
    );
    let full = human("full");
    assert_eq!(full[..6], table);
    assert!(
        full.contains(&"  --- cluster-1 Secret shop/creds (live)".to_string()),
        "{full:#?}"
    );
    assert!(full.contains(&"  +++ cluster-1 ConfigMap shop/settings (planned)".to_string()));
    assert!(full.contains(&"  +  color: green".to_string()), "{full:#?}");
    assert!(
        full.iter()
            .any(|l| l.starts_with("  +  password: '*** (salted sha256:")),
        "{full:#?}"
    );
    assert!(!full
        .iter()
        .any(|l| l.contains("hunter2") || l.contains("aHVudGVyMg")));
}

/// Runs `runner play` under a terminal (util-linux `script`), answering `answer`.
fn under_terminal(mesh: &Mesh, playbook: &str, args: &[&str], answer: &str) -> (i32, String) {
    use std::io::Write;
    let mut line = format!(
        "{} play {playbook}",
        assert_cmd::cargo::cargo_bin("runner").display()
    );
    if !args.contains(&"--sandbox") {
        line.push_str(&format!(" --kubeconfig {}", mesh.kubeconfig.display()));
    }
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(mesh.env.dir())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::common::run::record(&out);
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    // The terminal echoes the answer whenever it arrives, before or after the question.
    (
        out.status.code().unwrap_or(-1),
        text.replacen(answer, "", 1),
    )
}

const ONE_MAP: &str = r#"
let c = cluster("cluster-1");
step("cm", || {
    c.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "asked", namespace: "default" }, data: #{ a: "1" } });
});
"#;

fn asked_exists(mesh: &Mesh) -> bool {
    std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&mesh.kubeconfig)
        .args(["--context", "cluster-1", "get", "configmap", "asked"])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn at_a_terminal_the_targets_and_plan_come_before_the_question_and_no_writes_nothing() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(mesh.path("playbooks/cm.rhai"), ONE_MAP).unwrap();
    let (code, text) = under_terminal(&mesh, "playbooks/cm.rhai", &[], "n\n");
    assert_eq!(code, 1, "{text}");
    let plan = mesh.run("playbooks/cm.rhai", &["--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let server = plan.of("target")[0]["server"].as_str().unwrap().to_string();
    let expected = format!(
        "Targets:\n  cluster-1  context=cluster-1  server={server}\n\
         PLAN: 1 to create, 0 to change, 0 to delete (0 unchanged)\n  \
         CLUSTER    KIND       NAMESPACE/NAME  ACTION\n  \
         cluster-1  ConfigMap  default/asked   create\n\
         Apply these changes? [y/N] runner: not applied; nothing was written\n"
    );
    assert_eq!(text, expected);
    assert!(!asked_exists(&mesh));

    let (code, text) = under_terminal(&mesh, "playbooks/cm.rhai", &[], "y\n");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&expected.replace(
            "runner: not applied; nothing was written\n",
            "PLAY playbooks/cm.rhai\n"
        )),
        "{text}"
    );
    assert!(asked_exists(&mesh));
}

#[test]
fn yes_a_rehearsal_or_no_terminal_never_ask() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(mesh.path("playbooks/cm.rhai"), ONE_MAP).unwrap();
    let (code, text) = under_terminal(&mesh, "playbooks/cm.rhai", &["--yes"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("PLAY playbooks/cm.rhai\n"), "{text}");
    assert!(!text.contains("Apply these changes?"));
    assert!(asked_exists(&mesh));
    // A rehearsal on sandboxes started for it changes nothing anyone else uses.
    let (code, text) = under_terminal(&mesh, "playbooks/cm.rhai", &["--sandbox"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("PLAY playbooks/cm.rhai\n"), "{text}");
    assert!(!text.contains("Apply these changes?"));
    // Without a terminal: no question, the run goes on (pipelines gate with --dry-run).
    let run = mesh.run("playbooks/cm.rhai", &["--var", "x=1"]);
    assert_eq!(run.code, 0);
    assert!(!run.stderr.contains("Apply these changes?"));
    assert_eq!(run.of("play_started").len(), 1);
}

const ADDRESS_LABEL: &str = r#"
let c = cluster("cluster-1");
step("lb", || {
    c.apply(#{ apiVersion: "v1", kind: "Service", metadata: #{ name: "edge", namespace: "default" },
               spec: #{ type: "LoadBalancer", selector: #{ app: "edge" }, ports: [#{ port: 443 }] } });
});
step("label", || {
    let ip = c.wait_loadbalancer("edge", #{ namespace: "default", timeout: 30 });
    print(`ip=${ip}`);
    c.apply(#{ apiVersion: "v1", kind: "ConfigMap",
               metadata: #{ name: "edge-address", namespace: "default", labels: #{ address: ip } },
               data: #{ address: ip } });
});
"#;

#[test]
fn an_object_holding_a_value_known_after_apply_is_judged_with_a_stand_in() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(mesh.path("playbooks/address.rhai"), ADDRESS_LABEL).unwrap();
    let plan = mesh.run(
        "playbooks/address.rhai",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    let logs: Vec<&str> = plan
        .of("log")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(
        logs,
        [
            "dry run: not waiting for a load balancer IP of Service default/edge in cluster-1; the plan goes on as if it completed",
            "ip=(known after apply)",
            "dry run: cluster-1: ConfigMap default/edge-address holds values known after apply; the server judged it with 192.0.2.1 in their place",
        ]
    );
    let run = mesh.run("playbooks/address.rhai", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(plan.rows(), run.rows());
    assert_eq!(
        run.rows(),
        BTreeSet::from([
            row("cluster-1", "Service", Some("default"), "edge", "created"),
            row(
                "cluster-1",
                "ConfigMap",
                Some("default"),
                "edge-address",
                "created"
            ),
        ])
    );
    // Known now: the plan is the run's again, and nothing changes.
    let plan = mesh.run(
        "playbooks/address.rhai",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn an_object_the_server_refuses_fails_the_plan_as_it_fails_the_run() {
    let mesh = Mesh::new(&["cluster-1"]);
    let bad = ADDRESS_LABEL.replace(
        "labels: #{ address: ip }",
        r#"labels: #{ address: "not a label" }"#,
    );
    std::fs::write(mesh.path("playbooks/bad.rhai"), bad).unwrap();
    let plan = mesh.run("playbooks/bad.rhai", &["--dry-run", "--detailed-exitcode"]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.run("playbooks/bad.rhai", &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    for failed in [&plan, &run] {
        let error = failed.of("error")[0]["message"].as_str().unwrap();
        assert!(
            error.starts_with("cluster-1: cannot apply ConfigMap default/edge-address: "),
            "{error}"
        );
        assert!(error.ends_with("(reason Invalid, HTTP 422)"), "{error}");
    }
    assert_eq!(plan.rows(), run.rows());
}

#[test]
fn a_plan_that_fails_before_the_question_writes_nothing() {
    let mesh = Mesh::new(&["cluster-1"]);
    std::fs::write(
        mesh.path("playbooks/fails.rhai"),
        r#"
        let c = cluster("cluster-1");
        step("cm", || {
            c.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "asked", namespace: "default" } });
            c.patch("ConfigMap", "missing", #{ data: #{ a: "1" } }, #{ namespace: "default" });
        });
        "#,
    )
    .unwrap();
    let (code, text) = under_terminal(&mesh, "playbooks/fails.rhai", &[], "");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with("runner: the plan made before applying failed; nothing was written\n"),
        "{text}"
    );
    assert!(
        text.contains("cannot patch ConfigMap default/missing: it does not exist"),
        "{text}"
    );
    assert!(!text.contains("Apply these changes?"));
    assert!(!asked_exists(&mesh));
}

on_both_backends!(
    sync on_fresh_clusters_the_plan_succeeds_writes_nothing_and_equals_the_run,
    a_converged_mesh_plans_no_change_not_even_the_remote_secret,
    adding_a_remote_plans_exactly_its_objects,
    a_template_edit_plans_exactly_the_objects_it_changes,
    removing_a_remote_plans_what_the_run_does,
    each_step_alone_after_a_full_run_changes_nothing,
    start_at_remote_data_planes_completes_a_run_that_stopped_there
);
