//! `-vv` and `RUST_LOG` show what the sandbox and the Kubernetes client log, on stderr, and
//! never a credential, however much RUST_LOG asks for; stdout stays the run's output.

use crate::common;

use common::Fixture;

const PLAYBOOK: &str = r#"let c = cluster("east");
step("ns", || {
    exec("sh", ["-c", "cp \"$KUBECONFIG\" kubeconfig.copy"]);
    apply(c, #{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "logged" } });
    apply(c, #{ apiVersion: "v1", kind: "Secret", metadata: #{ name: "s", namespace: "logged" },
                stringData: #{ password: "hunter2-not-for-logs" } });
});
"#;

/// The bearer tokens of the kubeconfig the run gave its programs.
fn tokens(kubeconfig: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
    let tokens: Vec<String> = doc["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|u| u["user"]["token"].as_str().map(String::from))
        .collect();
    assert!(!tokens.is_empty(), "{kubeconfig}");
    tokens
}

/// The target of a tracing-subscriber line: `TIME LEVEL TARGET: message`.
fn target(line: &str) -> &str {
    let mut words = line.split_whitespace();
    let (_time, _level) = (words.next(), words.next());
    words
        .next()
        .and_then(|t| t.strip_suffix(':'))
        .unwrap_or_else(|| panic!("not a log line: {line}"))
}

#[test]
fn very_verbose_shows_the_sandbox_and_the_client_and_no_credential() {
    let p = Fixture::new().build();
    p.write("playbooks/log.rhai", PLAYBOOK);
    let output = p
        .runner(&[
            "-vv",
            "play",
            "playbooks/log.rhai",
            "--sandbox",
            "--output",
            "json",
        ])
        .env(
            "RUST_LOG",
            "trace,hyper=trace,hyper_util=trace,h2=trace,rustls=trace,tower=trace,kube=trace",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let targets: std::collections::BTreeSet<&str> = stderr.lines().map(target).collect();
    for target in &targets {
        assert!(
            target.starts_with("runner::") || target.starts_with("kube_client::"),
            "a log line of {target}:\n{stderr}"
        );
    }
    assert!(targets.contains("runner::http"), "{targets:?}");
    assert!(targets.contains("runner::sandbox"), "{targets:?}");
    assert!(targets.contains("kube_client::client"), "{targets:?}");

    for token in tokens(&p.read("kubeconfig.copy")) {
        assert!(
            !stderr.contains(&token),
            "a bearer token was logged:\n{stderr}"
        );
    }
    let lower = stderr.to_ascii_lowercase();
    assert!(!lower.contains("authorization"), "{stderr}");
    assert!(!lower.contains("bearer"), "{stderr}");
    assert!(!stderr.contains("hunter2-not-for-logs"), "{stderr}");
    assert!(
        !stderr.contains(&base64_of("hunter2-not-for-logs")),
        "{stderr}"
    );

    // The run's own output stays one JSON event per line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.is_empty());
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[test]
fn without_verbosity_nothing_is_logged() {
    let p = Fixture::new().build();
    p.write("playbooks/log.rhai", PLAYBOOK);
    let output = p
        .runner(&[
            "play",
            "playbooks/log.rhai",
            "--sandbox",
            "--output",
            "json",
        ])
        .env("RUST_LOG", "hyper=trace,h2=trace")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
