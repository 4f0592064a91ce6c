//! The inventory each cluster keeps of what the flagship applied to it, and prune across runs,
//! on both backends: removing a remote lists exactly its objects on the primary, `--prune`
//! deletes them in reverse dependency order (and plans the same), namespaces need their own
//! flag, and objects that only look like ours are never touched.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;
use serde_json::Value;

struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
}

/// One run: exit code and its JSON events.
struct Run {
    code: i32,
    events: Vec<Value>,
    stderr: String,
}

impl Run {
    fn of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }

    /// `cluster action Kind ns/name` of every object event that is a change.
    fn changed(&self) -> Vec<String> {
        self.of("object")
            .into_iter()
            .filter(|e| e["action"] != "unchanged")
            .map(|e| {
                let place = match e["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{}", e["name"].as_str().unwrap()),
                    None => e["name"].as_str().unwrap().to_string(),
                };
                format!(
                    "{} {} {} {place}",
                    e["cluster"].as_str().unwrap(),
                    e["action"].as_str().unwrap(),
                    e["kind"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// What the run said about orphans and pruning (verify's rehearsal warnings left out).
    fn warnings(&self) -> Vec<&str> {
        self.of("warning")
            .into_iter()
            .map(|e| e["message"].as_str().unwrap())
            .filter(|m| m.starts_with("orphaned") || m.starts_with("not pruning"))
            .collect()
    }
}

impl Mesh {
    fn new(backend: Backend) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, &["cluster-1", "cluster-2", "cluster-3"])
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh { env, kubeconfig }
    }

    fn vars(&self, remotes: &[&str]) -> PathBuf {
        let mut text = String::from("certs:\n  key_type: ecdsa-p256\nremotes:\n");
        for r in remotes {
            text.push_str(&format!(
                "  - name: {r}\n    context: {r}\n    network: network1\n    api_server: \"\"\n"
            ));
        }
        let file = self.env.path(&format!("mesh-{}.yaml", remotes.join("-")));
        std::fs::write(&file, text).unwrap();
        file
    }

    fn play(&self, remotes: &[&str], extra: &[&str]) -> Run {
        let out = crate::common::runner()
            .current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .args([
                "play",
                "playbooks/primary-remote.rhai",
                "--output",
                "json",
                "--yes",
            ])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--vars")
            .arg(self.vars(remotes))
            .args(extra)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap(),
            events: String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    fn kubectl(&self, context: &str, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, context: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.kubectl(context, &all);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn exists(&self, context: &str, args: &[&str]) -> bool {
        let out = self.kubectl(context, args);
        if out.status.success() {
            return true;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
        false
    }

    /// `Kind ns/name` of every object the cluster's inventory records.
    fn inventory(&self, context: &str) -> BTreeSet<String> {
        let cm = self.json(
            context,
            &[
                "-n",
                "kube-system",
                "get",
                "configmap",
                "runner-inventory-primary-remote",
            ],
        );
        assert_eq!(
            cm["metadata"]["labels"]["runner.dev/inventory"],
            "primary-remote"
        );
        assert!(cm["metadata"]["labels"]
            .get("runner.dev/playbook")
            .is_none());
        let entries: Vec<Value> =
            serde_json::from_str(cm["data"]["objects"].as_str().unwrap()).unwrap();
        entries
            .iter()
            .map(|e| {
                let place = match e["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{}", e["name"].as_str().unwrap()),
                    None => e["name"].as_str().unwrap().to_string(),
                };
                format!("{} {place}", e["kind"].as_str().unwrap())
            })
            .collect()
    }
}

/// `Kind ns/name` of the objects a run applied in `cluster` (created, configured, unchanged).
fn applied_in(run: &Run, cluster: &str) -> BTreeSet<String> {
    run.of("object")
        .into_iter()
        .filter(|e| e["cluster"] == cluster && e["action"] != "deleted")
        .map(|e| {
            let place = match e["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", e["name"].as_str().unwrap()),
                None => e["name"].as_str().unwrap().to_string(),
            };
            format!("{} {place}", e["kind"].as_str().unwrap())
        })
        .collect()
}

fn removing_a_remote_lists_then_prunes_exactly_its_objects(backend: Backend) {
    let mesh = Mesh::new(backend);
    let first = mesh.play(&["cluster-2", "cluster-3"], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Each cluster records exactly what the run applied to it.
    for cluster in ["cluster-1", "cluster-2", "cluster-3"] {
        assert_eq!(
            mesh.inventory(cluster),
            applied_in(&first, cluster),
            "{cluster}"
        );
    }
    assert!(mesh
        .inventory("cluster-1")
        .contains("Secret istio-system/istio-remote-secret-cluster-3"));
    let recorded = mesh.json(
        "cluster-1",
        &[
            "-n",
            "kube-system",
            "get",
            "configmap",
            "runner-inventory-primary-remote",
        ],
    )["metadata"]["resourceVersion"]
        .clone();

    // Again: nothing changes, the inventory is not even rewritten, nothing is orphaned.
    let again = mesh.play(&["cluster-2", "cluster-3"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.changed(), Vec::<String>::new());
    assert_eq!(again.warnings(), Vec::<&str>::new());
    assert_eq!(
        mesh.json(
            "cluster-1",
            &[
                "-n",
                "kube-system",
                "get",
                "configmap",
                "runner-inventory-primary-remote"
            ]
        )["metadata"]["resourceVersion"],
        recorded
    );

    // Something labelled as ours that no run applied: never touched.
    let by_hand = mesh.kubectl(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "create",
            "configmap",
            "made-by-hand",
            "--from-literal=k=v",
        ],
    );
    assert!(by_hand.status.success());
    assert!(mesh
        .kubectl(
            "cluster-1",
            &[
                "-n",
                "istio-system",
                "label",
                "configmap",
                "made-by-hand",
                "runner.dev/playbook=primary-remote"
            ],
        )
        .status
        .success());

    // cluster-3 removed from the vars: its remote secret on the primary is listed, nothing more.
    let listed = mesh.play(&["cluster-2"], &[]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(listed.changed(), Vec::<String>::new());
    assert_eq!(
        listed.warnings(),
        ["orphaned (no longer rendered; --prune deletes it): cluster-1 Secret istio-system/istio-remote-secret-cluster-3"]
    );
    assert!(mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-3"
        ]
    ));

    // The plan of --prune shows the deletion; the run then does exactly that.
    let plan = mesh.play(
        &["cluster-2"],
        &["--prune", "--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    let deletion = ["cluster-1 deleted Secret istio-system/istio-remote-secret-cluster-3"];
    assert_eq!(plan.changed(), deletion);
    assert!(mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-3"
        ]
    ));
    let pruned = mesh.play(&["cluster-2"], &["--prune"]);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert_eq!(pruned.changed(), deletion);
    assert_eq!(pruned.warnings(), Vec::<&str>::new());
    assert!(!mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-3"
        ]
    ));
    assert!(mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-2"
        ]
    ));
    assert!(mesh.exists(
        "cluster-1",
        &["-n", "istio-system", "get", "configmap", "made-by-hand"]
    ));
    assert!(!mesh
        .inventory("cluster-1")
        .contains("Secret istio-system/istio-remote-secret-cluster-3"));
    assert_eq!(
        mesh.inventory("cluster-1"),
        applied_in(&pruned, "cluster-1")
    );
    // cluster-3 is not part of the run any more: what is in it stays for offboard-remote.rhai.
    assert!(mesh.exists(
        "cluster-3",
        &["-n", "istio-system", "get", "secret", "cacerts"]
    ));

    // A third run changes nothing and finds nothing to prune.
    let third = mesh.play(&["cluster-2"], &["--prune"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.changed(), Vec::<String>::new());
    assert_eq!(third.warnings(), Vec::<&str>::new());
}

