//! kubectl against the sandbox, with a kubeconfig the sandbox wrote.
#[path = "common/sandbox.rs"]
mod support;

use support::{kubectl, kubectl_stdin};

#[tokio::test]
async fn smoke() {
    let ts = support::start(&["cluster-1"]).await;
    for args in [
        vec!["get", "ns"],
        vec!["get", "ns", "default", "-o", "yaml"],
        vec!["create", "ns", "demo"],
        vec![
            "-n",
            "demo",
            "create",
            "configmap",
            "c1",
            "--from-literal=a=b",
        ],
        vec!["-n", "demo", "get", "cm"],
        vec!["-n", "demo", "label", "cm", "c1", "x=y"],
        vec!["-n", "demo", "annotate", "cm", "c1", "note=hi"],
        vec!["-n", "demo", "get", "cm", "c1", "-o", "yaml"],
        vec!["api-resources"],
        vec!["-n", "demo", "create", "token", "default"],
        vec![
            "-n",
            "demo",
            "create",
            "secret",
            "generic",
            "s2",
            "--from-literal=p=q",
        ],
        vec!["-n", "demo", "create", "sa", "robot"],
        vec!["-n", "demo", "get", "secret", "s1", "-o", "yaml"],
        vec!["-n", "demo", "delete", "cm", "c1"],
        vec!["get", "cm", "-A"],
    ] {
        let out = kubectl(&ts, &args).await;
        println!("$ kubectl {}\n{}{}", args.join(" "), out.stdout, out.stderr);
    }
    let out = kubectl_stdin(&ts, &["apply", "--server-side", "-f", "-"], Some("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\n  namespace: demo\nstringData:\n  k: v\n")).await;
    println!("apply: {}{}", out.stdout, out.stderr);
}
