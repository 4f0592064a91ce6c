//! kubectl against the sandbox, with a kubeconfig the sandbox wrote.
use crate::common::sandbox as support;

use crate::common::backend::Backend;
use crate::common::fixture::Env;
use crate::common::Fixture;
use std::process::Stdio;
use support::{kubectl, kubectl_stdin, KubectlOutput};
use tokio::io::{AsyncBufReadExt, BufReader};

fn ok(out: KubectlOutput) -> String {
    assert!(out.success, "kubectl failed:\n{}{}", out.stdout, out.stderr);
    out.stdout
}

async fn run(ts: &Env, args: &[&str]) -> String {
    ok(kubectl(ts, args).await)
}

#[tokio::test]
async fn get_prints_tables_and_yaml() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let table = run(&ts, &["get", "ns"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("default ") && l.contains("Active")),
        "{table}"
    );
    let yaml = run(&ts, &["get", "ns", "default", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: Namespace") && yaml.contains("kubernetes.io/metadata.name: default"),
        "{yaml}"
    );
    let all = run(&ts, &["get", "cm", "-A"]).await;
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    assert!(
        all.contains("kube-system") && all.contains("kube-root-ca.crt"),
        "{all}"
    );
}

#[tokio::test]
async fn create_label_annotate_and_delete() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    assert!(run(&ts, &["create", "ns", "demo"])
        .await
        .contains("namespace/demo created"));
    run(
        &ts,
        &[
            "-n",
            "demo",
            "create",
            "configmap",
            "c1",
            "--from-literal=a=b",
        ],
    )
    .await;
    run(
        &ts,
        &[
            "-n",
            "demo",
            "create",
            "secret",
            "generic",
            "s1",
            "--from-literal=p=q",
        ],
    )
    .await;
    assert!(run(&ts, &["-n", "demo", "create", "sa", "robot"])
        .await
        .contains("serviceaccount/robot created"));
    assert!(run(&ts, &["-n", "demo", "label", "cm", "c1", "team=core"])
        .await
        .contains("labeled"));
    assert!(run(&ts, &["-n", "demo", "annotate", "cm", "c1", "note=hi"])
        .await
        .contains("annotated"));
    let got = run(
        &ts,
        &[
            "-n",
            "demo",
            "get",
            "cm",
            "-l",
            "team=core",
            "-o",
            "jsonpath={.items[*].metadata.annotations.note}",
        ],
    )
    .await;
    assert_eq!(got, "hi");
    let secret = run(
        &ts,
        &[
            "-n",
            "demo",
            "get",
            "secret",
            "s1",
            "-o",
            "jsonpath={.data.p}",
        ],
    )
    .await;
    assert_eq!(secret, "cQ==");
    // A file through the generic (JSON) path.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: nginx\n";
    ok(kubectl_stdin(&ts, &["create", "-f", "-"], Some(deploy)).await);
    let waited = run(
        &ts,
        &[
            "-n",
            "demo",
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(waited.contains("condition met"), "{waited}");
    let rollout = run(
        &ts,
        &[
            "-n",
            "demo",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(rollout.contains("successfully rolled out"), "{rollout}");
    let again = kubectl_stdin(&ts, &["create", "-f", "-"], Some(deploy)).await;
    assert!(
        !again.success && again.stderr.contains("AlreadyExists"),
        "{}",
        again.stderr
    );

    // Typed (protobuf) creates of workloads and services.
    run(
        &ts,
        &[
            "-n",
            "demo",
            "create",
            "deployment",
            "api",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=8080",
        ],
    )
    .await;
    let image = run(&ts, &["-n", "demo", "get", "deploy", "api", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}"]).await;
    assert_eq!(image, "nginx:1.27 2 8080");
    run(
        &ts,
        &[
            "-n",
            "demo",
            "create",
            "service",
            "loadbalancer",
            "gw",
            "--tcp=15443:8443",
        ],
    )
    .await;
    run(
        &ts,
        &[
            "-n",
            "demo",
            "wait",
            "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
            "service/gw",
            "--timeout=60s",
        ],
    )
    .await;
    let svc = run(&ts, &["-n", "demo", "get", "svc", "gw"]).await;
    assert!(
        svc.contains("LoadBalancer") && svc.contains("198.18.0.") && svc.contains("15443"),
        "{svc}"
    );

    assert!(run(&ts, &["-n", "demo", "delete", "cm", "c1"])
        .await
        .contains("configmap \"c1\" deleted"));
    let gone = kubectl(&ts, &["-n", "demo", "get", "cm", "c1"]).await;
    assert!(!gone.success);
    assert!(
        gone.stderr
            .contains("Error from server (NotFound): configmaps \"c1\" not found"),
        "{}",
        gone.stderr
    );
    run(&ts, &["delete", "ns", "demo"]).await;
    let listed = run(&ts, &["get", "ns", "-o", "name"]).await;
    assert!(!listed.contains("namespace/demo"), "{listed}");
}

#[tokio::test]
async fn server_side_apply_conflicts_unless_forced() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let manifest = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: {v}\n")
    };
    let out = ok(kubectl_stdin(
        &ts,
        &["apply", "--server-side", "-f", "-"],
        Some(&manifest("a")),
    )
    .await);
    assert!(
        out.contains("configmap/settings serverside-applied"),
        "{out}"
    );
    let conflict = kubectl_stdin(
        &ts,
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        Some(&manifest("b")),
    )
    .await;
    assert!(!conflict.success);
    assert!(
        conflict.stderr.contains("conflict") && conflict.stderr.contains(".data.mode"),
        "{}",
        conflict.stderr
    );
    ok(kubectl_stdin(
        &ts,
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&manifest("b")),
    )
    .await);
    let mode = run(
        &ts,
        &["get", "cm", "settings", "-o", "jsonpath={.data.mode}"],
    )
    .await;
    assert_eq!(mode, "b");
    let managers = run(
        &ts,
        &[
            "get",
            "cm",
            "settings",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    )
    .await;
    assert!(managers.contains("other"), "{managers}");
}

#[tokio::test]
async fn apply_of_a_crd_adds_its_kind_to_api_resources() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let before = run(&ts, &["api-resources"]).await;
    assert!(before.lines().next().unwrap().starts_with("NAME"));
    for kind in [
        "Namespace",
        "Deployment",
        "EndpointSlice",
        "ClusterRole",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    ] {
        assert!(before.contains(kind), "{kind} missing:\n{before}");
    }
    assert!(!before.contains("Gadget"));
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    additionalPrinterColumns:\n    - {name: Size, type: integer, jsonPath: .spec.size}\n    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";
    ok(kubectl_stdin(&ts, &["apply", "--server-side", "-f", "-"], Some(crd)).await);
    run(
        &ts,
        &[
            "wait",
            "--for=condition=Established",
            "crd/gadgets.example.com",
            "--timeout=60s",
        ],
    )
    .await;
    let after = run(&ts, &["api-resources", "--api-group=example.com"]).await;
    assert!(
        after.contains("gadgets") && after.contains("gd") && after.contains("Gadget"),
        "{after}"
    );
    let gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: default\nspec:\n  size: 2\n";
    ok(kubectl_stdin(&ts, &["apply", "--server-side", "-f", "-"], Some(gadget)).await);
    let listed = run(&ts, &["get", "gd"]).await;
    let header: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SIZE", "AGE"], "{listed}");
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["g1", "2"], "{listed}");
    assert!(run(&ts, &["label", "gadget", "g1", "x=y"])
        .await
        .contains("labeled"));
}

