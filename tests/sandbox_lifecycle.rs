//! Starting, stopping, restarting, persisting and failing sandbox clusters.
use crate::common::backend::Backend;
use crate::common::sandbox as support;
use crate::common::Fixture;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use runner::cli::sandbox as cli;
use runner_sandbox::{Faults, InventoryEntry, Sandbox, SandboxError, SandboxOptions};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use support::{api_error, client_for};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn kubeconfig_has_a_context_per_cluster_and_is_private() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["east", "west"])
        .start()
        .await;
    let mode = std::fs::metadata(ts.kubeconfig())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let kc = kube::config::Kubeconfig::from_yaml(&ts.sandbox().kubeconfig_yaml()).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("east"));
    let contexts: Vec<_> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    assert_eq!(contexts, ["east", "west"]);
    for cluster in ts.sandbox().clusters() {
        assert!(cluster.server_url().starts_with("https://127.0.0.1:"));
        assert!(cluster.ca_pem().contains("BEGIN CERTIFICATE"));
    }
    // The serving certificate is valid for localhost as well as 127.0.0.1.
    let via_localhost = ts
        .sandbox()
        .kubeconfig_yaml()
        .replace("https://127.0.0.1:", "https://localhost:");
    let kc = kube::config::Kubeconfig::from_yaml(&via_localhost).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions {
            context: Some("west".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Api::<Namespace>::all(kube::Client::try_from(config).unwrap())
        .get("default")
        .await
        .expect("TLS verifies for localhost");
    // Both clusters answer, each with its own objects.
    let east = client_for(ts.sandbox(), "east").await;
    Api::<ConfigMap>::namespaced(east, "default")
        .create(&PostParams::default(), &cm("only-east"))
        .await
        .unwrap();
    let west = client_for(ts.sandbox(), "west").await;
    assert_eq!(
        api_error(
            Api::<ConfigMap>::namespaced(west, "default")
                .get("only-east")
                .await
        )
        .code,
        404
    );
    let inventory = ts.sandbox().inventory();
    assert!(inventory.contains(&InventoryEntry {
        cluster: "east".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
        name: "only-east".into(),
    }));
    let mut sorted = inventory.clone();
    sorted.sort();
    assert_eq!(inventory, sorted);
}

#[tokio::test]
async fn bad_options_are_clear_errors() {
    let err = |opts| async { Sandbox::start(opts).await.err().expect("start fails") };
    let e = err(SandboxOptions {
        clusters: vec![],
        ..Default::default()
    })
    .await;
    assert!(matches!(e, SandboxError::NoClusters));
    let e = err(SandboxOptions {
        clusters: vec!["Bad Name".into()],
        ..Default::default()
    })
    .await;
    assert!(e.to_string().contains("\"Bad Name\""), "{e}");
    let e = err(SandboxOptions {
        clusters: vec!["a".into(), "a".into()],
        ..Default::default()
    })
    .await;
    assert!(matches!(e, SandboxError::DuplicateCluster(_)));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("c1")).unwrap();
    std::fs::write(dir.path().join("c1/pki.json"), "not json").unwrap();
    let e = err(SandboxOptions {
        clusters: vec!["c1".into()],
        state_dir: Some(dir.path().into()),
        ..Default::default()
    })
    .await;
    assert!(
        matches!(e, SandboxError::StateRead { .. }) && e.to_string().contains("pki.json"),
        "{e}"
    );

    // Readable state with a broken certificate.
    std::fs::write(
        dir.path().join("c1/pki.json"),
        json!({"caCert": "x", "caKey": "x", "cert": "garbage", "key": "garbage", "tokenKey": "00", "port": 0}).to_string(),
    )
    .unwrap();
    let e = err(SandboxOptions {
        clusters: vec!["c1".into()],
        state_dir: Some(dir.path().into()),
        ..Default::default()
    })
    .await;
    assert!(
        matches!(e, SandboxError::Tls { .. }) && e.to_string().contains("c1"),
        "{e}"
    );

    // A state "directory" that is a file cannot hold cluster state.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let e = err(SandboxOptions {
        clusters: vec!["c2".into()],
        state_dir: Some(file.clone()),
        ..Default::default()
    })
    .await;
    assert!(
        matches!(e, SandboxError::StateWrite { .. }) && e.to_string().contains("plain-file"),
        "{e}"
    );

    // The kubeconfig cannot go into a missing directory.
    let sandbox = Sandbox::start(SandboxOptions {
        clusters: vec!["c3".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let e = sandbox
        .write_kubeconfig(&dir.path().join("missing/kc"))
        .expect_err("no such dir");
    assert!(
        matches!(e, SandboxError::Kubeconfig { .. }) && e.to_string().contains("missing/kc"),
        "{e}"
    );
}

#[tokio::test]
async fn faults_fail_requests_until_cleared() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    // kube retries 429s by itself; this test wants to see them.
    let mut config = support::config_for(ts.sandbox(), "c1").await;
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let cluster = ts.sandbox().cluster("c1").unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    cluster.set_faults(Faults {
        error_500: 1.0,
        ..Default::default()
    });
    assert_eq!(
        api_error(namespaces.list(&ListParams::default()).await).code,
        500
    );
    cluster.set_faults(Faults {
        throttle_429: 1.0,
        ..Default::default()
    });
    let (code, _) = support::raw(&client, "GET", "/api/v1/namespaces", None, "").await;
    assert_eq!(code, 429);
    cluster.set_faults(Faults {
        stall: 1.0,
        stall_for: Duration::from_millis(10),
        ..Default::default()
    });
    namespaces
        .list(&ListParams::default())
        .await
        .expect("stalled requests still answer");
    cluster.clear_faults();
    namespaces
        .list(&ListParams::default())
        .await
        .expect("healthy again");
}

#[tokio::test]
async fn stopped_clusters_refuse_connections_and_restart_with_their_objects() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let cluster = ts.sandbox().cluster("c1").unwrap();
    let url = cluster.server_url();
    let client = client_for(ts.sandbox(), "c1").await;
    Api::<ConfigMap>::namespaced(client, "default")
        .create(&PostParams::default(), &cm("kept"))
        .await
        .unwrap();
    cluster.stop().await;
    let port = url.rsplit(':').next().unwrap().to_string();
    assert!(tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .is_err());
    cluster.restart().await.unwrap();
    assert_eq!(cluster.server_url(), url);
    let client = client_for(ts.sandbox(), "c1").await;
    Api::<ConfigMap>::namespaced(client, "default")
        .get("kept")
        .await
        .expect("object kept");
}

