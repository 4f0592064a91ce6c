//! A cluster reached through an HTTP proxy (kubeconfig `proxy-url`) gets the same client stack
//! as any other, the retry layer included: against a sandbox answering 30% of requests with a
//! 500, a play through the proxy completes, and every connection went through the proxy.
//!
//! The proxy is a real one on loopback: it reads `CONNECT host:port`, dials it and relays bytes.

use crate::common::backend::Backend;
use crate::common::sandbox as sandbox_support;
use crate::common::Fixture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use runner_sandbox::Faults;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Starts a CONNECT proxy; returns its URL and the count of tunnels it opened.
async fn connect_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut request_line = String::new();
                client.read_line(&mut request_line).await.unwrap();
                // The headers end with an empty line.
                loop {
                    let mut header = String::new();
                    client.read_line(&mut header).await.unwrap();
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                let mut parts = request_line.split_whitespace();
                assert_eq!(parts.next(), Some("CONNECT"), "{request_line}");
                let target = parts.next().unwrap().to_string();
                let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let mut client = client.into_inner();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, tunnels)
}

/// The 500s that seed 18 gives the play's requests.
const PROXIED_FAILURES: usize = 15;

#[test]
fn a_proxied_cluster_is_retried_like_any_other() {
    let sandbox = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1"])
        .build();
    let rt = sandbox.runtime();
    let (proxy, tunnels) = rt.block_on(connect_proxy());
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&sandbox.sandbox().kubeconfig_yaml()).unwrap();
    kubeconfig["clusters"][0]["cluster"]["proxy-url"] = proxy.clone().into();
    std::fs::write(
        sandbox.dir().join("kubeconfig"),
        serde_yaml::to_string(&kubeconfig).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(sandbox.dir().join("playbooks")).unwrap();
    std::fs::write(
        sandbox.dir().join("playbooks/p.rhai"),
        r#"let c = cluster("cluster-1");
for i in 0..12 {
    c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: `cm-${i}`, namespace: "default"}, data: #{i: `${i}`}});
}
"#,
    )
    .unwrap();
    sandbox
        .sandbox()
        .cluster("cluster-1")
        .unwrap()
        .set_faults(Faults {
            error_500: 0.3,
            seed: Some(18),
            ..Default::default()
        });
    let out = crate::common::runner()
        .current_dir(sandbox.dir())
        .env("NO_COLOR", "1")
        .args([
            "play",
            "playbooks/p.rhai",
            "--kubeconfig",
            "kubeconfig",
            "--retry-backoff",
            "1ms..4ms",
            "-v",
        ])
        .output()
        .unwrap();
    sandbox
        .sandbox()
        .cluster("cluster-1")
        .unwrap()
        .clear_faults();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // -v logs each try: every one answered 500 was tried again, once (the seed fixes how many).
    let count = |needle: &str| stderr.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        (count(" -> 500 ("), count("transient failure, retrying")),
        (PROXIED_FAILURES, PROXIED_FAILURES),
        "{stderr}"
    );
    assert!(tunnels.load(Ordering::SeqCst) > 0, "the proxy was not used");
    // What the play applied is there, read without the proxy.
    let names = rt.block_on(async {
        let client = sandbox_support::client_for(sandbox.sandbox(), "cluster-1").await;
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "default");
        let mut names: Vec<String> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| n.starts_with("cm-"))
            .collect();
        names.sort();
        names
    });
    let mut expected: Vec<String> = (0..12).map(|i| format!("cm-{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// A command in a pod through the proxy: the exec's own HTTP/1.1 connection, upgraded to a
/// WebSocket, is tunnelled like every other.
#[test]
fn exec_pod_upgrades_its_connection_through_the_proxy() {
    let env = crate::common::Fixture::new()
        .sandbox_options(runner_sandbox::SandboxOptions {
            clusters: vec!["cluster-1".into()],
            exec: runner_sandbox::ExecMode::Host,
            ..Default::default()
        })
        .build();
    let rt = env.runtime();
    let (proxy, tunnels) = rt.block_on(connect_proxy());
    let project = tempfile::tempdir().unwrap();
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&env.sandbox().kubeconfig_yaml()).unwrap();
    kubeconfig["clusters"][0]["cluster"]["proxy-url"] = proxy.clone().into();
    std::fs::write(
        project.path().join("kubeconfig"),
        serde_yaml::to_string(&kubeconfig).unwrap(),
    )
    .unwrap();
    std::fs::write(
        project.path().join("p.rhai"),
        r#"let c = cluster("cluster-1");
c.apply(#{apiVersion: "v1", kind: "Pod", metadata: #{name: "web", namespace: "default"},
          spec: #{containers: [#{name: "app", image: "busybox"}]}});
let r = c.exec_pod("web", ["sh", "-c", "read line; echo \"got $line\""], #{ stdin: "through\n" });
print(`exec: ${r.stdout.to_debug()} code=${r.code}`);
"#,
    )
    .unwrap();
    let out = crate::common::runner()
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .args(["play", "p.rhai", "--kubeconfig", "kubeconfig"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("exec: "))
            .collect::<Vec<_>>(),
        [r#"  exec: "got through\n" code=0"#],
        "{stdout}"
    );
    assert!(tunnels.load(Ordering::SeqCst) > 0, "the proxy was not used");
}
