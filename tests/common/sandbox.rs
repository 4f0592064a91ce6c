//! Shared helpers for the sandbox tests (built with `Fixture`): a kube client, raw requests,
//! kubectl.
#![allow(dead_code)]
use kube::config::{KubeConfigOptions, Kubeconfig};
use runner_sandbox::Sandbox;

use super::fixture::Env;

pub(crate) async fn client_for(sandbox: &Sandbox, context: &str) -> kube::Client {
    kube::Client::try_from(config_for(sandbox, context).await).expect("client")
}

pub(crate) async fn config_for(sandbox: &Sandbox, context: &str) -> kube::Config {
    let kubeconfig = Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).expect("kubeconfig parses");
    kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        },
    )
    .await
    .expect("config from kubeconfig")
}

/// A client for `context` that authenticates with `token` instead of the admin token.
pub(crate) async fn client_with_token(
    sandbox: &Sandbox,
    context: &str,
    token: &str,
) -> kube::Client {
    let yaml = sandbox.kubeconfig_yaml();
    let admin = sandbox
        .cluster(context)
        .expect("cluster")
        .admin_token()
        .to_string();
    let kubeconfig =
        Kubeconfig::from_yaml(&yaml.replace(&admin, token)).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        },
    )
    .await
    .expect("config from kubeconfig");
    kube::Client::try_from(config).expect("client")
}

pub(crate) struct KubectlOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) async fn kubectl(ts: &Env, args: &[&str]) -> KubectlOutput {
    kubectl_stdin(ts, args, None).await
}

pub(crate) async fn kubectl_stdin(ts: &Env, args: &[&str], stdin: Option<&str>) -> KubectlOutput {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(ts.kubeconfig())
        .args(args)
        .env("HOME", ts.dir())
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl runs");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().await.expect("kubectl finishes");
    KubectlOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Raw request through `client`: (status code, body as JSON or {"text": ...}).
pub(crate) async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let request = builder
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .expect("request");
    let response = client.send(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await.expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::json!({"text": String::from_utf8_lossy(&bytes)}));
    (status, value)
}

/// The API error of a failed kube call.
pub(crate) fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}