fn namespaces_are_pruned_only_with_their_flag(backend: Backend) {
    let mesh = Mesh::new(backend);
    assert_eq!(mesh.play(&["cluster-2"], &[]).code, 0);
    // Without the demo apps, their objects are orphans: workloads go before what they use,
    // and the namespace stays.
    let pruned = mesh.play(&["cluster-2"], &["--var", "demo_apps=false", "--prune"]);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert_eq!(
        pruned.changed(),
        [
            "cluster-1 deleted Deployment production/frontend",
            "cluster-1 deleted DestinationRule production/backend-destination",
            "cluster-1 deleted DestinationRule production/backend-locality",
            "cluster-1 deleted VirtualService production/backend-route",
            "cluster-1 deleted Service production/frontend",
            "cluster-2 deleted Deployment production/backend",
            "cluster-2 deleted Service production/backend",
        ]
    );
    assert_eq!(
        pruned.warnings(),
        [
            "orphaned, kept (namespaces are deleted only with --prune-namespaces): cluster-1 Namespace production",
            "orphaned, kept (namespaces are deleted only with --prune-namespaces): cluster-2 Namespace production",
        ]
    );
    assert!(mesh.exists("cluster-1", &["get", "namespace", "production"]));
    assert!(!mesh.exists(
        "cluster-1",
        &["-n", "production", "get", "deployment", "frontend"]
    ));
    assert!(mesh.exists(
        "cluster-1",
        &["-n", "istio-system", "get", "service", "istiod-external"]
    ));

    let with_namespaces = mesh.play(
        &["cluster-2"],
        &["--var", "demo_apps=false", "--prune", "--prune-namespaces"],
    );
    assert_eq!(with_namespaces.code, 0, "{}", with_namespaces.stderr);
    assert_eq!(
        with_namespaces.changed(),
        [
            "cluster-1 deleted Namespace production",
            "cluster-2 deleted Namespace production"
        ]
    );
    assert_eq!(with_namespaces.warnings(), Vec::<&str>::new());
    let again = mesh.play(
        &["cluster-2"],
        &["--var", "demo_apps=false", "--prune", "--prune-namespaces"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.changed(), Vec::<String>::new());
    assert_eq!(again.warnings(), Vec::<&str>::new());
}

const APP: &str = r#"
let c = cluster("c1");
step("apply", || {
    c.apply(template("app.yaml.j2"));
});
"#;

const APP_TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: default}
data: {k: v}
{% if team %}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: team}
data: {k: v}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: team}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team}
spec:
  ports: [{port: 80}]
{% endif %}
"#;

