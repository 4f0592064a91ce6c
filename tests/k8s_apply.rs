//! Server-side apply through playbooks: ordering, CRDs, conflicts, idempotence, dry runs, secrets.

use crate::k8s_support;

use k8s_support::{start, stderr, stdout, Backend};

const CRD_AND_CR: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gizmo
spec:
  size: 3
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

async fn crd_and_its_custom_resource_in_one_stream(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    env.write("widgets.yaml", CRD_AND_CR);
    let play = r#"
        let c = cluster("cluster-1");
        let done = c.apply(read_file("widgets.yaml"));
        for r in done { print(`applied ${r.kind} ${r.name} ${r.action}`); }
        let w = c.get("wdg", "gizmo");
        print(`size=${w.spec.size}`);
        print(`by group: ${c.exists("widgets.example.com", "gizmo", #{ namespace: "default" })}`);
    "#;
    let out = env.runner("crd.rhai", play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Results come back in document order even though the CRD went first.
    let widget = text.find("applied Widget gizmo created").expect(&text);
    let crd = text
        .find("applied CustomResourceDefinition widgets.example.com created")
        .expect(&text);
    assert!(widget < crd, "{text}");
    assert!(
        text.contains("size=3") && text.contains("by group: true"),
        "{text}"
    );
    let cr = env
        .kubectl_get(
            "cluster-1",
            &["widgets.example.com", "gizmo", "-n", "default"],
        )
        .unwrap();
    assert_eq!(cr["spec"]["size"], 3);
}

async fn namespace_defined_after_its_objects(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team-a}
data: {mode: fast}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, namespace: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
`);
    "#;
    let out = env.runner("ns.rhai", play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cm = env
        .kubectl_get("cluster-1", &["configmap", "settings", "-n", "team-a"])
        .unwrap();
    assert_eq!(cm["data"]["mode"], "fast");
    assert!(env
        .kubectl_get("cluster-1", &["serviceaccount", "worker", "-n", "team-a"])
        .is_some());
}

async fn second_apply_is_unchanged_and_a_change_is_configured(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        let objects = [];
        for i in 0..5 {
            objects.push(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: `cm-${i}`}, data: #{i: `${i}`}});
        }
        let first = c.apply(objects);
        let second = c.apply(objects);
        objects[2].data.i = "changed";
        let third = c.apply(objects);
        print(`first=${first.map(|r| r.action)}`);
        print(`second=${second.map(|r| r.action)}`);
        print(`third=${third.map(|r| r.action)}`);
        print(`ns=${first[0].namespace}`);
    "#;
    let out = env.runner("idem.rhai", play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(r#"first=["created", "created", "created", "created", "created"]"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"second=["unchanged", "unchanged", "unchanged", "unchanged", "unchanged"]"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"third=["unchanged", "unchanged", "configured", "unchanged", "unchanged"]"#
        ),
        "{text}"
    );
    assert!(text.contains("ns=default"), "{text}");
}

async fn conflict_without_force_names_cluster_object_and_reason(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let manifest = env.write(
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: default}\ndata: {owner: other}\n",
    );
    let out = env.kubectl(
        "cluster-1",
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            manifest.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let play = |force: &str| {
        format!(
            r#"cluster("cluster-1").apply(#{{apiVersion: "v1", kind: "ConfigMap", metadata: #{{name: "shared"}}, data: #{{owner: "runner"}}}}{force});"#
        )
    };
    let out = env
        .runner("conflict.rhai", &play(""), &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cluster-1: cannot apply ConfigMap default/shared"),
        "{err}"
    );
    assert!(err.contains("reason Conflict, HTTP 409"), "{err}");
    assert!(err.contains("force: true"), "{err}");
    let cm = env
        .kubectl_get("cluster-1", &["configmap", "shared"])
        .unwrap();
    assert_eq!(cm["data"]["owner"], "other");

    let out = env
        .runner("force.rhai", &play(", #{force: true}"), &[])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cm = env
        .kubectl_get("cluster-1", &["configmap", "shared"])
        .unwrap();
    assert_eq!(cm["data"]["owner"], "runner");
}

async fn dry_run_shows_a_masked_diff_and_writes_nothing(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let setup = r#"
        let c = cluster("cluster-1");
        c.apply_secret("creds", #{password: "old-password-value-1"}, #{ namespace: "default" });
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "cfg"}, data: #{level: "info"}});
    "#;
    let out = env.runner("setup.rhai", setup, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let plan = r#"
        let c = cluster("cluster-1");
        let s = c.apply_secret("creds", #{password: "new-password-value-2"}, #{ namespace: "default" });
        print(`secret would be ${s.action}`);
        let r = c.apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {level: debug}
---
apiVersion: v1
kind: Namespace
metadata: {name: planned}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inside, namespace: planned}
`);
        print(`actions=${r.map(|x| x.action)}`);
        let later = c.apply_secret("later", #{token: "later-token-value-3"}, #{ namespace: "planned" });
        print(`later secret would be ${later.action}`);
        print(`read back: ${c.read_secret("creds", #{ namespace: "default" }).password.len()}`);
        // A plan sees its own delete, as the run would: label first.
        c.label("ConfigMap", "cfg", #{team: "a"}, #{ namespace: "default" });
        c.delete("ConfigMap", "cfg", #{ namespace: "default" });
    "#;
    let out = env
        .runner("plan.rhai", plan, &["--dry-run"])
        .output()
        .unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{err}");
    for secret in [
        "old-password-value-1",
        "new-password-value-2",
        "b2xkLXBhc3N3b3JkLXZhbHVlLTE",
        "bmV3LXBhc3N3b3JkLXZhbHVlLTI",
    ] {
        assert!(
            !text.contains(secret) && !err.contains(secret),
            "secret leaked:\n{text}\n{err}"
        );
    }
    assert!(text.contains("secret would be configured"), "{text}");
    assert!(text.contains("password: '*** (salted sha256:"), "{text}");
    assert!(
        text.contains("-  level: info") && text.contains("+  level: debug"),
        "{text}"
    );
    assert!(
        text.contains(r#"actions=["configured", "created", "created"]"#),
        "{text}"
    );
    assert!(text.contains("would be deleted"), "{text}");
    // Nothing was written.
    let cm = env.kubectl_get("cluster-1", &["configmap", "cfg"]).unwrap();
    assert_eq!(cm["data"]["level"], "info");
    assert!(cm["metadata"]["labels"].get("team").is_none());
    assert!(env
        .kubectl_get("cluster-1", &["namespace", "planned"])
        .is_none());
    let out = env
        .runner(
            "check.rhai",
            r#"print(`pw=${cluster("cluster-1").read_secret("creds", #{ namespace: "default" }).password}`);"#,
            &[],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pw=old-password-value-1"),
        "{}",
        stderr(&out)
    );
}

async fn reads_patches_labels_and_deletes(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    env.write("ca.crt", "-----BEGIN CERTIFICATE-----\nabc\n");
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "apps/v1", kind: "Deployment", metadata: #{name: "web", labels: #{app: "web"}},
            spec: #{replicas: 1, selector: #{matchLabels: #{app: "web"}},
                template: #{metadata: #{labels: #{app: "web"}}, spec: #{containers: [#{name: "web", image: "nginx"}]}}}});
        print(`kinds: ${c.exists("deploy", "web")} ${c.exists("Deployment.apps", "web", #{ namespace: "default" })} ${c.exists("apps/v1/Deployment", "web", #{ namespace: "default" })} ${c.exists("deployments", "nope")}`);
        print(`absent: ${type_of(c.get("cm", "nope"))}`);
        c.label("deployment", "web", #{tier: "front"}, #{ namespace: "default" });
        c.annotate("deployment", "web", #{note: "hi"}, #{ namespace: "default" });
        c.patch("deployment", "web", #{spec: #{replicas: 2}}, #{ namespace: "default" });
        let found = c.list("Deployment", #{ namespace: "default", labels: #{tier: "front"} });
        print(`listed: ${found.len()} ${found[0].metadata.annotations.note} ${found[0].spec.replicas}`);
        print(`none: ${c.list("Deployment", #{ labels: #{tier: "back"} }).len()}`);
        c.apply_secret_from_files("ca", ["ca.crt"], #{ namespace: "default" });
        print(`ca: ${c.read_secret("ca", #{ namespace: "default" })["ca.crt"].len()} missing: ${type_of(c.read_secret("nope", #{ namespace: "default" }))}`);
        print(`deleted: ${c.delete("Deployment", "web", #{ namespace: "default", wait: true, timeout: 30})} again: ${c.delete("Deployment", "web")}`);
        print(`gone: ${c.exists("deploy", "web")}`);
        try { c.get("Gadget", "x"); } catch (e) { print(`unknown: ${e}`); }
        try { c.patch("cm", "nope", #{data: #{a: "b"}}, #{ namespace: "default" }); } catch (e) { print(`patch: ${e}`); }
    "#;
    let out = env.runner("objects.rhai", play, &[]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    assert!(text.contains("kinds: true true true false"), "{text}");
    assert!(text.contains("absent: ()"), "{text}");
    assert!(text.contains("listed: 1 hi 2"), "{text}");
    assert!(text.contains("none: 0"), "{text}");
    assert!(text.contains("ca: 32 missing: ()"), "{text}");
    assert!(text.contains("deleted: true again: false"), "{text}");
    assert!(text.contains("gone: false"), "{text}");
    assert!(
        text.contains("unknown: cluster-1: the API server has no resource type \"Gadget\""),
        "{text}"
    );
    assert!(
        text.contains("patch: cluster-1: cannot patch ConfigMap default/nope: it does not exist"),
        "{text}"
    );
}

async fn bad_documents_are_refused_with_their_position(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"cluster("cluster-1").apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");"#;
    let out = env.runner("bad.rhai", play, &[]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("object 2 (ConfigMap) has no metadata.name"),
        "{}",
        stderr(&out)
    );
    assert!(
        env.kubectl_get("cluster-1", &["configmap", "ok"]).is_none(),
        "nothing is applied when a document is bad"
    );
}

async fn wrong_arguments_are_clear_errors(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    env.write("a/ca.crt", "x");
    env.write("b/ca.crt", "y");
    let play = r#"
        let c = cluster("cluster-1");
        let attempts = [
            || c.apply(42),
            || c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x"}}, #{force: "yes"}),
            || c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x"}}, #{dryrun: true}),
            || c.apply("kind: [unclosed"),
            || c.apply(#{apiVersion: "example.com/v9", kind: "Nothing", metadata: #{name: "x"}}),
            || c.wait_rollout("web", #{ namespace: "default", timeout: 0 }),
            || c.delete("cm", "x", #{ namespace: "default", wait: true, timeout: -1}),
            || c.delete("cm", "x", #{ namespace: "default", grace: 1}),
            || c.apply_secret("s", #{n: 1}, #{ namespace: "default" }),
            || c.apply_secret_from_files("s", ["a/ca.crt", "b/ca.crt"], #{ namespace: "default" }),
            || c.apply_secret_from_files("s", ["../outside"], #{ namespace: "default" }),
            || c.list("cm", #{ labels: #{app: 1} }),
            || allow_contexts(["["]),
        ];
        for f in attempts {
            try { f.call(); print("no error"); } catch (e) { print(`error: ${e}`); }
        }
    "#;
    let out = env.runner("args.rhai", play, &[]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    for expected in [
        "error: apply takes YAML text, a map or an array of maps, not i64",
        "error: apply: option force must be true or false, not string",
        "error: apply: unknown option \"dryrun\" (options: force, field_validation)",
        "error: invalid YAML in document 1 at line 2 column 1: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 7",
        "error: cluster-1: cannot apply Nothing x: the API server has no kind Nothing in example.com/v9",
        "error: wait_rollout: option timeout must be a positive number of seconds, not 0",
        "error: delete: option timeout must be a positive number of seconds, not -1",
        "error: delete: unknown option \"grace\" (options: namespace, wait, timeout)",
        "error: apply_secret: value of \"n\" must be a string, not i64",
        "error: apply_secret_from_files: two files are named \"ca.crt\"",
        "error: path \"../outside\" is outside the project root",
        "error: list: option labels.app must be a string, not i64",
        "error: invalid context pattern \"[\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("no error"), "{text}");
}

/// The API server offers HTTP/2, as every kube-apiserver does: a large apply then travels over
/// one multiplexed connection instead of one TLS handshake per concurrent request. On a real
/// server the test proves the same apply succeeds over HTTP/2.
async fn a_large_apply_shares_one_connection(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let mut manifests = String::new();
    for i in 0..60 {
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n  namespace: default\ndata:\n  n: \"{i}\"\n"
        ));
    }
    env.write("many.yaml", &manifests);
    let play = r#"
        let done = cluster("cluster-1").apply(read_file("many.yaml"));
        print(`applied ${done.len()}`);
    "#;
    let out = env.runner("many.rhai", play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("applied 60"), "{}", stdout(&out));
    // Only the sandbox counts its connections; a real server's are not observable from here.
    if let Some(sandbox) = env.clusters.sandbox() {
        let cluster = sandbox.cluster("cluster-1").unwrap();
        assert_eq!(
            cluster.connections(),
            1,
            "one connection carries every request"
        );
    }
}

/// A CRD whose v1beta1 is deprecated: the API server warns on every request for it.
const DEPRECATED_VERSION: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1beta1
    served: true
    storage: false
    deprecated: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

async fn server_warnings_are_shown_under_their_object_in_human_and_json_output(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    env.write("gadgets.yaml", DEPRECATED_VERSION);
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(read_file("gadgets.yaml"));
        c.apply(#{apiVersion: "example.com/v1beta1", kind: "Gadget", metadata: #{name: "old"}, spec: #{size: 1}},
                #{field_validation: vars.validation});
    "#;
    let warning = "  warning: cluster-1: Gadget default/old: the API server warns: example.com/v1beta1 Gadget is deprecated; use example.com/v1 Gadget\n";
    // Each directive is accepted; the deprecation is shown whatever the directive, also in a
    // dry run and when nothing changes.
    for (validation, extra, action) in [
        ("Strict", None, "created"),
        ("Warn", Some("--dry-run"), "unchanged"),
        ("Ignore", None, "unchanged"),
    ] {
        let var = format!("validation={validation}");
        let mut args = vec!["--var", var.as_str()];
        args.extend(extra);
        let out = env.runner("gadgets.rhai", play, &args).output().unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "{}\n{text}", stderr(&out));
        assert_eq!(text.matches(warning).count(), 1, "{validation}:\n{text}");
        if action == "created" {
            let line = "  cluster-1    created    Gadget default/old\n";
            let at = text.find(line).expect(&text);
            assert!(text[at + line.len()..].starts_with(warning), "{text}");
        }
    }

    let out = env
        .runner(
            "gadgets.rhai",
            play,
            &["--var", "validation=Strict", "--output", "json"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "warning")
        .collect();
    assert_eq!(
        warnings,
        vec![serde_json::json!({
            "event": "warning", "step": null, "from": "api-server",
            "cluster": "cluster-1", "kind": "Gadget", "namespace": "default", "name": "old",
            "message": "example.com/v1beta1 Gadget is deprecated; use example.com/v1 Gadget",
        })]
    );
}

async fn field_validation_must_name_a_directive(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let cm = #{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x"}};
        for v in ["strict", 1] {
            try { cluster("cluster-1").apply(cm, #{field_validation: v}); print("no error"); }
            catch (e) { print(`error: ${e}`); }
        }
    "#;
    let out = env.runner("fv.rhai", play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  error: "))
        .collect();
    assert_eq!(
        errors,
        [
            r#"  error: apply: option field_validation must be one of "Strict", "Warn", "Ignore", not "strict""#,
            r#"  error: apply: option field_validation must be a string, not i64"#,
        ]
    );
    assert!(env.kubectl_get("cluster-1", &["configmap", "x"]).is_none());
}

/// Every options map refuses an unknown key and a value of the wrong type, naming the function,
/// the key and the keys it takes; a namespace is never "", and "all namespaces" is said only
/// where it means something. Nothing reaches the cluster.
async fn every_option_map_is_checked(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        let cm = #{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x"}};
        let attempts = [
            || cluster("cluster-1", #{ctx: "x"}),
            || cluster("cluster-1", #{context: 1}),
            || c.apply(cm, #{force: 1}),
            || c.get("cm", "x", #{ns: "a"}),
            || c.get("cm", "x", #{namespace: ""}),
            || c.get("cm", "x", #{namespace: 1}),
            || c.get("cm", "x", #{all_namespaces: true}),
            || c.exists("cm", "x", #{namespace: ""}),
            || c.list("cm", #{namespace: ""}),
            || c.list("cm", #{namespace: "a", all_namespaces: true}),
            || c.list("cm", #{all_namespaces: "yes"}),
            || c.list("cm", #{labels: "app=x"}),
            || c.list("cm", #{label: #{}}),
            || c.delete("cm", "x", #{wait: "yes"}),
            || c.delete("cm", "x", #{timeout: "30s"}),
            || c.patch("cm", "x", #{}, #{timeout: 1}),
            || c.label("cm", "x", #{}, #{namespaces: "a"}),
            || c.annotate("cm", "x", #{}, #{namespace: 7}),
            || c.apply_secret("s", #{}, #{name: "s"}),
            || c.apply_secret_from_files("s", [1], #{}),
            || c.read_secret("s", #{namespace: ""}),
            || c.wait_rollout("d", #{timeout: 1.5}),
            || c.wait_condition("cm", "x", "Ready", "True", #{wait: true}),
            || c.wait_loadbalancer("s", #{timeout: 0}),
            || c.wait_crd("x.example.com", #{namespace: "a"}),
            || c.wait_until("cm", "x", |o| true, #{timeout: -5}),
            || c.rollout_restart("d", #{timeout: 1}),
            || c.create_token("sa", 600, #{audience: "x"}),
            || c.create_token("sa", 0),
            || c.exec_pod("p", ["ls", 1]),
            || c.exec_pod("p", ["ls"], #{env: #{}}),
            || c.exec_pod("p", ["ls"], #{container: 1}),
            || exec("true", [1]),
            || exec("true", [], #{timeout: 0.5}),
            || exec("true", [], #{env: #{A: 1}}),
            || exec("true", [], #{check: "no"}),
            || exec("true", [], #{shell: true}),
            || allow_contexts([1]),
            || certs::ensure_root_ca("certs", #{keytype: "rsa-2048"}),
            || certs::check_cacerts("c1", "", "certs", "c1", (), #{rotation: "yes"}),
        ];
        for f in attempts {
            try { f.call(); print("no error"); } catch (e) { print(`error: ${e}`); }
        }
    "#;
    let out = env.runner("options.rhai", play, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  error: ") || l.starts_with("  no error"))
        .collect();
    assert_eq!(
        errors,
        [
            r#"  error: cluster: unknown option "ctx" (options: context)"#,
            r#"  error: cluster: option context must be a string, not i64"#,
            r#"  error: apply: option force must be true or false, not i64"#,
            r#"  error: get: unknown option "ns" (options: namespace)"#,
            r#"  error: get: option namespace must not be empty"#,
            r#"  error: get: option namespace must be a string, not i64"#,
            r#"  error: get: unknown option "all_namespaces" (options: namespace)"#,
            r#"  error: exists: option namespace must not be empty"#,
            r#"  error: list: option namespace must not be empty"#,
            r#"  error: list: give either namespace or all_namespaces: true, not both"#,
            r#"  error: list: option all_namespaces must be true or false, not string"#,
            r#"  error: list: option labels must be a map of strings, not string"#,
            r#"  error: list: unknown option "label" (options: namespace, all_namespaces, labels)"#,
            r#"  error: delete: option wait must be true or false, not string"#,
            r#"  error: delete: option timeout must be a number of seconds, not string"#,
            r#"  error: patch: unknown option "timeout" (options: namespace)"#,
            r#"  error: label: unknown option "namespaces" (options: namespace)"#,
            r#"  error: annotate: option namespace must be a string, not i64"#,
            r#"  error: apply_secret: unknown option "name" (options: namespace)"#,
            r#"  error: apply_secret_from_files: paths[0] must be a string, not i64"#,
            r#"  error: read_secret: option namespace must not be empty"#,
            r#"  error: wait_rollout: option timeout must be a number of seconds, not f64"#,
            r#"  error: wait_condition: unknown option "wait" (options: namespace, timeout)"#,
            r#"  error: wait_loadbalancer: option timeout must be a positive number of seconds, not 0"#,
            r#"  error: wait_crd: unknown option "namespace" (options: timeout)"#,
            r#"  error: wait_until: option timeout must be a positive number of seconds, not -5"#,
            r#"  error: rollout_restart: unknown option "timeout" (options: namespace)"#,
            r#"  error: create_token: unknown option "audience" (options: namespace)"#,
            r#"  error: create_token: seconds must be a positive number, not 0"#,
            r#"  error: exec_pod: command[1] must be a string, not i64"#,
            r#"  error: exec_pod: unknown option "env" (options: namespace, container, timeout, stdin, check)"#,
            r#"  error: exec_pod: option container must be a string, not i64"#,
            r#"  error: exec: args[0] must be a string, not i64"#,
            r#"  error: exec: option timeout must be a number of seconds, not f64"#,
            r#"  error: exec: option env.A must be a string, not i64"#,
            r#"  error: exec: option check must be true or false, not string"#,
            r#"  error: exec: unknown option "shell" (options: env, cwd, timeout, stdin, check)"#,
            r#"  error: allow_contexts: patterns[0] must be a string, not i64"#,
            r#"  error: certs::ensure_root_ca: unknown option "keytype" (options: key_type, validity_days, organization, common_name, country, state, locality, expiry_warn_days, lock_wait_secs)"#,
            r#"  error: certs::check_cacerts: option rotation must be true or false, not string"#,
        ]
    );
    assert!(env.kubectl_get("cluster-1", &["configmap", "x"]).is_none());
}

/// What may be absent comes back as (), and `?.` and `??` read through it.
async fn absent_values_read_through_question_dot(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        let missing = c.get("ConfigMap", "nowhere", #{ namespace: "default" });
        print(`get: ${type_of(missing)} replicas=${missing?.status?.availableReplicas ?? 0}`);
        print(`secret: ${c.read_secret("nowhere")?["token"] ?? "none"}`);
        let ns = c.get("Namespace", "default");
        print(`labels: ${ns?.metadata?.labels?["kubernetes.io/metadata.name"] ?? "none"}`);
        print(`namespace: ${c.namespace} in ${c.name} (${c.context})`);
    "#;
    let out = env.runner("absent.rhai", play, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let printed: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["  get:", "  secret:", "  labels:", "  namespace:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(
        printed,
        [
            "  get: () replicas=0",
            "  secret: none",
            "  labels: default",
            "  namespace: default in cluster-1 (cluster-1)",
        ]
    );
}

on_both_backends!(
    async crd_and_its_custom_resource_in_one_stream,
    namespace_defined_after_its_objects,
    second_apply_is_unchanged_and_a_change_is_configured,
    conflict_without_force_names_cluster_object_and_reason,
    dry_run_shows_a_masked_diff_and_writes_nothing,
    reads_patches_labels_and_deletes,
    bad_documents_are_refused_with_their_position,
    wrong_arguments_are_clear_errors,
    a_large_apply_shares_one_connection,
    server_warnings_are_shown_under_their_object_in_human_and_json_output,
    field_validation_must_name_a_directive,
    every_option_map_is_checked,
    absent_values_read_through_question_dot
);