#[tokio::test]
async fn restart_fails_clearly_when_the_port_is_taken() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let cluster = ts.sandbox().cluster("c1").unwrap();
    cluster.stop().await;
    let port = cluster.server_url().rsplit(':').next().unwrap().to_string();
    let _squatter = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    let err = cluster.restart().await.expect_err("restart fails");
    assert!(matches!(err, SandboxError::Bind { .. }));
    assert!(
        err.to_string().contains(&port) && err.to_string().contains("c1"),
        "{err}"
    );
}

#[tokio::test]
async fn state_dir_keeps_objects_certificates_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || SandboxOptions {
        clusters: vec!["c1".into()],
        state_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let first = Sandbox::start(opts()).await.unwrap();
    let kubeconfig = first.kubeconfig_yaml();
    let client = client_for(&first, "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms
        .create(&PostParams::default(), &cm("persisted"))
        .await
        .unwrap();
    first.shutdown().await;
    let key_mode = std::fs::metadata(dir.path().join("c1/pki.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);

    let second = Sandbox::start(opts()).await.unwrap();
    assert_eq!(
        second.kubeconfig_yaml(),
        kubeconfig,
        "old kubeconfig stays valid"
    );
    let client = client_for(&second, "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let back = cms.get("persisted").await.unwrap();
    assert_eq!(back.metadata.uid, created.metadata.uid);
    // Resource versions keep counting up, and history from before the restart is gone (410 like a real server).
    let fresh = cms
        .create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    let rv = |c: &ConfigMap| {
        c.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&fresh) > rv(&created));
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(5), "1")
            .await
            .unwrap(),
    );
    match stream.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
    second.shutdown().await;
}

#[tokio::test]
async fn up_writes_the_kubeconfig_and_serves_until_shutdown() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        up: cli::UpArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kc");
    let args = Wrapper::parse_from([
        "up",
        "--clusters",
        "one,two",
        "--kubeconfig",
        path.to_str().unwrap(),
    ])
    .up;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(cli::up(args, async move {
        let _ = rx.await;
    }));
    // Wait for the kubeconfig, then use it.
    let mut yaml = String::new();
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if !text.is_empty() {
                yaml = text;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig written");
    let config = kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions {
            context: Some("two".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    Api::<Namespace>::all(client)
        .get("kube-system")
        .await
        .expect("cluster two serves");
    tx.send(()).unwrap();
    running.await.unwrap().expect("up returns cleanly");
}

#[tokio::test]
async fn state_is_written_on_change_without_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxOptions {
        clusters: vec!["c1".into()],
        state_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client_for(&sandbox, "c1").await;
    Api::<ConfigMap>::namespaced(client, "default")
        .create(&PostParams::default(), &cm("written-early"))
        .await
        .unwrap();
    let objects = dir.path().join("c1/objects.json");
    let mut found = false;
    for _ in 0..400 {
        if std::fs::read_to_string(&objects).is_ok_and(|t| t.contains("written-early")) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(found, "objects.json never mentioned the new ConfigMap");
    let mode = std::fs::metadata(&objects).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "objects include Secrets");
    // Dropped without shutdown, as after a crash.
    drop(sandbox);
}
