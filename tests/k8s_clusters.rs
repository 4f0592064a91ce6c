//! Clusters by kubeconfig context: several in one play, mapping, missing contexts, allow-lists.

mod k8s_support;

use k8s_support::{start, stderr, stdout};

const CONFIGMAP: &str = r#"#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "probe", namespace: "default"}, data: #{"who": WHO}}"#;

fn configmap(who: &str) -> String {
    CONFIGMAP.replace("WHO", &format!("{who:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_in_one_play() {
    let env = start(&["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"
        let one = cluster("cluster-1");
        let two = cluster("cluster-2");
        step("spread", || {{
            one.apply({});
            two.apply({});
        }});
        print(`handles: ${{one.name()}} ${{one.context()}} ${{two.namespace()}} ${{two.server()}}`);
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
            .kubectl_get(context, &["configmap", "probe", "-n", "default"])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_flag_maps_a_playbook_name() {
    let env = start(&["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"let east = cluster("east"); east.apply({}); print(`east is ${{east.context()}}`);"#,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_context_lists_the_ones_that_exist() {
    let env = start(&["cluster-1", "cluster-2"]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbook_allow_list_refuses_before_any_write() {
    let env = start(&["cluster-1"]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_allow_list_refuses_other_contexts() {
    let env = start(&["cluster-1", "cluster-2"]).await;
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
