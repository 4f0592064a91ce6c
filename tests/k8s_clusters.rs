//! Clusters by kubeconfig context: several in one play, mapping, missing contexts, allow-lists.

use crate::k8s_support;

use k8s_support::{start, stderr, stdout, Backend};

const CONFIGMAP: &str = r#"#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "probe", namespace: "default"}, data: #{"who": WHO}}"#;

fn configmap(who: &str) -> String {
    CONFIGMAP.replace("WHO", &format!("{who:?}"))
}

async fn two_clusters_in_one_play(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"
        let one = cluster("cluster-1");
        let two = cluster("cluster-2");
        step("spread", || {{
            one.apply({});
            two.apply({});
        }});
        print(`handles: ${{one.name}} ${{one.context}} ${{two.namespace}} ${{two.server}}`);
        "#,
        configmap("one"),
        configmap("two")
    );
    let out = env.runner("two.rhai", &play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("TARGET cluster-1  context=cluster-1  server=https://"),
        "{text}"
    );
    assert!(
        text.contains("TARGET cluster-2  context=cluster-2"),
        "{text}"
    );
    assert!(
        text.contains("handles: cluster-1 cluster-1 default https://127.0.0.1:"),
        "{text}"
    );
    for (context, who) in [("cluster-1", "one"), ("cluster-2", "two")] {
        let cm = env
            .kubectl_get(
                context,
                &[
                    "configmap",
                    "probe",
                    "-n",
                    "default",
                    "--show-managed-fields",
                ],
            )
            .expect("written");
        assert_eq!(cm["data"]["who"], who, "{context}");
        let managers: Vec<&str> = cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert_eq!(managers, vec!["runner"]);
    }
    let recap = text.split("PLAY RECAP").nth(1).unwrap();
    assert!(
        recap.contains("cluster-1") && recap.contains("cluster-2"),
        "{recap}"
    );
}

async fn context_flag_maps_a_playbook_name(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"let east = cluster("east"); east.apply({}); print(`east is ${{east.context}}`);"#,
        configmap("east")
    );
    let out = env
        .runner("map.rhai", &play, &["--context", "east=cluster-2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("east is cluster-2"));
    assert!(env
        .kubectl_get("cluster-2", &["configmap", "probe"])
        .is_some());
    assert!(env
        .kubectl_get("cluster-1", &["configmap", "probe"])
        .is_none());
}

async fn missing_context_lists_the_ones_that_exist(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let out = env
        .runner("missing.rhai", r#"cluster("cluster-9");"#, &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no kubeconfig context \"cluster-9\""), "{err}");
    assert!(
        err.contains("contexts that exist: cluster-1, cluster-2"),
        "{err}"
    );
}

async fn playbook_allow_list_refuses_before_any_write(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = format!(
        r#"allow_contexts(["prod-*"]); let c = cluster("cluster-1"); c.apply({});"#,
        configmap("x")
    );
    let out = env.runner("allow.rhai", &play, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("context \"cluster-1\""), "{err}");
    assert!(err.contains("\"prod-*\""), "{err}");
    assert!(!stdout(&out).contains("TARGET"), "nothing may be targeted");
    assert!(env
        .kubectl_get("cluster-1", &["configmap", "probe"])
        .is_none());
}

async fn command_line_allow_list_refuses_other_contexts(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"cluster("cluster-1").apply({cm}); cluster("cluster-2").apply({cm});"#,
        cm = configmap("x")
    );
    let out = env
        .runner("allow-cli.rhai", &play, &["--allow-context", "cluster-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "cluster \"cluster-2\" (context \"cluster-2\") is not allowed by --allow-context"
        ),
        "{err}"
    );
    assert!(env
        .kubectl_get("cluster-1", &["configmap", "probe"])
        .is_some());
    assert!(env
        .kubectl_get("cluster-2", &["configmap", "probe"])
        .is_none());
}

async fn exec_pod_runs_kubectl_with_this_clusters_context(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let play = r#"
        let c = cluster("cluster-2");
        try { c.exec_pod("no-such-pod", ["cat", "/etc/hostname"], #{ namespace: "default", container: "app" }); }
        catch (e) { print(`error: ${e}`); }
        let r = c.exec_pod("no-such-pod", ["true"], #{ namespace: "default", container: "app", check: false});
        print(`code=${r.code}`);
    "#;
    let out = env.runner("pod.rhai", play, &[]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    assert!(
        text.contains("error: cluster-2: exec in pod default/no-such-pod"),
        "{text}"
    );
    assert!(text.contains("exited with code 1"), "{text}");
    assert!(text.contains("--context=cluster-2"), "{text}");
    assert!(text.contains("pods \"no-such-pod\" not found"), "{text}");
    assert!(text.contains("code=1"), "{text}");

    let out = env
        .runner("pod-dry.rhai", play, &["--dry-run"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("would run: kubectl --kubeconfig="), "{text}");
    assert!(
        text.contains("exec --namespace=default no-such-pod --container=app -- cat /etc/hostname"),
        "{text}"
    );
}

/// Writes one kubeconfig file per context of `yaml`, as people keep them for KUBECONFIG.
fn split_kubeconfig(yaml: &str, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let full: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let pick = |list: &str, name: &str| -> serde_yaml::Value {
        let items = full[list].as_sequence().unwrap();
        serde_yaml::Value::Sequence(
            items
                .iter()
                .filter(|i| i["name"].as_str() == Some(name))
                .cloned()
                .collect(),
        )
    };
    let mut files = Vec::new();
    for context in full["contexts"].as_sequence().unwrap() {
        let name = context["name"].as_str().unwrap();
        let cluster = context["context"]["cluster"].as_str().unwrap();
        let user = context["context"]["user"].as_str().unwrap();
        let mut one = serde_yaml::Mapping::new();
        one.insert("apiVersion".into(), "v1".into());
        one.insert("kind".into(), "Config".into());
        one.insert("clusters".into(), pick("clusters", cluster));
        one.insert("users".into(), pick("users", user));
        one.insert("contexts".into(), pick("contexts", name));
        let file = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&file, serde_yaml::to_string(&one).unwrap()).unwrap();
        files.push(file);
    }
    files
}

async fn kubeconfig_variable_with_several_files_is_merged(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let files = split_kubeconfig(&env.clusters.kubeconfig_yaml(), env.dir.path());
    assert_eq!(files.len(), 2);
    let joined = std::env::join_paths(&files).unwrap();
    let play = format!(
        r#"cluster("cluster-1").apply({}); cluster("cluster-2").apply({});"#,
        configmap("one"),
        configmap("two")
    );
    let file = env.write("merged.rhai", &play);
    let out = crate::common::runner()
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env("KUBECONFIG", &joined)
        .args(["play", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.kubectl_get("cluster-1", &["configmap", "probe"])
            .unwrap()["data"]["who"],
        "one"
    );
    assert_eq!(
        env.kubectl_get("cluster-2", &["configmap", "probe"])
            .unwrap()["data"]["who"],
        "two"
    );
}

on_both_backends!(
    async two_clusters_in_one_play,
    context_flag_maps_a_playbook_name,
    missing_context_lists_the_ones_that_exist,
    playbook_allow_list_refuses_before_any_write,
    command_line_allow_list_refuses_other_contexts,
    exec_pod_runs_kubectl_with_this_clusters_context,
    kubeconfig_variable_with_several_files_is_merged
);
