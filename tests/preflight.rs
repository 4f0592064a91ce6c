//! Failing before the first write: the variables' schema, `--var` and vars files that mean what
//! they say, the preflight of declared clusters, and the checks `runner play` makes before its
//! first step. Each case runs the flagship (a copy, as a user has it) against sandbox clusters
//! and checks the exact message, the exit code, and that no cluster and no file was written.

use std::path::PathBuf;
use std::process::Command;

use crate::common;
use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;

struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
}

impl Mesh {
    fn new() -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
            .worker_threads(1)
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh { env, kubeconfig }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    /// Replaces `from` by `to` in a file of the project copy (exactly once).
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {rel}");
        std::fs::write(self.path(rel), text.replacen(from, to, 1)).unwrap();
    }

    fn runner(&self, args: &[&str]) -> crate::common::Runner {
        let mut cmd = crate::common::runner();
        cmd.current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .args(args);
        cmd
    }

    /// The flagship with the sandbox's kubeconfig and the manifests installer.
    fn play(&self, extra: &[&str]) -> crate::common::Runner {
        let mut cmd = self.runner(&["play", "playbooks/primary-remote.rhai", "--kubeconfig"]);
        cmd.arg(&self.kubeconfig)
            .args([
                "--var",
                "istio.installer=manifests",
                "--var",
                "certs.key_type=ecdsa-p256",
            ])
            .args(extra);
        cmd
    }

    /// Runs the play, expects `code`, returns (stdout, stderr).
    fn fails(&self, extra: &[&str], code: i32) -> (String, String) {
        let out = self.play(extra).output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        (stdout, stderr)
    }

    /// Nothing was written: no step ran, no CA was made, neither cluster has istio-system.
    fn assert_untouched(&self, stdout: &str) {
        assert!(!stdout.contains("STEP ["), "a step ran:\n{stdout}");
        assert!(!self.path("certs").exists(), "certs/ was written");
        for context in ["cluster-1", "cluster-2"] {
            let out = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["--context", context, "get", "namespaces", "-o", "name"])
                .env_remove("KUBECONFIG")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let names = String::from_utf8(out.stdout).unwrap();
            assert!(
                !names.contains("namespace/istio-system"),
                "{context} was written to: {names}"
            );
        }
    }
}

