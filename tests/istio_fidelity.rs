//! Issue 23 on the sandbox, one test per point: Istio's validity, the cacerts layouts istiod
//! reads, root bundles and rotation, reader tokens, the reader's RBAC, the rehearsal stand-in's
//! shapes and version skew. kubectl and openssl check what the play did.

use crate::istio_support;

use base64::Engine as _;
use istio_support::{fingerprint, openssl, Mesh};
use serde_json::{json, Value};

const TWO_CLUSTERS: &[&str] = &["cluster-1", "cluster-2"];

/// A rotation step, as a playbook of the user's writes it: cluster-1, or `rotate` in the vars.
const ROTATE: &str = r#"import "lib/mesh" as mesh;
let c = cluster(vars.primary.name, #{ context: vars.primary.context });
let target = if vars.rotate == () { c } else { cluster(vars.rotate) };
step("rotate", || {
    mesh::rotate_intermediate(target, mesh::spec_named(vars, target.name), vars.certs, 60);
});
"#;

fn decode(value: &Value) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The message of the play's `error` event (`--output json`).
fn error_event(stdout: &str) -> String {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "error")
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error event in {stdout}"))
}

fn converged(clusters: &[&str]) -> Mesh {
    let mesh = Mesh::new(clusters);
    let run = mesh.flagship("", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    mesh
}

/// A self-signed CA of someone else, as cert-manager's CA issuers are made.
fn foreign_ca(mesh: &Mesh) -> (String, String) {
    let dir = mesh.path("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "root.pem",
            "-subj",
            "/O=Other/CN=Other Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:true",
        ],
        &dir,
    );
    (
        "foreign/root.pem".to_string(),
        "foreign/key.pem".to_string(),
    )
}

fn replace_cacerts(mesh: &Mesh, context: &str, files: &[String]) {
    mesh.kubectl_ok(
        context,
        &["delete", "secret", "cacerts", "-n", "istio-system"],
    );
    let mut args = vec![
        "create",
        "secret",
        "generic",
        "cacerts",
        "-n",
        "istio-system",
    ];
    args.extend(files.iter().map(String::as_str));
    mesh.kubectl_ok(context, &args);
}

