//! Cluster names mapped to contexts, TokenRequests, kubeconfig probes, manifests directories and
//! --sandbox's refusal of a kubeconfig, through the binary against sandbox clusters.

use predicates::prelude::*;
use runner_sandbox::{Sandbox, SandboxOptions};

struct Env {
    _rt: tokio::runtime::Runtime,
    _sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sandbox = rt
            .block_on(Sandbox::start(SandboxOptions {
                clusters: vec!["cluster-1".into(), "cluster-2".into()],
                ..Default::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        sandbox
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        Env {
            _rt: rt,
            _sandbox: sandbox,
            dir,
        }
    }

    fn play(&self, body: &str, extra: &[&str]) -> crate::common::Runner {
        std::fs::write(self.dir.path().join("playbooks/p.rhai"), body).unwrap();
        let mut cmd = crate::common::runner();
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .args(["play", "playbooks/p.rhai", "--kubeconfig", "kubeconfig"])
            .args(extra);
        cmd
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap()
    }
}

#[test]
fn a_playbook_context_maps_a_name_and_the_command_line_wins() {
    let env = Env::new();
    let body = r#"let c = cluster("east", #{ context: "cluster-1" }); write_file("out", c.context + " " + c.server);"#;
    env.play(body, &[]).assert().success();
    assert!(env.read("out").starts_with("cluster-1 https://127.0.0.1:"));
    env.play(body, &["--context", "east=cluster-2"])
        .assert()
        .success();
    assert!(env.read("out").starts_with("cluster-2 "));
    env.play(r#"cluster("east", #{ context: "nowhere" });"#, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cluster \"east\" maps to context \"nowhere\", which does not exist",
        ))
        .stderr(predicate::str::contains("cluster-1, cluster-2"));
}

#[test]
fn token_requests_and_probes() {
    let env = Env::new();
    let body = r#"
        let c = cluster("cluster-1");
        c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader, namespace: default}\n---\n"
            + "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"
            + "rules: [{apiGroups: [\"\"], resources: [namespaces], verbs: [list]}]\n---\n"
            + "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: reader}\n"
            + "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\n"
            + "subjects: [{kind: ServiceAccount, name: reader, namespace: default}]\n");
        let token = c.create_token("reader", 600, #{ namespace: "default" });
        let kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${c.server}", certificate-authority-data: "${base64_encode(c.get("ConfigMap", "kube-root-ca.crt", #{ namespace: "default" }).data["ca.crt"])}"}}]
users: [{name: u, user: {token: "${token}"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;
        let good = k8s::probe(kubeconfig);
        let forged_config = kubeconfig;
        forged_config.replace(token, "not-a-token");
        let forged = k8s::probe(forged_config);
        let other_config = kubeconfig;
        other_config.replace(c.server, cluster("cluster-2").server);
        let other = k8s::probe(other_config);
        // runner's own connection to cluster-1 is open, but trusts cluster-1's CA: a kubeconfig
        // that trusts another CA must make its own handshake, and fail it.
        let wrong_ca_config = kubeconfig;
        let own_ca = base64_encode(c.get("ConfigMap", "kube-root-ca.crt", #{ namespace: "default" }).data["ca.crt"]);
        let other_ca = base64_encode(cluster("cluster-2").get("ConfigMap", "kube-root-ca.crt", #{ namespace: "default" }).data["ca.crt"]);
        wrong_ca_config.replace(own_ca, other_ca);
        let wrong_ca = k8s::probe(wrong_ca_config);
        let good_again = k8s::probe(kubeconfig);
        write_file("out", `${good.ok} ${forged.ok} ${other.ok} ${wrong_ca.ok} ${good_again.ok}|${forged.error}|${other.error}|${wrong_ca.error}`);
        "#;
    env.play(body, &[]).assert().success();
    let out = env.read("out");
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts[0], "true false false false true", "{out}");
    assert_eq!(parts[1], "HTTP 401 Unauthorized: Unauthorized", "{out}");
    assert!(
        !parts[2].is_empty(),
        "another cluster refuses the token: {out}"
    );
    assert!(
        parts[3].contains("certificate"),
        "a CA that did not sign the server's certificate fails the handshake: {out}"
    );
    // A token for a ServiceAccount that does not exist is a clear error.
    env.play(
        r#"cluster("cluster-1").create_token("ghost", 600, #{ namespace: "default" });"#,
        &[],
    )
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "cannot request a token for ServiceAccount default/ghost",
    ));
    env.play(
        r#"write_file("out", `${k8s::probe("not: [yaml").ok}`);"#,
        &[],
    )
    .assert()
    .success();
    assert_eq!(env.read("out"), "false");
}

#[test]
fn manifests_directories_apply_in_name_order_and_bad_ones_are_named() {
    let env = Env::new();
    std::fs::create_dir_all(env.dir.path().join("manifests")).unwrap();
    std::fs::write(
        env.dir.path().join("manifests/b.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: demo}\n",
    )
    .unwrap();
    std::fs::write(
        env.dir.path().join("manifests/a.yaml.j2"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: {{ ns }}}\n",
    )
    .unwrap();
    std::fs::write(env.dir.path().join("manifests/notes.txt"), "not a manifest").unwrap();
    let body = r#"let out = cluster("cluster-1").apply(read_manifests("manifests", #{ ns: "demo" })); write_file("out", `${out.len()}`);"#;
    env.play(body, &[]).assert().success();
    assert_eq!(env.read("out"), "2");
    env.play(r#"read_manifests("nowhere", #{});"#, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read manifests directory nowhere",
        ));
    std::fs::create_dir_all(env.dir.path().join("empty")).unwrap();
    env.play(r#"read_manifests("empty", #{});"#, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "manifests directory empty holds no .yaml, .yml or .j2 files",
        ));
}

#[test]
fn sandbox_mode_refuses_a_kubeconfig() {
    let env = Env::new();
    env.play("", &["--sandbox"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--sandbox"));
}