#[tokio::test]
async fn created_tokens_authenticate_kubectl() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
        .start()
        .await;
    let token = run(&ts, &["create", "token", "default", "--duration=20m"]).await;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let denied = kubectl(&ts, &["--token", token, "get", "ns", "default"]).await;
    assert!(
        !denied.success
            && denied.stderr.contains("Forbidden")
            && denied
                .stderr
                .contains("system:serviceaccount:default:default"),
        "{}",
        denied.stderr
    );
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ns-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [namespaces]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ns-reader\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ns-reader}\nsubjects:\n- {kind: ServiceAccount, name: default, namespace: default}\n";
    ok(kubectl_stdin(&ts, &["apply", "--server-side", "-f", "-"], Some(rbac)).await);
    let as_sa = run(
        &ts,
        &["--token", token, "get", "ns", "default", "-o", "name"],
    )
    .await;
    assert_eq!(as_sa.trim(), "namespace/default");
    let elsewhere = kubectl(
        &ts,
        &["--context", "cluster-2", "--token", token, "get", "ns"],
    )
    .await;
    assert!(!elsewhere.success);
    // kubectl logs each failed discovery first; its verdict is the last line.
    assert_eq!(
        elsewhere.stderr.lines().last(),
        Some("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
        "{}",
        elsewhere.stderr
    );
}

