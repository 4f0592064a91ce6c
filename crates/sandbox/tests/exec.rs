//! `pods/exec` over WebSocket, through kube's own client (`Api::exec`): by default the answers a
//! real kube-apiserver gives for pods no node runs (checked against one, see the README), and
//! with `ExecMode::Host` the command's streams and exit status as a kubelet sends them.

use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{AttachParams, AttachedProcess, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use runner_sandbox::{ExecMode, Sandbox, SandboxOptions};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn sandbox(exec: ExecMode) -> Sandbox {
    Sandbox::start(SandboxOptions {
        clusters: vec!["c1".into()],
        exec,
        ..SandboxOptions::default()
    })
    .await
    .unwrap()
}

async fn client(sandbox: &Sandbox, token: Option<&str>) -> Client {
    let mut kubeconfig: Kubeconfig = sandbox.kubeconfig().unwrap();
    if let Some(token) = token {
        let user = kubeconfig.auth_infos[0].auth_info.as_mut().unwrap();
        user.token = Some(token.to_string().into());
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn create_pod(client: &Client, pod: serde_json::Value) {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
}

fn web() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [
            {"name": "app", "image": "busybox", "env": [{"name": "GREETING", "value": "hi"}]},
            {"name": "side", "image": "busybox"},
        ]},
    })
}

fn params(container: &str) -> AttachParams {
    AttachParams::default().container(container)
}

/// The API error an exec is refused with, as `(code, reason, message)`.
async fn refusal(pods: &Api<Pod>, pod: &str, ap: &AttachParams) -> (u16, String, String) {
    match pods.exec(pod, ["true"], ap).await {
        Err(kube::Error::Api(status)) => (status.code, status.reason, status.message),
        Err(other) => panic!("not an API error: {other}"),
        Ok(_) => panic!("exec in {pod} was not refused"),
    }
}

/// stdout, stderr and the final status of a finished command.
async fn finish(mut attached: AttachedProcess) -> (String, String, serde_json::Value) {
    let mut stdout = attached.stdout().unwrap();
    let mut stderr = attached.stderr().unwrap();
    let status = attached.take_status().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let (o, e, status) = tokio::join!(
        stdout.read_to_string(&mut out),
        stderr.read_to_string(&mut err),
        status
    );
    o.unwrap();
    e.unwrap();
    attached.join().await.unwrap();
    let status = status.expect("a status arrives");
    (out, err, serde_json::to_value(status).unwrap())
}

#[tokio::test]
async fn without_the_opt_in_exec_is_answered_as_for_a_pod_no_node_runs() {
    let sandbox = sandbox(ExecMode::Refuse).await;
    let client = client(&sandbox, None).await;
    create_pod(&client, web()).await;
    let mut scheduled = web();
    scheduled["metadata"]["name"] = json!("placed");
    scheduled["spec"]["nodeName"] = json!("n1");
    create_pod(&client, scheduled).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let bad = |m: &str| (400, "BadRequest".to_string(), m.to_string());
    assert_eq!(
        refusal(&pods, "nope", &params("app")).await,
        (404, "NotFound".into(), "pods \"nope\" not found".into())
    );
    assert_eq!(
        refusal(&pods, "web", &params("nope")).await,
        bad("container nope is not valid for pod web")
    );
    assert_eq!(
        refusal(&pods, "web", &AttachParams::default()).await,
        bad("a container name must be specified for pod web, choose one of: [app side]")
    );
    assert_eq!(
        refusal(&pods, "web", &params("app")).await,
        bad("pod web does not have a host assigned")
    );
    // The real server's words for a node that does not exist.
    assert_eq!(
        refusal(&pods, "placed", &params("app")).await,
        (404, "NotFound".into(), "pods \"n1\" not found".into())
    );
}

