//! Issue 23 on the sandbox, one test per point: Istio's validity, the cacerts layouts istiod
//! reads, root bundles and rotation, reader tokens, the reader's RBAC, the rehearsal stand-in's
//! shapes and version skew. kubectl and openssl check what the play did.

mod istio_support;

use base64::Engine as _;
use istio_support::{fingerprint, openssl, Mesh};
use serde_json::{json, Value};

const TWO_CLUSTERS: &[&str] = &["cluster-1", "cluster-2"];

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
}

// 4. The rotation step: a rotated intermediate goes into cacerts explicitly, istiod is
//    restarted through its pod template and awaited; the flagship then accepts it.
#[test]
fn a_rotated_intermediate_is_rolled_out_and_istiod_restarted() {
    let mesh = converged(TWO_CLUSTERS);
    let old = mesh.read("certs/cluster-1/ca-cert.pem");
    mesh.write(
        "playbooks/rotate.rhai",
        r#"import "lib/mesh" as mesh;
let primary = cluster(vars.primary.name, vars.primary.context);
step("rotate", || {
    let root = certs::root_ca(vars.certs.dir, mesh::root_options(vars.certs));
    certs::rotate_intermediate(root, vars.certs.dir, "cluster-1", mesh::intermediate_options(vars.certs));
    mesh::roll_out_intermediate(primary, vars.certs.dir, "cluster-1", 60);
});
"#,
    );
    let run = mesh.play("playbooks/rotate.rhai", "", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for line in [
        "  configured intermediate CA certs/cluster-1",
        "  cluster-1    configured Secret istio-system/cacerts",
        "  cluster-1    configured Deployment istio-system/istiod",
        "  done waiting for rollout of Deployment istio-system/istiod in cluster-1",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(line)),
            "{line}\n{}",
            run.stdout
        );
    }
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
    assert!(third.stdout.contains("nothing changed"), "{}", third.stdout);
}