#[tokio::test]
async fn get_watch_prints_changes_as_they_happen() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(ts.kubeconfig())
        .args(["get", "cm", "-w", "--request-timeout=60s"])
        .env("HOME", ts.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.starts_with("NAME"), "{first}");
    let existing = lines.next_line().await.unwrap().unwrap();
    assert!(existing.starts_with("kube-root-ca.crt"), "{existing}");
    run(&ts, &["create", "configmap", "late-arrival"]).await;
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line.clone());
        if line.starts_with("late-arrival") {
            break;
        }
    }
    assert!(
        seen.iter().all(|l| !l.starts_with("NAME")),
        "header printed once: {seen:?}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn client_side_apply_merges_containers_by_name() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    let deploy = |image: &str, sidecar: bool| {
        let mut y = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n        ports:\n        - containerPort: 8080\n");
        if sidecar {
            y.push_str("      - name: sidecar\n        image: envoy\n");
        }
        y
    };
    ok(kubectl_stdin(&ts, &["apply", "-f", "-"], Some(&deploy("nginx:1", true))).await);
    let out = ok(kubectl_stdin(&ts, &["apply", "-f", "-"], Some(&deploy("nginx:2", false))).await);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let spec = run(
        &ts,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec}",
        ],
    )
    .await;
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(
        spec["containers"],
        serde_json::json!([{
            "name": "app", "image": "nginx:2", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            // Defaults a real kube-apiserver fills in, as the sandbox now does.
            "resources": {}, "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
        }]),
        "image changed, ports kept, removed container gone, no patch directives stored"
    );
}

/// `kubectl create role|rolebinding|clusterrole|clusterrolebinding` send protobuf bodies; a
/// ServiceAccount granted access that way then lists Secrets with its token.
#[tokio::test]
async fn kubectl_creates_rbac_objects_and_a_token_uses_them() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .start()
        .await;
    run(&ts, &["create", "serviceaccount", "reader"]).await;
    let token = run(&ts, &["create", "token", "reader"]).await;
    let denied = kubectl(&ts, &["--token", token.trim(), "get", "secrets"]).await;
    assert!(!denied.success);
    assert_eq!(
        denied.stderr.trim(),
        "Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    run(
        &ts,
        &[
            "create",
            "role",
            "read-secrets",
            "--verb=list,get",
            "--resource=secrets",
            "--resource-name=x",
        ],
    )
    .await;
    let rules = run(
        &ts,
        &["get", "role", "read-secrets", "-o", "jsonpath={.rules}"],
    )
    .await;
    assert_eq!(
        rules,
        r#"[{"apiGroups":[""],"resourceNames":["x"],"resources":["secrets"],"verbs":["list","get"]}]"#
    );
    run(
        &ts,
        &[
            "create",
            "role",
            "list-secrets",
            "--verb=list",
            "--resource=secrets",
        ],
    )
    .await;
    run(
        &ts,
        &[
            "create",
            "rolebinding",
            "list-secrets",
            "--role=list-secrets",
            "--serviceaccount=default:reader",
        ],
    )
    .await;
    let subjects = run(
        &ts,
        &[
            "get",
            "rolebinding",
            "list-secrets",
            "-o",
            "jsonpath={.subjects}{.roleRef}",
        ],
    )
    .await;
    assert_eq!(
        subjects,
        r#"[{"kind":"ServiceAccount","name":"reader","namespace":"default"}]{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"list-secrets"}"#
    );
    run(
        &ts,
        &[
            "create",
            "clusterrole",
            "health",
            "--verb=get",
            "--non-resource-url=/healthz",
        ],
    )
    .await;
    run(
        &ts,
        &[
            "create",
            "clusterrolebinding",
            "health",
            "--clusterrole=health",
            "--user=alice",
        ],
    )
    .await;
    let allowed = kubectl(&ts, &["--token", token.trim(), "get", "secrets"]).await;
    assert!(allowed.success, "{}", allowed.stderr);
    assert_eq!(
        allowed.stderr.trim(),
        "No resources found in default namespace."
    );
}

/// kubectl's own exec (WebSocket, v5.channel.k8s.io) against a sandbox that opted in to running
/// commands on the host: stdin, stdout, stderr and the exit code arrive as from a kubelet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_on_a_host_exec_sandbox() {
    let ts = crate::common::Fixture::new()
        .sandbox_options(runner_sandbox::SandboxOptions {
            clusters: vec!["cluster-1".into()],
            exec: runner_sandbox::ExecMode::Host,
            ..Default::default()
        })
        .start()
        .await;
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}}"#;
    ok(kubectl_stdin(&ts, &["apply", "-f", "-"], Some(pod)).await);
    let exec = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(ts.kubeconfig())
            .args(args)
            .env("HOME", ts.dir())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut pipe = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut pipe, stdin.as_bytes()).unwrap();
        drop(pipe);
        child.wait_with_output().unwrap()
    };
    let out = exec(
        &[
            "exec",
            "-i",
            "web",
            "--",
            "sh",
            "-c",
            "cat; echo \" from $HOSTNAME\"; echo oops >&2; exit 3",
        ],
        "hello",
    );
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (
            Some(3),
            "hello from web\n",
            "oops\ncommand terminated with exit code 3\n"
        )
    );
}