#[tokio::test]
async fn host_exec_relays_streams_stdin_env_and_the_exit_code() {
    let sandbox = sandbox(ExecMode::Host).await;
    let client = client(&sandbox, None).await;
    create_pod(&client, web()).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let script =
        r#"cat; echo " $GREETING from $HOSTNAME in $(basename "$PWD")"; echo oops >&2; exit 3"#;
    let mut attached = pods
        .exec("web", ["sh", "-c", script], &params("app").stdin(true))
        .await
        .unwrap();
    let mut stdin = attached.stdin().unwrap();
    stdin.write_all(b"hello").await.unwrap();
    stdin.shutdown().await.unwrap();
    let (out, err, status) = finish(attached).await;
    assert_eq!(out, "hello hi from web in web\n");
    assert_eq!(err, "oops\n");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "ExitCode", "message": "3"}])
    );

    let done = pods
        .exec("web", ["sh", "-c", "pwd"], &params("side"))
        .await
        .unwrap();
    let (out, _, status) = finish(done).await;
    assert_eq!(
        (&status["status"], &status["reason"]),
        (&json!("Success"), &json!(null))
    );
    assert!(out.trim_end().ends_with("/default/web"), "{out}");

    let missing = pods
        .exec("web", ["no-such-program"], &params("app"))
        .await
        .unwrap();
    let (_, _, status) = finish(missing).await;
    assert_eq!(
        (&status["reason"], &status["code"], &status["message"]),
        (
            &json!("InternalError"),
            &json!(500),
            &json!("failed to exec in the sandbox host: exec: \"no-such-program\": executable file not found in $PATH")
        )
    );
}

#[tokio::test]
async fn a_client_that_goes_away_takes_its_process_with_it() {
    let sandbox = sandbox(ExecMode::Host).await;
    let client = client(&sandbox, None).await;
    create_pod(&client, web()).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let mut attached = pods
        .exec(
            "web",
            ["sh", "-c", "echo $$; exec sleep 60"],
            &params("app"),
        )
        .await
        .unwrap();
    let mut stdout = attached.stdout().unwrap();
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        let mut byte = [0u8; 1];
        stdout.read_exact(&mut byte).await.unwrap();
        line.push(byte[0]);
    }
    let pid: i32 = String::from_utf8(line).unwrap().trim().parse().unwrap();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists() && !zombie(pid);
    assert!(alive());
    drop(stdout);
    drop(attached);
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive() {
        assert!(
            Instant::now() < deadline,
            "process {pid} outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A killed child not yet reaped still has a /proc entry, in state Z.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// A token for ServiceAccount `name`, bound by a Role granting `verbs` on `pods/exec`.
async fn service_account_token(admin: &Client, name: &str, verbs: &[&str]) -> String {
    let post = PostParams::default();
    let accounts: Api<ServiceAccount> = Api::default_namespaced(admin.clone());
    accounts
        .create(
            &post,
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
    let roles: Api<Role> = Api::default_namespaced(admin.clone());
    let role = json!({"metadata": {"name": name}, "rules": [
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs},
    ]});
    roles
        .create(&post, &serde_json::from_value(role).unwrap())
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::default_namespaced(admin.clone());
    let binding = json!({"metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]});
    bindings
        .create(&post, &serde_json::from_value(binding).unwrap())
        .await
        .unwrap();
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    accounts
        .create_token_request(name, &post, &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .unwrap()
}

#[tokio::test]
async fn exec_needs_get_and_create_on_pods_exec_as_on_the_real_server() {
    let sandbox = sandbox(ExecMode::Host).await;
    let admin = client(&sandbox, None).await;
    create_pod(&admin, web()).await;
    let forbidden = |message: &str| (403, "Forbidden".to_string(), message.to_string());
    let none = service_account_token(&admin, "none", &["list"]).await;
    let pods: Api<Pod> = Api::default_namespaced(client(&sandbox, Some(&none)).await);
    assert_eq!(
        refusal(&pods, "web", &params("app")).await,
        forbidden("pods \"web\" is forbidden: User \"system:serviceaccount:default:none\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"default\"")
    );
    // A WebSocket exec is a GET; the real server's second check, for create, explains nothing.
    let getter = service_account_token(&admin, "getter", &["get"]).await;
    let pods: Api<Pod> = Api::default_namespaced(client(&sandbox, Some(&getter)).await);
    assert_eq!(
        refusal(&pods, "web", &params("app")).await,
        forbidden("pods \"web\" is forbidden: ")
    );
    let both = service_account_token(&admin, "both", &["get", "create"]).await;
    let pods: Api<Pod> = Api::default_namespaced(client(&sandbox, Some(&both)).await);
    let attached = pods
        .exec("web", ["echo", "allowed"], &params("app"))
        .await
        .unwrap();
    assert_eq!(finish(attached).await.0, "allowed\n");
}
