//! Waits: success, timeouts that say what was seen last, hostname-only load balancers.

use crate::k8s_support;

use k8s_support::{start, stderr, stdout, Backend};

const SERVICE: &str = r#"#{apiVersion: "v1", kind: "Service", metadata: #{name: "eastwest", namespace: "default"},
    spec: #{type: "LoadBalancer", selector: #{app: "gw"}, ports: [#{name: "tls", port: 15443}]}}"#;

async fn crd_condition_and_load_balancer_waits_succeed(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = format!(
        r#"
        let c = cluster("cluster-1");
        c.apply(#{{apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition",
            metadata: #{{name: "gadgets.example.com"}},
            spec: #{{group: "example.com", scope: "Cluster",
                names: #{{plural: "gadgets", singular: "gadget", kind: "Gadget"}},
                versions: [#{{name: "v1", served: true, storage: true,
                    schema: #{{openAPIV3Schema: #{{type: "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}]}}}});
        c.wait_crd("gadgets.example.com", #{{ timeout: 30 }});
        let crd = c.wait_condition("crd", "gadgets.example.com", "Established", "True", #{{ timeout: 30 }});
        print(`crd established: ${{crd.metadata.name}}`);
        c.apply({SERVICE});
        let ip = c.wait_loadbalancer("eastwest", #{{ namespace: "default", timeout: 30 }});
        print(`ip=${{ip}}`);
        "#
    );
    let out = env.runner("waits.rhai", &play, &[]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    assert!(
        text.contains("crd established: gadgets.example.com"),
        "{text}"
    );
    let ip = text
        .split("ip=")
        .nth(1)
        .and_then(|s| s.lines().next())
        .unwrap_or_default();
    assert!(
        ip.parse::<std::net::IpAddr>().is_ok(),
        "not an IP: {ip:?}\n{text}"
    );
    let svc = env
        .kubectl_get("cluster-1", &["service", "eastwest"])
        .unwrap();
    assert_eq!(svc["status"]["loadBalancer"]["ingress"][0]["ip"], ip);
    // The address came within a second: the wait prints nothing.
    assert!(!text.contains("waiting for"), "{text}");
}

async fn hostname_only_load_balancer_explains_istio_needs_an_ip(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    env.clusters.set_lb_hostname("cluster-1", true);
    let play = format!(
        r#"let c = cluster("cluster-1"); c.apply({SERVICE}); c.wait_loadbalancer("eastwest", #{{ namespace: "default", timeout: 30 }});"#
    );
    let out = env.runner("lb.rhai", &play, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("has only a hostname"), "{err}");
    assert!(err.contains("remotePilotAddress needs an IP"), "{err}");
}

async fn timeout_names_cluster_object_wait_and_last_state(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "never-ready"}, data: #{a: "1"}});
        c.wait_condition("ConfigMap", "never-ready", "Ready", "True", #{ namespace: "default", timeout: 2 });
    "#;
    let out = env.runner("timeout.rhai", play, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cluster-1: timed out after 2s waiting for condition Ready=True of ConfigMap default/never-ready"),
        "{err}"
    );
    assert!(
        err.contains("last observed: exists, without status"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("gave up waiting for condition Ready=True"),
        "{}",
        stdout(&out)
    );

    let absent = r#"cluster("cluster-1").wait_rollout("no-such-deploy", #{ namespace: "default", timeout: 2 });"#;
    let out = env.runner("absent.rhai", absent, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "waiting for rollout of Deployment default/no-such-deploy; last observed: absent"
        ),
        "{err}"
    );
}

async fn wait_until_sees_a_change_made_while_waiting(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let setup = r#"cluster("cluster-1").apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "flag"}, data: #{ready: "no"}});"#;
    let out = env.runner("setup.rhai", setup, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let play = r#"
        let c = cluster("cluster-1");
        let seen = c.wait_until("cm", "flag", |o| o.data.ready == "yes", #{ namespace: "default", timeout: 60 });
        print(`saw ready=${seen.data.ready}`);
    "#;
    // `-v` logs each request as it is answered: the change is made once the watch is open.
    let mut child = env
        .runner_std("until.rhai", play, &["-v"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
        assert!(
            read > 0,
            "the play ended before it watched the ConfigMap:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains("/configmaps?&watch=true") && line.contains("-> 200") {
            break;
        }
    }
    // The rest of the log, read while the play waits, so that it never blocks on a full pipe.
    let rest = std::thread::spawn(move || std::io::read_to_string(log).unwrap());
    let patched = env.kubectl(
        "cluster-1",
        &[
            "patch",
            "configmap",
            "flag",
            "--type=merge",
            "-p",
            r#"{"data":{"ready":"yes"}}"#,
        ],
    );
    assert!(patched.status.success(), "{}", stderr(&patched));
    let out = child.wait_with_output().unwrap();
    let log = seen + rest.join().unwrap().as_str();
    assert!(out.status.success(), "{log}");
    assert!(stdout(&out).contains("saw ready=yes"), "{}", stdout(&out));
}

async fn wait_until_predicate_errors_end_the_wait(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x"}, data: #{a: "1"}});
        c.wait_until("cm", "x", |o| 42, #{ namespace: "default", timeout: 30 });
    "#;
    let out = env
        .runner("bad-predicate.rhai", play, &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the wait_until predicate must return true or false"),
        "{}",
        stderr(&out)
    );
}

const DEPLOYMENT: &str = r#"#{apiVersion: "apps/v1", kind: "Deployment", metadata: #{name: "web"},
    spec: #{replicas: 2, selector: #{matchLabels: #{app: "web"}},
        template: #{metadata: #{labels: #{app: "web"}}, spec: #{containers: [#{name: "web", image: "nginx"}]}}}}"#;

async fn rollout_wait_returns_the_rolled_out_deployment(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = format!(
        r#"let c = cluster("cluster-1"); c.apply({DEPLOYMENT}); let d = c.wait_rollout("web", #{{ namespace: "default", timeout: 30 }}); print(`available=${{d.status.availableReplicas}}`);"#
    );
    let out = env.runner("rollout.rhai", &play, &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("available=2"), "{}", stdout(&out));
}

async fn dry_run_waits_return_the_planned_state_without_waiting(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let play = format!(
        r#"
        let c = cluster("cluster-1");
        c.apply({DEPLOYMENT});
        let d = c.wait_rollout("web", #{{ namespace: "default", timeout: 300 }});
        print(`rollout available=${{d.status.availableReplicas}}`);
        c.apply({SERVICE});
        print(`ip=${{c.wait_loadbalancer("eastwest", #{{ namespace: "default", timeout: 300 }})}}`);
        print(`absent=${{c.wait_rollout("nowhere", #{{ namespace: "default", timeout: 300 }})}}`);
        "#
    );
    let out = env
        .runner("dry-wait.rhai", &play, &["--dry-run", "--diff", "summary"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("  dry run")
                || l.starts_with("  rollout")
                || l.starts_with("  ip=")
                || l.starts_with("  absent=")
        })
        .collect();
    assert_eq!(
        lines,
        [
            "  dry run: not waiting for rollout of Deployment default/web in cluster-1; the plan goes on as if it completed",
            "  rollout available=2",
            "  dry run: not waiting for a load balancer IP of Service default/eastwest in cluster-1; the plan goes on as if it completed",
            "  ip=(known after apply)",
            "  dry run: not waiting for rollout of Deployment default/nowhere in cluster-1 (now: absent)",
            "  absent=",
        ],
        "{text}"
    );
    assert!(env
        .kubectl_get("cluster-1", &["deployment", "web"])
        .is_none());
}

on_both_backends!(
    async crd_condition_and_load_balancer_waits_succeed,
    hostname_only_load_balancer_explains_istio_needs_an_ip,
    timeout_names_cluster_object_wait_and_last_state,
    wait_until_sees_a_change_made_while_waiting,
    wait_until_predicate_errors_end_the_wait,
    rollout_wait_returns_the_rolled_out_deployment,
    dry_run_waits_return_the_planned_state_without_waiting
);