fn play_app(project: &Path, kubeconfig: &Path, extra: &[&str]) -> Run {
    let out = crate::common::runner()
        .current_dir(project)
        .env("NO_COLOR", "1")
        .args([
            "play",
            "playbooks/app.rhai",
            "--output",
            "json",
            "--yes",
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .args(extra)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        events: String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> bool {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
    }
    out.status.success()
}

fn prune_across_runs_of_a_plain_playbook(backend: Backend) {
    let env = Fixture::new()
        .file("playbooks/app.rhai", APP)
        .file("playbooks/app.vars.yaml", "team: true\n")
        .file("templates/app.yaml.j2", APP_TEMPLATE)
        .clusters(backend, &["c1"])
        .build();
    let kubeconfig = env.kubeconfig().to_path_buf();
    let play = |extra: &[&str]| play_app(env.dir(), &kubeconfig, extra);

    let first = play(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = play(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.changed(), Vec::<String>::new());
    assert_eq!(again.warnings(), Vec::<&str>::new());

    // Labelled as this playbook's, but never applied by it.
    assert!(kubectl_ok(
        &kubeconfig,
        &["-n", "team", "create", "configmap", "by-hand"]
    ));
    assert!(kubectl_ok(
        &kubeconfig,
        &[
            "-n",
            "team",
            "label",
            "configmap",
            "by-hand",
            "runner.dev/playbook=app"
        ]
    ));

    let listed = play(&["--var", "team=false"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(listed.changed(), Vec::<String>::new());
    assert_eq!(
        listed.warnings(),
        [
            "orphaned (no longer rendered; --prune deletes it): c1 Service team/web",
            "orphaned (no longer rendered; --prune deletes it): c1 Role team/reader",
            "orphaned (no longer rendered; --prune deletes it): c1 ConfigMap team/b",
            "orphaned (no longer rendered; --prune deletes it): c1 Namespace team",
        ]
    );

    // What uses a thing goes before the thing; the plan is the run; the namespace stays.
    let deletions = [
        "c1 deleted Service team/web",
        "c1 deleted Role team/reader",
        "c1 deleted ConfigMap team/b",
    ];
    let kept = [
        "orphaned, kept (namespaces are deleted only with --prune-namespaces): c1 Namespace team",
    ];
    let plan = play(&[
        "--var",
        "team=false",
        "--prune",
        "--dry-run",
        "--detailed-exitcode",
    ]);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert_eq!(plan.changed(), deletions);
    assert_eq!(plan.warnings(), kept);
    assert!(kubectl_ok(
        &kubeconfig,
        &["-n", "team", "get", "service", "web"]
    ));
    let pruned = play(&["--var", "team=false", "--prune"]);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert_eq!(pruned.changed(), deletions);
    assert_eq!(pruned.warnings(), kept);
    assert!(!kubectl_ok(
        &kubeconfig,
        &["-n", "team", "get", "service", "web"]
    ));
    assert!(!kubectl_ok(
        &kubeconfig,
        &["-n", "team", "get", "role", "reader"]
    ));
    assert!(!kubectl_ok(
        &kubeconfig,
        &["-n", "team", "get", "configmap", "b"]
    ));
    assert!(kubectl_ok(
        &kubeconfig,
        &["-n", "team", "get", "configmap", "by-hand"]
    ));
    assert!(kubectl_ok(&kubeconfig, &["get", "namespace", "team"]));
    assert!(kubectl_ok(
        &kubeconfig,
        &["-n", "default", "get", "configmap", "a"]
    ));

    let namespaces = play(&["--var", "team=false", "--prune", "--prune-namespaces"]);
    assert_eq!(namespaces.code, 0, "{}", namespaces.stderr);
    assert_eq!(namespaces.changed(), ["c1 deleted Namespace team"]);
    assert_eq!(namespaces.warnings(), Vec::<&str>::new());

    let third = play(&["--var", "team=false", "--prune", "--prune-namespaces"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.changed(), Vec::<String>::new());
    assert_eq!(third.warnings(), Vec::<&str>::new());
}

on_both_backends!(
    sync removing_a_remote_lists_then_prunes_exactly_its_objects,
    namespaces_are_pruned_only_with_their_flag,
    prune_across_runs_of_a_plain_playbook
);

/// One sandbox cluster `c1` and a registry of it, as a play has.
fn one_cluster() -> (Env, runner::k8s::Registry) {
    let env = Fixture::new().clusters(Backend::Sandbox, &["c1"]).build();
    let registry = runner::k8s::Registry::new(
        runner::k8s::KubeOptions {
            kubeconfig: Some(env.kubeconfig().to_path_buf()),
            ..Default::default()
        },
        env.runtime().handle().clone(),
    );
    (env, registry)
}

fn config_map(name: &str) -> runner::ledger::ObjectKey {
    runner::ledger::ObjectKey {
        cluster: "c1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
        name: name.into(),
    }
}

#[test]
fn concurrent_runs_keep_each_others_records() {
    let (env, registry) = one_cluster();
    let rt = env.runtime();
    let c1 = registry
        .cluster("c1", &tokio_util::sync::CancellationToken::new())
        .unwrap();
    let names = |inventory: &runner::k8s::Inventory| -> Vec<String> {
        inventory.objects.iter().map(|k| k.name.clone()).collect()
    };
    // Two runs read the (missing) inventory, then both record: the second one's create meets
    // AlreadyExists, re-reads and merges.
    let a = rt.block_on(c1.read_inventory("app")).unwrap();
    let b = rt.block_on(c1.read_inventory("app")).unwrap();
    let add = |name: &'static str| {
        move |stored: &BTreeSet<runner::ledger::ObjectKey>| {
            let mut objects = stored.clone();
            objects.insert(config_map(name));
            objects
        }
    };
    assert!(rt.block_on(c1.write_inventory("app", a, add("x"))).unwrap());
    assert!(rt.block_on(c1.write_inventory("app", b, add("y"))).unwrap());
    let stored = rt.block_on(c1.read_inventory("app")).unwrap();
    assert_eq!(names(&stored), ["x", "y"]);

    // Both read it; one prunes x and records z, the other records w with the older
    // resourceVersion: Conflict, re-read, merged.
    let a = rt.block_on(c1.read_inventory("app")).unwrap();
    let b = rt.block_on(c1.read_inventory("app")).unwrap();
    let prune_x_add_z = |stored: &BTreeSet<runner::ledger::ObjectKey>| {
        let mut objects: BTreeSet<_> = stored.iter().filter(|k| k.name != "x").cloned().collect();
        objects.insert(config_map("z"));
        objects
    };
    assert!(rt
        .block_on(c1.write_inventory("app", a, prune_x_add_z))
        .unwrap());
    assert!(rt.block_on(c1.write_inventory("app", b, add("w"))).unwrap());
    let stored = rt.block_on(c1.read_inventory("app")).unwrap();
    assert_eq!(names(&stored), ["w", "y", "z"]);

    // Nothing new: not written again.
    assert!(!rt
        .block_on(c1.write_inventory("app", stored, add("w")))
        .unwrap());
}

#[test]
fn an_inventory_runner_did_not_write_stops_the_run_with_the_way_out() {
    let (env, _registry) = one_cluster();
    let kubeconfig = env.kubeconfig().to_path_buf();
    let project = common::Fixture::new().build();
    project.write(
        "playbooks/app.rhai",
        "let c = cluster(\"c1\");\nstep(\"apply\", || { c.apply(#{ apiVersion: \"v1\", kind: \"ConfigMap\", metadata: #{ name: \"a\", namespace: \"default\" } }); });\n",
    );
    let created = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "-n",
            "kube-system",
            "create",
            "configmap",
            "runner-inventory-app",
            "--from-literal=objects=not json",
        ])
        .output()
        .unwrap();
    assert!(created.status.success());
    let out = crate::common::runner()
        .current_dir(project.dir())
        .env("NO_COLOR", "1")
        .args(["play", "playbooks/app.rhai", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "  × c1: ConfigMap kube-system/runner-inventory-app is not an inventory runner wrote: key \"objects\": expected ident at line 1 column 2\n  help: delete it (kubectl -n kube-system delete configmap runner-inventory-app) and run again: the run records what it applies anew, and objects of earlier runs are then no longer pruned\n"
    );
}