fn secret_keys(mesh: &Mesh, context: &str) -> Vec<String> {
    mesh.kubectl(context, &["get", "secret", "cacerts", "-n", "istio-system"])["data"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

// 1. Intermediates last INTERMEDIATE_DAYS ?= 3650, as Istio's tools/certs/common.mk says.
#[test]
fn intermediates_last_istios_3650_days() {
    let mesh = converged(TWO_CLUSTERS);
    for cluster in TWO_CLUSTERS {
        let cert = mesh.path(&format!("certs/{cluster}/ca-cert.pem"));
        let dates = openssl(
            &[
                "x509",
                "-noout",
                "-startdate",
                "-enddate",
                "-dateopt",
                "iso_8601",
                "-in",
                cert.to_str().unwrap(),
            ],
            &mesh.path("."),
        );
        let parse = |prefix: &str| {
            let text = dates
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap()
                .trim()
                .replace(' ', "T");
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        let days = (parse("notAfter=") - parse("notBefore=")).whole_days();
        assert_eq!(days, 3650, "{cluster}: {dates}");
    }
    assert!(mesh
        .read("playbooks/primary-remote.vars.yaml")
        .contains("  intermediate_days: 3650    # Istio's tools/certs: INTERMEDIATE_DAYS"));
}

// 3. istiod signs with tls.crt/tls.key/ca.crt when tls.crt exists (cert-manager's layout): a
//    foreign root there is refused, ours there is left alone, and keys are never merged in.
#[test]
fn a_foreign_ca_in_the_tls_layout_is_refused_and_ours_there_is_left_alone() {
    let mesh = converged(TWO_CLUSTERS);
    let (foreign_root, foreign_key) = foreign_ca(&mesh);
    replace_cacerts(
        &mesh,
        "cluster-2",
        &[
            format!("--from-file=tls.crt={foreign_root}"),
            format!("--from-file=tls.key={foreign_key}"),
            format!("--from-file=ca.crt={foreign_root}"),
        ],
    );
    let disk = mesh.disk_snapshot();
    let cluster = mesh.cluster_snapshot("cluster-2");

    let run = mesh.flagship("", &["--output", "json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let theirs = fingerprint(&mesh.path(&foreign_root));
    let ours = fingerprint(&mesh.path("certs/root-cert.pem"));
    assert_eq!(
        error_event(&run.stdout),
        format!(
            "cluster-2: istio-system/cacerts (ca.crt) holds a different root CA: live \"O=Other, CN=Other Root\" \
             (SHA-256 {theirs}); ours SHA-256 {ours}. Replacing it would break mTLS between this cluster and \
             the mesh; nothing was written. Remove the secret yourself if you really mean to re-key this cluster"
        )
    );
    assert_eq!(mesh.disk_snapshot(), disk);
    assert_eq!(mesh.cluster_snapshot("cluster-2"), cluster);

    // A cert-manager-style secret under our root: reported, kept, never merged into.
    replace_cacerts(
        &mesh,
        "cluster-2",
        &[
            "--from-file=tls.crt=certs/cluster-2/ca-cert.pem".to_string(),
            "--from-file=tls.key=certs/cluster-2/ca-key.pem".to_string(),
            "--from-file=ca.crt=certs/root-cert.pem".to_string(),
        ],
    );
    let run = mesh.flagship("", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let intermediate = fingerprint(&mesh.path("certs/cluster-2/ca-cert.pem"));
    let note = format!(
        "  warning: cluster-2: istio-system/cacerts is a tls.crt/tls.key/ca.crt secret (as cert-manager writes) \
         under our root; istiod signs with its intermediate \"O=Istio, CN=Intermediate CA, L=cluster-2\" \
         (SHA-256 {intermediate}, tls.crt layout). It is left as it is: its owner renews it, and keys of \
         another layout are never merged into it"
    );
    assert!(run.has_line(&note), "{note}\n{}", run.stdout);
    assert!(run.has_line(&format!(
        "  cluster-2: cacerts intermediate O=Istio, CN=Intermediate CA, L=cluster-2 (SHA-256 {intermediate})"
    )));
    assert_eq!(
        secret_keys(&mesh, "cluster-2"),
        ["ca.crt", "tls.crt", "tls.key"]
    );
    assert!(run.stdout.contains("nothing changed"), "{}", run.stdout);

    // Its owner rotates it, not the play.
    mesh.write("playbooks/rotate.rhai", ROTATE);
    let cluster = mesh.cluster_snapshot("cluster-2");
    let disk = mesh.disk_snapshot();
    let rotation = mesh.play(
        "playbooks/rotate.rhai",
        "rotate: cluster-2\n",
        &["--output", "json"],
    );
    assert_eq!(rotation.code, Some(1));
    assert_eq!(
        error_event(&rotation.stdout),
        "cluster-2: istio-system/cacerts is kept by its owner in another layout (tls.crt/tls.key/ca.crt, as \
         cert-manager writes); rotate its intermediate there. Nothing was written"
    );
    assert_eq!(mesh.cluster_snapshot("cluster-2"), cluster);
    assert_eq!(mesh.disk_snapshot(), disk, "no file moved");
}

// 4. A root bundle holding our root (a root rotation in progress) is accepted, reported and
//    kept as it is.
#[test]
fn a_root_bundle_with_our_root_is_accepted_reported_and_kept() {
    let mesh = converged(TWO_CLUSTERS);
    let (foreign_root, _) = foreign_ca(&mesh);
    let bundle = mesh.read("certs/root-cert.pem") + mesh.read(&foreign_root).as_str();
    mesh.write("bundle.pem", &bundle);
    replace_cacerts(
        &mesh,
        "cluster-2",
        &[
            "--from-file=certs/cluster-2/ca-cert.pem".to_string(),
            "--from-file=certs/cluster-2/ca-key.pem".to_string(),
            "--from-file=certs/cluster-2/cert-chain.pem".to_string(),
            "--from-file=root-cert.pem=bundle.pem".to_string(),
        ],
    );
    let run = mesh.flagship("", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let theirs = fingerprint(&mesh.path(&foreign_root));
    let note = format!(
        "  warning: cluster-2: cacerts root-cert.pem is a bundle of 2 roots: ours and \"O=Other, CN=Other Root\" (SHA-256 {theirs})"
    );
    assert!(run.has_line(&note), "{note}\n{}", run.stdout);
    let secret = mesh.kubectl(
        "cluster-2",
        &["get", "secret", "cacerts", "-n", "istio-system"],
    );
    assert_eq!(decode(&secret["data"]["root-cert.pem"]), bundle);
    assert!(run.stdout.contains("nothing changed"), "{}", run.stdout);

    // A rotation of the intermediate must not end the root rotation.
    mesh.write("playbooks/rotate.rhai", ROTATE);
    let cluster = mesh.cluster_snapshot("cluster-2");
    let disk = mesh.disk_snapshot();
    let rotation = mesh.play(
        "playbooks/rotate.rhai",
        "rotate: cluster-2\n",
        &["--output", "json"],
    );
    assert_eq!(rotation.code, Some(1));
    assert_eq!(
        error_event(&rotation.stdout),
        "cluster-2: istio-system/cacerts root-cert.pem holds 2 roots: a root rotation is under way. Replacing \
         it with a single root would end that rotation for this cluster; nothing was written. Finish the root \
         rotation first, then rotate the intermediate"
    );
    assert_eq!(mesh.cluster_snapshot("cluster-2"), cluster);
    assert_eq!(mesh.disk_snapshot(), disk, "no file moved");
}

// 4. The rotation step: a rotated intermediate goes into cacerts explicitly, istiod is
//    restarted through its pod template and awaited; the flagship then accepts it.
#[test]
fn a_rotated_intermediate_is_rolled_out_and_istiod_restarted() {
    let mesh = converged(TWO_CLUSTERS);
    let old = mesh.read("certs/cluster-1/ca-cert.pem");
    mesh.write("playbooks/rotate.rhai", ROTATE);
    // The plan first: it writes nothing and shows what the run then does.
    let disk = mesh.disk_snapshot();
    let cluster = mesh.cluster_snapshot("cluster-1");
    let plan = mesh.play(
        "playbooks/rotate.rhai",
        "",
        &["--dry-run", "--detailed-exitcode", "--diff", "none"],
    );
    assert_eq!(plan.code, Some(3), "{}\n{}", plan.stdout, plan.stderr);
    assert_eq!(
        plan.lines()[..6],
        [
            "PLAY playbooks/rotate.rhai (dry run: nothing is written)",
            "PLAN: 0 to create, 2 to change, 0 to delete (0 unchanged); 1 local change(s)",
            "  CLUSTER    KIND        NAMESPACE/NAME                   ACTION",
            "  cluster-1  Secret      istio-system/cacerts             change",
            "  cluster-1  Deployment  istio-system/istiod              change",
            "  local      -           intermediate CA certs/cluster-1  change",
        ]
    );
    assert_eq!(mesh.disk_snapshot(), disk);
    assert_eq!(mesh.cluster_snapshot("cluster-1"), cluster);

    let run = mesh.play("playbooks/rotate.rhai", "", &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let objects: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["event"] == "object" && e["cluster"] == "cluster-1")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (
                s("kind"),
                format!("{}/{}", s("namespace"), s("name")),
                s("action"),
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            (
                "Secret".into(),
                "istio-system/cacerts".into(),
                "configured".into()
            ),
            (
                "Deployment".into(),
                "istio-system/istiod".into(),
                "configured".into()
            ),
        ],
        "{}",
        run.stdout
    );
    // The restart is awaited, not only requested.
    let waits: Vec<(&str, bool)> = events
        .iter()
        .filter(|e| e["event"] == "wait")
        .map(|e| (e["what"].as_str().unwrap(), e["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        waits,
        [(
            "rollout of Deployment istio-system/istiod in cluster-1",
            true
        )],
        "{}",
        run.stdout
    );
    let new = mesh.read("certs/cluster-1/ca-cert.pem");
    assert_ne!(new, old);
    let secret = mesh.kubectl(
        "cluster-1",
        &["get", "secret", "cacerts", "-n", "istio-system"],
    );
    assert_eq!(decode(&secret["data"]["ca-cert.pem"]), new);
    let istiod = mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    let restarted = istiod["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .unwrap();
    time::OffsetDateTime::parse(restarted, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        istiod["status"]["updatedReplicas"],
        istiod["spec"]["replicas"]
    );

    // The flagship accepts the rotated intermediate; it only takes its ownership label back.
    let again = mesh.flagship("", &[]);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    let secret = mesh.kubectl(
        "cluster-1",
        &["get", "secret", "cacerts", "-n", "istio-system"],
    );
    assert_eq!(decode(&secret["data"]["ca-cert.pem"]), new);
    assert_eq!(
        secret["metadata"]["labels"]["runner.dev/playbook"],
        "primary-remote"
    );
    let third = mesh.flagship("", &[]);
    assert_eq!(third.code, Some(0), "{}", third.stderr);
    assert!(third.stdout.contains("nothing changed"), "{}", third.stdout);
}

/// The `exp` claim of the token in the primary's remote secret for `remote`, read here
/// independently of runner.
fn remote_secret_token_exp(mesh: &Mesh, remote: &str) -> i64 {
    let secret = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{remote}"),
            "-n",
            "istio-system",
        ],
    );
    let kubeconfig: Value = serde_yaml::from_str(&decode(&secret["data"][remote])).unwrap();
    let token = kubeconfig["users"][0]["user"]["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_i64().unwrap()
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

// 5. Without a token controller, attaching a remote fails with the reason; no expiring token
//    is requested behind the user's back.
#[test]
fn without_a_token_controller_attaching_fails_and_requests_no_token() {
    let mesh = Mesh::new(TWO_CLUSTERS);
    // The token Secret names a ServiceAccount that does not exist: no controller fills it.
    mesh.write(
        "playbooks/attach.rhai",
        r#"import "lib/mesh" as mesh;
let primary = cluster("cluster-1");
let remote = cluster("cluster-2");
step("attach", || {
    remote.apply(template("istio/namespace.yaml.j2", #{ cluster: vars.remotes[0], role: "remote", label_network: false }));
    mesh::reader_credentials(primary, remote, #{ token_wait_seconds: 1 });
});
"#,
    );
    let run = mesh.play("playbooks/attach.rhai", "", &["--output", "json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let message = error_event(&run.stdout);
    let expected_start = "cluster-2: no token controller filled istio-system/istio-reader-service-account-istio-remote-secret-token \
         within 1 s (cluster-2: timed out after 1s waiting for the wait_until predicate of Secret \
         istio-system/istio-reader-service-account-istio-remote-secret-token; last observed: ";
    let expected_end = "). istiod needs a token that does not expire to keep reading this remote (istioctl \
         create-remote-secret fails here too). Check that the remote's kube-controller-manager runs its token \
         controller, or set remote_secret.expiring_token.enabled: true to use a TokenRequest token valid \
         remote_secret.expiring_token.ttl_days days instead, which verify watches and a re-run renews";
    assert!(
        message.starts_with(expected_start) && message.ends_with(expected_end),
        "{message}"
    );
    let secrets = mesh.kubectl_ok("cluster-1", &["get", "secrets", "-A", "-o", "name"]);
    assert!(!secrets.contains("istio-remote-secret"), "{secrets}");
}

// 5. An expiring token only when the vars ask: verify reports its expiry, warns under the
//    threshold, and a re-run renews it when it comes close.
#[test]
fn an_expiring_token_is_used_only_when_asked_reported_and_renewed() {
    let mesh = Mesh::new(TWO_CLUSTERS);
    let settings = |ttl: u32, warn: u32| {
        format!(
            "remote_secret:\n  token_wait_seconds: 10\n  expiring_token:\n    enabled: true\n    ttl_days: {ttl}\n  token_warn_days: {warn}\n"
        )
    };
    let bad = mesh.flagship(&settings(30, 30), &["--output", "json"]);
    assert_eq!(bad.code, Some(1));
    assert_eq!(
        error_event(&bad.stdout),
        "remote_secret.expiring_token.ttl_days (30) must be more than remote_secret.token_warn_days (30), or every run would renew the token"
    );

    let first = mesh.flagship(&settings(40, 30), &[]);
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    let exp = remote_secret_token_exp(&mesh, "cluster-2");
    let line = format!(
        "  cluster-2: the remote secret's token expires {} (40 days left)",
        rfc3339(exp)
    );
    assert!(first.has_line(&line), "{line}\n{}", first.stdout);
    assert!(
        !first.stdout.contains("token expires in"),
        "{}",
        first.stdout
    );

    // 40 days left is under a 45-day threshold: the next run renews the token.
    let renewed = mesh.flagship(&settings(90, 45), &[]);
    assert_eq!(
        renewed.code,
        Some(0),
        "{}\n{}",
        renewed.stdout,
        renewed.stderr
    );
    assert!(renewed.has_line(&format!(
        "  cluster-2: the remote secret's token expires {} (40 days left): renewing it",
        rfc3339(exp)
    )));
    assert!(renewed
        .has_line("  cluster-1    configured Secret istio-system/istio-remote-secret-cluster-2"));
    let new_exp = remote_secret_token_exp(&mesh, "cluster-2");
    let line = format!(
        "  cluster-2: the remote secret's token expires {} (90 days left)",
        rfc3339(new_exp)
    );
    assert!(renewed.has_line(&line), "{line}\n{}", renewed.stdout);
    let unchanged = mesh.flagship(&settings(90, 45), &[]);
    assert_eq!(unchanged.code, Some(0), "{}", unchanged.stderr);
    assert!(
        unchanged.stdout.contains("nothing changed"),
        "{}",
        unchanged.stdout
    );

    // verify warns under its threshold.
    let warned = mesh.flagship(&settings(120, 100), &["--only", "verify"]);
    assert_eq!(warned.code, Some(0));
    assert!(warned.has_line(
        "  warning: cluster-2: the remote secret's token expires in 90 days (under remote_secret.token_warn_days: 100); \
         run attach-remotes again to renew it before istiod loses this remote"
    ), "{}", warned.stdout);
}

/// The rules of istio-discovery's reader ClusterRole (chart 1.29+) for the default MCS group;
/// 1.27 and 1.28 lack configmaps in the second rule.
fn chart_reader_rules(configmaps_read: bool, remote_profile: bool) -> Value {
    let mut core = vec![
        "endpoints",
        "pods",
        "services",
        "nodes",
        "replicationcontrollers",
        "namespaces",
        "secrets",
    ];
    if configmaps_read {
        core.push("configmaps");
    }
    let mut rules = vec![
        json!({"apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io", "rbac.istio.io", "telemetry.istio.io", "extensions.istio.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": [""], "resources": core, "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["networking.istio.io"], "resources": ["workloadentries"], "verbs": ["get", "watch", "list"]}),
        json!({"apiGroups": ["networking.x-k8s.io", "gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": ["get", "watch", "list"]}),
        json!({"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceexports"], "verbs": ["get", "list", "watch", "create", "delete"]}),
        json!({"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceimports"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}),
        json!({"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}),
    ];
    if remote_profile {
        rules.push(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "update"]}));
        rules.push(json!({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"], "verbs": ["get", "list", "watch", "update", "patch"]}));
        rules.push(json!({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "verbs": ["get", "list", "watch", "update"]}));
    }
    Value::Array(rules)
}

fn reader_rules(mesh: &Mesh, context: &str) -> Value {
    mesh.kubectl(
        context,
        &[
            "get",
            "clusterrole",
            "istio-reader-clusterrole-istio-system",
        ],
    )["rules"]
        .clone()
}

// 6. The reader RBAC the play applies to a remote is the chart's, for the version in the vars.
#[test]
fn the_readers_rbac_is_the_charts_for_the_istio_version() {
    for (version, configmaps_read) in [("1.30.3", true), ("1.28.10", false)] {
        let mesh = Mesh::new(TWO_CLUSTERS);
        // attach-remotes applies templates/remote-secret/reader-rbac.yaml.j2 to a remote that
        // lacks the reader: run it alone, before any Istio install.
        let first = mesh.flagship(
            &format!("istio:\n  version: {version}\n"),
            &["--only", "ca,istio-system,attach-remotes"],
        );
        assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
        assert!(
            first.has_line(
                "  cluster-2    created    ClusterRole istio-reader-clusterrole-istio-system"
            ),
            "{}",
            first.stdout
        );
        assert_eq!(
            reader_rules(&mesh, "cluster-2"),
            chart_reader_rules(configmaps_read, true),
            "{version}"
        );
    }
    // The stand-in's readers: the remote profile's on a remote, the plain chart's on a primary.
    let mesh = converged(TWO_CLUSTERS);
    assert_eq!(
        reader_rules(&mesh, "cluster-2"),
        chart_reader_rules(true, true)
    );
    assert_eq!(
        reader_rules(&mesh, "cluster-1"),
        chart_reader_rules(true, false)
    );
}

/// The four webhooks of istio-discovery's mutatingwebhook.yaml for the default revision:
/// name, namespaceSelector, objectSelector.
fn chart_injector_selectors() -> Vec<(String, Value, Value)> {
    let expr = |key: &str, op: &str, values: Option<&[&str]>| match values {
        Some(v) => json!({"key": key, "operator": op, "values": v}),
        None => json!({"key": key, "operator": op}),
    };
    vec![
        (
            "rev.namespace.sidecar-injector.istio.io".into(),
            json!({"matchExpressions": [expr("istio.io/rev", "In", Some(&["default"])), expr("istio-injection", "DoesNotExist", None)]}),
            json!({"matchExpressions": [expr("sidecar.istio.io/inject", "NotIn", Some(&["false"]))]}),
        ),
        (
            "rev.object.sidecar-injector.istio.io".into(),
            json!({"matchExpressions": [expr("istio.io/rev", "DoesNotExist", None), expr("istio-injection", "DoesNotExist", None)]}),
            json!({"matchExpressions": [expr("sidecar.istio.io/inject", "NotIn", Some(&["false"])), expr("istio.io/rev", "In", Some(&["default"]))]}),
        ),
        (
            "namespace.sidecar-injector.istio.io".into(),
            json!({"matchExpressions": [expr("istio-injection", "In", Some(&["enabled"]))]}),
            json!({"matchExpressions": [expr("sidecar.istio.io/inject", "NotIn", Some(&["false"]))]}),
        ),
        (
            "object.sidecar-injector.istio.io".into(),
            json!({"matchExpressions": [expr("istio-injection", "DoesNotExist", None), expr("istio.io/rev", "DoesNotExist", None)]}),
            json!({"matchExpressions": [expr("sidecar.istio.io/inject", "In", Some(&["true"])), expr("istio.io/rev", "DoesNotExist", None)]}),
        ),
    ]
}

fn assert_chart_injector(webhook: &Value, path: &str) {
    let hooks = webhook["webhooks"].as_array().unwrap();
    let found: Vec<(String, Value, Value)> = hooks
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["namespaceSelector"].clone(),
                h["objectSelector"].clone(),
            )
        })
        .collect();
    assert_eq!(found, chart_injector_selectors());
    for hook in hooks {
        assert_eq!(
            hook["clientConfig"],
            json!({"service": {"name": "istiod", "namespace": "istio-system", "path": path, "port": 443}})
        );
        assert!(hook["clientConfig"].get("url").is_none());
    }
    assert_eq!(webhook["metadata"]["labels"]["istio.io/rev"], "default");
    assert_eq!(
        webhook["metadata"]["labels"]["app.kubernetes.io/version"],
        "1.30.3"
    );
}

// 7. The rehearsal stand-in creates the objects and names the real charts create.
#[test]
fn the_stand_in_has_the_charts_objects_and_names() {
    let mesh = converged(TWO_CLUSTERS);
    let primary = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector",
        ],
    );
    assert_chart_injector(&primary, "/inject");
    let validator = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "validatingwebhookconfiguration",
            "istio-validator-istio-system",
        ],
    );
    assert_eq!(
        validator["webhooks"][0]["rules"][0]["apiGroups"],
        json!([
            "security.istio.io",
            "networking.istio.io",
            "telemetry.istio.io",
            "extensions.istio.io"
        ])
    );
    assert_eq!(
        validator["webhooks"][0]["objectSelector"],
        json!({"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": ["default"]}]})
    );

    // The remote: the injector reaches istiod through a Service backed by an EndpointSlice that
    // holds remotePilotAddress, the primary's istiod-external IP.
    let remote = mesh.kubectl(
        "cluster-2",
        &[
            "get",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector",
        ],
    );
    assert_chart_injector(&remote, "/inject/cluster/cluster-2/net/network1");
    let ip = mesh.kubectl(
        "cluster-1",
        &["get", "service", "istiod-external", "-n", "istio-system"],
    )["status"]["loadBalancer"]["ingress"][0]["ip"]
        .clone();
    let service = mesh.kubectl(
        "cluster-2",
        &["get", "service", "istiod", "-n", "istio-system"],
    );
    assert!(service["spec"].get("selector").is_none());
    let ports: Vec<(i64, i64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_i64().unwrap(),
                p["targetPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [(15012, 15012), (443, 15017)]);
    let slice = mesh.kubectl(
        "cluster-2",
        &["get", "endpointslice", "istiod", "-n", "istio-system"],
    );
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "istiod"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"][0]["addresses"], json!([ip]));
    let slice_ports: Vec<i64> = slice["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(slice_ports, [15012, 15017]);
    // Still documented as not being Istio.
    assert!(mesh
        .read("playbooks/rehearsal/README.md")
        .contains("These files are **not Istio**"));
    assert_eq!(
        mesh.kubectl(
            "cluster-2",
            &["get", "service", "istiod", "-n", "istio-system"]
        )["metadata"]["labels"]["runner.dev/rehearsal"],
        "true"
    );
}

// 8. A supported release by default, and a warning when clusters run different versions,
//    read from istiod's image and from the remote's injector configuration.
#[test]
fn verify_warns_when_clusters_run_different_istio_versions() {
    let mesh = converged(TWO_CLUSTERS);
    assert!(mesh
        .read("playbooks/primary-remote.vars.yaml")
        .contains("  version: 1.30.3 "));
    let istiod = mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    assert_eq!(
        istiod["spec"]["template"]["spec"]["containers"][0]["image"],
        "rehearsal.invalid/istiod-stand-in:1.30.3"
    );
    let same = mesh.flagship("", &["--only", "verify"]);
    assert_eq!(same.code, Some(0));
    assert!(
        !same.stdout.contains("different Istio versions"),
        "{}",
        same.stdout
    );

    mesh.kubectl_ok(
        "cluster-2",
        &[
            "label",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector",
            "app.kubernetes.io/version=1.29.6",
            "--overwrite",
        ],
    );
    let skew = mesh.flagship("", &["--only", "verify"]);
    assert_eq!(skew.code, Some(0));
    let line = "  warning: clusters run different Istio versions: cluster-1 1.30.3 (istiod image), cluster-2 1.29.6 \
                (injector webhook label); upgrade the primary's control plane first, then the remotes, to one version";
    assert!(skew.has_line(line), "{line}\n{}", skew.stdout);

    // The injector's ConfigMap, where an install has one, says it first.
    mesh.kubectl_ok(
        "cluster-2",
        &[
            "create",
            "configmap",
            "istio-sidecar-injector",
            "-n",
            "istio-system",
            r#"--from-literal=values={"global": {"tag": "1.28.10"}}"#,
        ],
    );
    let skew = mesh.flagship("", &["--only", "verify"]);
    assert_eq!(skew.code, Some(0), "{}", skew.stderr);
    let line = "  warning: clusters run different Istio versions: cluster-1 1.30.3 (istiod image), cluster-2 1.28.10 \
                (istio-sidecar-injector ConfigMap); upgrade the primary's control plane first, then the remotes, to one version";
    assert!(skew.has_line(line), "{line}\n{}", skew.stdout);
}

// 2, 3. What cannot be checked against our CA stops the play before anything is written: a live
//    CA when certs/ has no root yet, and secrets istiod cannot use.
#[test]
fn live_cacerts_the_play_cannot_vouch_for_stop_it_before_any_write() {
    let mesh = Mesh::new(TWO_CLUSTERS);
    let (foreign_root, foreign_key) = foreign_ca(&mesh);
    mesh.kubectl_ok("cluster-2", &["create", "namespace", "istio-system"]);
    let theirs = fingerprint(&mesh.path(&foreign_root));
    let cases: [(Vec<String>, String); 3] = [
        (
            vec![
                format!("--from-file=ca-cert.pem={foreign_root}"),
                format!("--from-file=ca-key.pem={foreign_key}"),
                format!("--from-file=cert-chain.pem={foreign_root}"),
                format!("--from-file=root-cert.pem={foreign_root}"),
            ],
            format!(
                "cluster-2: istio-system/cacerts already holds a CA (intermediate \"O=Other, CN=Other Root\" \
                 (SHA-256 {theirs}, ca-cert.pem layout), root \"O=Other, CN=Other Root\" (SHA-256 {theirs})), \
                 and certs has no root CA: a new one would be a second root, and replacing the secret would \
                 break mTLS between this cluster and the mesh. Nothing was written. Put the root this secret \
                 was made with (root-cert.pem and root-key.pem, for example from Istio's Makefile directory) \
                 into certs, and run again"
            ),
        ),
        (
            vec!["--from-literal=token=x".to_string()],
            "cluster-2: istio-system/cacerts has neither tls.crt nor ca-cert.pem (keys: token); istiod cannot \
             sign with it and the play will not add its keys to it. Delete it, or give it the keys of one layout \
             (tls.crt/tls.key/ca.crt or ca-cert.pem/ca-key.pem/cert-chain.pem/root-cert.pem)"
                .to_string(),
        ),
        (
            vec![format!("--from-file=ca-cert.pem={foreign_root}")],
            "cluster-2: istio-system/cacerts has ca-cert.pem but no root-cert.pem: istiod cannot use it"
                .to_string(),
        ),
    ];
    for (files, expected) in cases {
        let mut args = vec![
            "create",
            "secret",
            "generic",
            "cacerts",
            "-n",
            "istio-system",
        ];
        args.extend(files.iter().map(String::as_str));
        mesh.kubectl_ok("cluster-2", &args);
        let disk = mesh.disk_snapshot();
        let cluster = mesh.cluster_snapshot("cluster-2");
        let run = mesh.flagship("", &["--output", "json"]);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(error_event(&run.stdout), expected);
        assert_eq!(mesh.disk_snapshot(), disk, "{expected}");
        assert!(!mesh.path("certs").exists());
        assert_eq!(mesh.cluster_snapshot("cluster-2"), cluster);
        mesh.kubectl_ok(
            "cluster-2",
            &["delete", "secret", "cacerts", "-n", "istio-system"],
        );
    }
}