/// The first line of the report: the message after miette's `×`.
fn headline(stderr: &str) -> &str {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("× "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
}

#[test]
fn an_unknown_key_set_by_var_names_the_closest_key_and_the_keys() {
    let mesh = Mesh::new();
    let (stdout, stderr) = mesh.fails(&["--var", "apps.backnd.name=x"], 2);
    assert_eq!(
        headline(&stderr),
        "--var apps.backnd.name=x: vars.apps has no key backnd; did you mean backend? (keys: namespace, frontend, backend)"
    );
    assert!(stderr.contains(
        "help: the variables are described by playbooks/primary-remote.vars.schema.yaml"
    ));
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_playbook_reading_a_missing_key_fails_before_the_first_step() {
    let mesh = Mesh::new();
    mesh.edit(
        "playbooks/primary-remote.rhai",
        "#{ app: vars.apps.backend }",
        "#{ app: vars.apps.backnd }",
    );
    let (stdout, stderr) = mesh.fails(&[], 1);
    assert_eq!(
        headline(&stderr),
        "vars.apps has no key backnd; did you mean backend? (keys: namespace, frontend, backend)"
    );
    let playbook = std::fs::read_to_string(mesh.path("playbooks/primary-remote.rhai")).unwrap();
    let line = 1 + playbook
        .lines()
        .position(|l| l.contains("vars.apps.backnd"))
        .unwrap();
    assert!(
        stderr.contains(&format!("[playbooks/primary-remote.rhai:{line}:")),
        "{stderr}"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_value_of_the_wrong_shape_is_refused_with_what_was_expected() {
    let mesh = Mesh::new();
    let (stdout, stderr) = mesh.fails(&["--var", "apps=oops"], 2);
    assert_eq!(
        headline(&stderr),
        "--var apps=oops: vars.apps: expected a map, not a string (\"oops\")"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn var_values_mean_what_they_say() {
    let mesh = Mesh::new();
    for (var, message) in [
        (
            "istiod.replicas=",
            "invalid --var \"istiod.replicas=\": no value after '='; for an empty string write --var \"istiod.replicas=''\"",
        ),
        (
            "istiod.replicas=[1,",
            "invalid --var \"istiod.replicas=[1,\": the value is not valid YAML (did not find expected node content at line 2 column 1, while parsing a flow node); to pass it as text, quote it: --var \"istiod.replicas='[1,'\"",
        ),
        (
            "remotes.1.api_server=x",
            "invalid --var \"remotes.1.api_server=x\": vars.remotes has 1 item(s), so index 1 is out of range (0 to 0); to change the whole list, set vars.remotes itself",
        ),
        (
            "remotes.api_server=x",
            "invalid --var \"remotes.api_server=x\": vars.remotes is a list: give an item's index, for example remotes.0.api_server",
        ),
        (
            "istiod.replicas.max=3",
            "invalid --var \"istiod.replicas.max=3\": vars.istiod.replicas is a number (3), not a map, so it has no key max",
        ),
    ] {
        let (stdout, stderr) = mesh.fails(&["--var", var], 2);
        assert_eq!(headline(&stderr), message);
        mesh.assert_untouched(&stdout);
    }
}

#[test]
fn the_schema_checks_types_enumerations_names_urls_and_uniqueness() {
    let mesh = Mesh::new();
    for (var, message) in [
        (
            "istiod.replicas=0",
            "--var istiod.replicas=0: vars.istiod.replicas: expected a positive whole number, not a number (0)",
        ),
        (
            "certs.root_days=ten",
            "--var certs.root_days=ten: vars.certs.root_days: expected a positive whole number of days, not a string (\"ten\")",
        ),
        (
            "certs.key_type=rsa-1024",
            "--var certs.key_type=rsa-1024: vars.certs.key_type: expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, not a string (\"rsa-1024\")",
        ),
        (
            "istio.installer=kubectl",
            "--var istio.installer=kubectl: vars.istio.installer: expected one of auto, istioctl, helm, manifests, not a string (\"kubectl\")",
        ),
        (
            "remotes.0.name=Cluster_2",
            "--var remotes.0.name=Cluster_2: vars.remotes[0].name: expected a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending alphanumeric), not a string (\"Cluster_2\")",
        ),
        (
            "remotes.0.name=cluster-1",
            "--var remotes.0.name=cluster-1: vars.remotes[0].name: \"cluster-1\" is also vars.primary.name; cluster names must be unique",
        ),
        (
            "remotes.0.api_server=10.0.0.2:6443",
            "--var remotes.0.api_server=10.0.0.2:6443: vars.remotes[0].api_server: expected a URL such as https://10.0.0.2:6443, or empty for the kubeconfig's server, not a string (\"10.0.0.2:6443\")",
        ),
        (
            "failover.0.to=''",
            "--var failover.0.to='': vars.failover[0].to: expected a non-empty region name, not a string (\"\")",
        ),
    ] {
        let (stdout, stderr) = mesh.fails(&["--var", var], 2);
        assert_eq!(headline(&stderr), message, "--var {var}");
        mesh.assert_untouched(&stdout);
    }
}

#[test]
fn schema_errors_name_the_vars_file_and_line() {
    let mesh = Mesh::new();
    std::fs::write(
        mesh.path("mine.yaml"),
        "istiod:\n  replicas: 2\napps:\n  namespace: production\n  backend: {name: backend, replicas: -1, version: v1, image: b}\n",
    )
    .unwrap();
    let (stdout, stderr) = mesh.fails(&["--vars", "mine.yaml"], 2);
    assert_eq!(
        headline(&stderr),
        "mine.yaml:5: vars.apps.backend.replicas: expected a positive whole number, not a number (-1)"
    );
    mesh.assert_untouched(&stdout);
    // Several problems are listed together, each with its place.
    let (_, stderr) = mesh.fails(&["--vars", "mine.yaml", "--var", "demo_apps=yes"], 2);
    assert!(
        stderr.contains("× 2 problems with the play's variables:\n  │   - --var demo_apps=yes: vars.demo_apps: expected true or false, not a string (\"yes\")\n  │   - mine.yaml:5: vars.apps.backend.replicas: expected a positive whole number, not a number (-1)\n"),
        "{stderr}"
    );
}

#[test]
fn duplicate_keys_in_a_vars_file_name_both_lines() {
    let mesh = Mesh::new();
    std::fs::write(
        mesh.path("dup.yaml"),
        "istiod:\n  replicas: 2\nmesh_id: a\nistiod:\n  replicas: 1\n",
    )
    .unwrap();
    let (stdout, stderr) = mesh.fails(&["--vars", "dup.yaml"], 2);
    assert_eq!(
        headline(&stderr),
        "dup.yaml:4: vars.istiod is given twice, at lines 1 and 4; keep one"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_context_flag_for_a_cluster_the_play_does_not_use_is_refused() {
    let mesh = Mesh::new();
    let (stdout, stderr) = mesh.fails(&["--context", "cluster-9=cluster-1"], 1);
    assert_eq!(
        headline(&stderr),
        "--context cluster-9=cluster-1: this play has no cluster of that name (its clusters: cluster-1, cluster-2)"
    );
    mesh.assert_untouched(&stdout);
}

/// The sandbox kubeconfig with one cluster's server or token changed.
fn broken_kubeconfig(
    mesh: &Mesh,
    cluster: &str,
    server: Option<&str>,
    token: Option<&str>,
) -> PathBuf {
    let text = std::fs::read_to_string(&mesh.kubeconfig).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for entry in config["clusters"].as_sequence_mut().unwrap() {
        if entry["name"].as_str() == Some(cluster) {
            if let Some(server) = server {
                entry["cluster"]["server"] = server.into();
            }
        }
    }
    let user = format!("{cluster}-admin");
    for entry in config["users"].as_sequence_mut().unwrap() {
        if entry["name"].as_str() == Some(user.as_str()) {
            if let Some(token) = token {
                assert!(entry["user"]["token"].is_string());
                entry["user"]["token"] = token.into();
            }
        }
    }
    let file = mesh.path("broken-kubeconfig");
    std::fs::write(&file, serde_yaml::to_string(&config).unwrap()).unwrap();
    file
}

#[test]
fn the_preflight_shows_every_cluster_before_the_first_step() {
    let mesh = Mesh::new();
    let out = mesh.play(&["--dry-run", "--only", "ca"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let preflight: Vec<&str> = stdout.lines().filter(|l| l.starts_with("TARGET")).collect();
    assert_eq!(preflight.len(), 2, "{stdout}");
    let line = regex::Regex::new(
        r"^TARGET (cluster-[12])  context=(cluster-[12])  server=https://127\.0\.0\.1:\d+  preflight ok$",
    )
    .unwrap();
    for (i, l) in preflight.iter().enumerate() {
        let caps = line.captures(l).unwrap_or_else(|| panic!("{l}"));
        assert_eq!(&caps[1], format!("cluster-{}", i + 1));
        assert_eq!(&caps[1], &caps[2]);
    }
    let first_step = stdout.find("STEP [").unwrap();
    // Listed once, before the first step, never again in a step.
    assert!(stdout.find("TARGET").unwrap() < first_step);
    assert_eq!(stdout.matches("TARGET").count(), 2, "{stdout}");
}

#[test]
fn a_cluster_whose_server_does_not_answer_stops_the_play_before_any_write() {
    let mesh = Mesh::new();
    let kubeconfig = broken_kubeconfig(&mesh, "cluster-2", Some("https://127.0.0.1:1"), None);
    let mut cmd = mesh.runner(&["play", "playbooks/primary-remote.rhai", "--kubeconfig"]);
    let out = cmd
        .arg(&kubeconfig)
        .args(["--var", "istio.installer=manifests"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let message = headline(&stderr);
    assert!(
        message.starts_with(
            "preflight: cluster \"cluster-2\" (context cluster-2, https://127.0.0.1:1): the API server does not answer: "
        ) && message.contains("Connection refused"),
        "{message}"
    );
    assert!(
        stdout.contains(
            "TARGET cluster-2  context=cluster-2  server=https://127.0.0.1:1  preflight FAILED"
        ),
        "{stdout}"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn rejected_credentials_stop_the_play_before_any_write() {
    let mesh = Mesh::new();
    let kubeconfig = broken_kubeconfig(&mesh, "cluster-1", None, Some("not-a-token"));
    let mut cmd = mesh.runner(&["play", "playbooks/primary-remote.rhai", "--kubeconfig"]);
    let out = cmd
        .arg(&kubeconfig)
        .args(["--var", "istio.installer=manifests"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let message = headline(&stderr);
    let expected = regex::Regex::new(
        r#"^preflight: cluster "cluster-1" \(context cluster-1, https://127\.0\.0\.1:\d+\): the API server rejected the credentials \(HTTP 401 Unauthorized: .+\)$"#,
    )
    .unwrap();
    assert!(expected.is_match(message), "{message}");
    assert!(
        !stderr.contains("not-a-token"),
        "a token was printed:\n{stderr}"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_context_the_kubeconfig_lacks_stops_the_play_before_any_write() {
    let mesh = Mesh::new();
    let (stdout, stderr) = mesh.fails(&["--var", "remotes.0.context=cluster-7"], 1);
    assert_eq!(
        headline(&stderr),
        "preflight: cluster \"cluster-2\" maps to context \"cluster-7\", which does not exist (contexts that exist: cluster-1, cluster-2)"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn an_import_cycle_is_named_as_a_chain_by_play_and_check() {
    let mesh = Mesh::new();
    let module = mesh.path("playbooks/lib/mesh.rhai");
    let text = std::fs::read_to_string(&module).unwrap();
    std::fs::write(
        &module,
        format!("import \"../primary-remote\" as again;\n{text}"),
    )
    .unwrap();
    let (stdout, stderr) = mesh.fails(&[], 1);
    assert_eq!(
        headline(&stderr),
        "import cycle: playbooks/primary-remote.rhai → playbooks/lib/mesh.rhai → playbooks/primary-remote.rhai"
    );
    assert!(stderr.contains("[playbooks/lib/mesh.rhai:1:1]"), "{stderr}");
    mesh.assert_untouched(&stdout);
    let out = mesh
        .runner(&["check", "playbooks/primary-remote.rhai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        headline(&stderr),
        "import cycle: playbooks/primary-remote.rhai → playbooks/lib/mesh.rhai → playbooks/primary-remote.rhai"
    );
    assert!(stderr.ends_with("1 error(s)\n"), "{stderr}");
}

#[test]
fn an_unknown_function_fails_before_the_first_step_with_the_closest_name() {
    let mesh = Mesh::new();
    mesh.edit(
        "playbooks/primary-remote.rhai",
        "primary.wait_rollout(",
        "primary.wait_rollot(",
    );
    let (stdout, stderr) = mesh.fails(&[], 1);
    assert_eq!(
        headline(&stderr),
        "no function named wait_rollot; did you mean wait_rollout? (see: runner api wait_rollout)"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_play_that_declares_no_clusters_reports_an_unused_context_flag_when_it_ends() {
    let mesh = Mesh::new();
    std::fs::write(
        mesh.path("playbooks/plain.rhai"),
        "let c = cluster(\"cluster-1\");\nstep(\"look\", || { c.exists(\"Namespace\", \"default\") });\n",
    )
    .unwrap();
    let mut cmd = mesh.runner(&["play", "playbooks/plain.rhai", "--kubeconfig"]);
    let out = cmd
        .arg(&mesh.kubeconfig)
        .args(["--context", "cluster-9=cluster-2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        headline(&stderr),
        "--context cluster-9=cluster-2: this play has no cluster of that name (its clusters: cluster-1)"
    );
}

#[test]
fn a_template_with_a_syntax_error_fails_the_play_before_the_first_step() {
    let mesh = Mesh::new();
    mesh.edit(
        "templates/istio/control-plane-quota.yaml.j2",
        "apiVersion: v1",
        "{{ broken }\napiVersion: v1",
    );
    let (stdout, stderr) = mesh.fails(&[], 1);
    assert_eq!(
        headline(&stderr),
        "template templates/istio/control-plane-quota.yaml.j2:2: syntax error: unexpected `}`, expected end of variable block"
    );
    let playbook = std::fs::read_to_string(mesh.path("playbooks/primary-remote.rhai")).unwrap();
    let line = 1 + playbook
        .lines()
        .position(|l| l.contains("istio/control-plane-quota.yaml.j2"))
        .unwrap();
    assert!(
        stderr.contains(&format!(
            "called from playbooks/primary-remote.rhai:{line}:19"
        )),
        "{stderr}"
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_context_the_allow_list_refuses_stops_the_play_before_any_write() {
    let mesh = Mesh::new();
    let (stdout, stderr) = mesh.fails(&["--allow-context", "cluster-1"], 1);
    assert_eq!(
        headline(&stderr),
        "preflight: cluster \"cluster-2\" (context \"cluster-2\") is not allowed by --allow-context: allowed contexts are \"cluster-1\""
    );
    mesh.assert_untouched(&stdout);
}

#[test]
fn a_cluster_the_playbook_did_not_declare_is_refused_before_anything_is_sent_to_it() {
    let mesh = Mesh::new();
    std::fs::write(
        mesh.path("playbooks/undeclared.rhai"),
        r#"declare_clusters(["cluster-1"]);
step("declared", || {
    apply(cluster("cluster-1"), #{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "declared" } });
});
step("undeclared", || {
    apply(cluster("cluster-2"), #{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "undeclared" } });
});
"#,
    )
    .unwrap();
    let mut play = mesh.runner(&["play", "playbooks/undeclared.rhai", "--kubeconfig"]);
    let out = play.arg(&mesh.kubeconfig).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        r#"  × step [undeclared] failed: cluster "cluster-2" is not one the playbook declared (declare_clusters: cluster-1)
   ╭─[playbooks/undeclared.rhai:6:11]
 5 │ step("undeclared", || {
 6 │     apply(cluster("cluster-2"), #{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "undeclared" } });
   ·           ───┬───
   ·              ╰── in step [undeclared]
 7 │ });
   ╰────
  help: add it to declare_clusters, so that the preflight checks it before the first write
"#
    );
    let namespaces = |context: &str| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&mesh.kubeconfig)
            .args(["--context", context, "get", "namespaces", "-o", "name"])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(namespaces("cluster-1").contains("namespace/declared\n"));
    assert!(!namespaces("cluster-2").contains("namespace/undeclared"));
}
