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

/// A pod with two containers, the first with an env value; no node runs it.
const WEB_POD: &str = r#"#{apiVersion: "v1", kind: "Pod", metadata: #{name: "web", namespace: "default"},
    spec: #{containers: [#{name: "app", image: "busybox", env: [#{name: "GREETING", value: "hi"}]},
                         #{name: "side", image: "busybox"}]}}"#;

/// What a play printed: the lines after its TARGET line up to the recap, without the report's
/// indent.
fn printed(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("TARGET "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect()
}

async fn exec_pod_gets_the_api_servers_answer_for_pods_no_node_runs(backend: Backend) {
    let env = start(backend, &["cluster-1", "cluster-2"]).await;
    let play = format!(
        r#"
        let c = cluster("cluster-2");
        c.apply({WEB_POD});
        let attempts = [
            || c.exec_pod("no-such-pod", ["cat", "/etc/hostname"], #{{ namespace: "default", container: "app" }}),
            || c.exec_pod("no-such-pod", ["cat", "/etc/hostname"]),
            || c.exec_pod("web", ["cat", "/etc/hostname"], #{{ container: "nope" }}),
            || c.exec_pod("web", ["cat", "/etc/hostname"]),
        ];
        for attempt in attempts {{
            try {{ attempt.call(); print("ran"); }} catch (e) {{ print(`error: ${{e}}`); }}
        }}
        "#
    );
    let out = env.runner("pod.rhai", &play, &[]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert_eq!(
        printed(&text),
        [
            "cluster-2    created    Pod default/web",
            r#"error: cluster-2: cannot exec in Pod default/no-such-pod: pods "no-such-pod" not found (reason NotFound, HTTP 404)"#,
            r#"error: cluster-2: cannot get Pod default/no-such-pod: pods "no-such-pod" not found (reason NotFound, HTTP 404)"#,
            r#"error: cluster-2: cannot exec in Pod default/web: container nope is not valid for pod web (reason BadRequest, HTTP 400)"#,
            r#"error: cluster-2: cannot exec in Pod default/web: pod web does not have a host assigned (reason BadRequest, HTTP 400)"#,
        ],
        "{text}"
    );

    let out = env
        .runner("pod.rhai", &play, &["--dry-run"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert_eq!(
        printed(&text),
        [
            "would run in pod default/no-such-pod, container app: cat /etc/hostname",
            "ran",
            "would run in pod default/no-such-pod: cat /etc/hostname",
            "ran",
            "would run in pod default/web, container nope: cat /etc/hostname",
            "ran",
            "would run in pod default/web: cat /etc/hostname",
            "ran",
        ],
        "{text}"
    );
}

async fn exec_pod_is_refused_without_rights_on_pods_exec(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let kubectl = |args: &[&str]| {
        let out = env.kubectl("cluster-1", args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    kubectl(&["create", "serviceaccount", "reader"]);
    kubectl(&["create", "role", "reader", "--verb=get", "--resource=pods"]);
    kubectl(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--serviceaccount=default:reader",
    ]);
    let token = kubectl(&["create", "token", "reader"]);
    crate::common::leaks::register(token.trim());
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&env.clusters.kubeconfig_yaml()).unwrap();
    kubeconfig["users"][0]["user"] =
        serde_yaml::from_str(&format!("token: {}", token.trim())).unwrap();
    let reader = env.write(
        "reader.kubeconfig",
        &serde_yaml::to_string(&kubeconfig).unwrap(),
    );
    let admin = env.write(
        "admin.rhai",
        &format!("cluster(\"cluster-1\").apply({WEB_POD});"),
    );
    let out = crate::common::runner()
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env_remove("KUBECONFIG")
        .args(["play", "--kubeconfig"])
        .arg(&env.kubeconfig)
        .arg(&admin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let play = env.write(
        "exec.rhai",
        r#"try { cluster("cluster-1").exec_pod("web", ["true"]); } catch (e) { print(`error: ${e}`); }"#,
    );
    let out = crate::common::runner()
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env_remove("KUBECONFIG")
        .args(["play", "--kubeconfig"])
        .arg(&reader)
        .arg(&play)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert_eq!(
        printed(&text),
        [
            r#"error: cluster-1: cannot exec in Pod default/web: pods "web" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "pods/exec" in API group "" in the namespace "default" (reason Forbidden, HTTP 403)"#
        ],
        "{text}"
    );
}

/// A sandbox that opted in to running exec commands on this host, holding the web pod.
async fn host_exec_sandbox() -> crate::common::fixture::Env {
    let sandbox = crate::common::Fixture::new()
        .sandbox_options(runner_sandbox::SandboxOptions {
            clusters: vec!["cluster-1".into()],
            exec: runner_sandbox::ExecMode::Host,
            ..Default::default()
        })
        .start()
        .await;
    let out = run_play(
        &sandbox,
        "web.rhai",
        &format!("cluster(\"cluster-1\").apply({WEB_POD});"),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sandbox
}

fn run_play(
    sandbox: &crate::common::fixture::Env,
    name: &str,
    play: &str,
    envs: &[(&str, &std::path::Path)],
) -> std::process::Output {
    let file = sandbox.dir().join(name);
    std::fs::write(&file, play).unwrap();
    let mut runner = crate::common::runner();
    runner
        .current_dir(sandbox.dir())
        .env("HOME", sandbox.dir())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .args(["play", "--kubeconfig"])
        .arg(sandbox.kubeconfig())
        .arg(&file);
    for (key, value) in envs {
        runner.env(key, value);
    }
    runner.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_pod_returns_output_and_exit_code_and_feeds_stdin() {
    let sandbox = host_exec_sandbox().await;
    let play = r#"
        let c = cluster("cluster-1");
        let r = c.exec_pod("web", ["sh", "-c", "cat; echo \" $GREETING from $HOSTNAME\"; echo oops >&2; exit 3"], #{ stdin: "hello", check: false });
        print(`code=${r.code} stdout=${r.stdout.to_debug()} stderr=${r.stderr.to_debug()}`);
        let side = c.exec_pod("web", ["sh", "-c", "echo \"[$GREETING]\""], #{ container: "side", namespace: "default" });
        print(`side code=${side.code} stdout=${side.stdout.to_debug()}`);
        try { c.exec_pod("web", ["sh", "-c", "echo first >&2; echo bad >&2; exit 4"]); }
        catch (e) { print(`error: ${e}`); }
    "#;
    // No file is created in TMPDIR while commands run in the pod: no kubeconfig, no key.
    let tmp = tempfile::tempdir().unwrap();
    let (watcher, created) = crate::dry_run_kill::record_creations(tmp.path());
    let out = run_play(&sandbox, "exec.rhai", play, &[("TMPDIR", tmp.path())]);
    let created = crate::dry_run_kill::creations_so_far(tmp.path(), watcher, &created);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert_eq!(
        printed(&text),
        [
            r#"code=3 stdout="hello hi from web\n" stderr="oops\n""#,
            r#"side code=0 stdout="[]\n""#,
            "error: cluster-1: exec in pod default/web: `sh -c 'echo first >&2; echo bad >&2; exit 4'` exited with code 4: stderr:",
            "first",
            "bad",
        ],
        "{text}"
    );
    assert_eq!(
        created,
        Vec::<std::path::PathBuf>::new(),
        "exec wrote to TMPDIR"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_pod_timeout_closes_the_connection_and_the_command_ends() {
    let sandbox = host_exec_sandbox().await;
    let pid_file = sandbox.dir().join("sleeper.pid");
    let play = format!(
        r#"
        try {{ cluster("cluster-1").exec_pod("web", ["sh", "-c", "echo $$ > {}; exec sleep 60"], #{{ timeout: 1 }}); }}
        catch (e) {{ print(`error: ${{e}}`); }}
        "#,
        pid_file.display()
    );
    let out = run_play(&sandbox, "timeout.rhai", &play, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    assert_eq!(
        printed(&text),
        [format!(
            "error: cluster-1: exec in pod default/web: `sh -c 'echo $$ > {}; exec sleep 60'` did not finish within 1s; runner closed its connection",
            pid_file.display()
        )],
        "{text}"
    );
    assert_process_ends(&pid_file).await;
}

/// Waits until the process whose pid `pid_file` holds has ended (its connection closed).
async fn assert_process_ends(pid_file: &std::path::Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while proc_dir.exists() && !zombie(&proc_dir) {
        assert!(
            std::time::Instant::now() < deadline,
            "the command outlived its connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_exec_pod_interrupts_the_play_and_ends_the_command() {
    let sandbox = host_exec_sandbox().await;
    let pid_file = sandbox.dir().join("sleeper.pid");
    let play = sandbox.dir().join("interrupt.rhai");
    std::fs::write(
        &play,
        format!(
            r#"cluster("cluster-1").exec_pod("web", ["sh", "-c", "echo $$ > {0}.part && mv {0}.part {0} && exec sleep 60"]);"#,
            pid_file.display()
        ),
    )
    .unwrap();
    let output = sandbox.dir().join("output");
    let mut child = crate::common::runner()
        .current_dir(sandbox.dir())
        .env("HOME", sandbox.dir())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .args(["play", "--kubeconfig"])
        .arg(sandbox.kubeconfig())
        .arg(&play)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The event: the command announced itself, so the play is inside exec_pod.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !pid_file.exists() {
        if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the command never started:\n{}",
                std::fs::read_to_string(&output).unwrap()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        std::fs::read_to_string(&output).unwrap()
    );
    assert_process_ends(&pid_file).await;
}

/// A killed child not yet reaped keeps its /proc entry, in state Z.
fn zombie(proc_dir: &std::path::Path) -> bool {
    std::fs::read_to_string(proc_dir.join("stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
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
    exec_pod_gets_the_api_servers_answer_for_pods_no_node_runs,
    exec_pod_is_refused_without_rights_on_pods_exec,
    kubeconfig_variable_with_several_files_is_merged
);
