//! Credentials from a kubeconfig exec plugin, as kubectl handles them: kept for every connection
//! until the `expirationTimestamp` the plugin printed, and fetched again when the API server
//! answers 401. The plugin is a real script; it counts its runs in a file and prints, on its
//! Nth run, the Nth line of `tokens` (the last line once they run out).

use crate::k8s_support;

use k8s_support::{start, stderr, stdout, Backend, Env};

/// A bearer token the cluster accepts: a ServiceAccount bound to a ClusterRole that allows
/// everything (the sandbox has no bootstrap `cluster-admin`), through kubectl.
fn admin_token(env: &Env) -> String {
    let rbac = env.write(
        "rbac.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: plugin-admin, namespace: default}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: plugin-admin}\n\
         rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: plugin-admin}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plugin-admin}\n\
         subjects: [{kind: ServiceAccount, name: plugin-admin, namespace: default}]\n",
    );
    let out = env.kubectl("cluster-1", &["apply", "-f", rbac.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.kubectl(
        "cluster-1",
        &[
            "create",
            "token",
            "plugin-admin",
            "-n",
            "default",
            "--duration=1h",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Adds context `via-plugin`: cluster-1's server, its user the counting plugin.
fn add_plugin_context(env: &Env, tokens: &[&str], expires: &str) {
    env.write("tokens", &(tokens.join("\n") + "\n"));
    let plugin = env.write(
        "plugin.sh",
        &format!(
            r#"#!/bin/sh
cd {dir}
n=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
echo $n > runs
token=$(sed -n "${{n}}p" tokens)
[ -n "$token" ] || token=$(tail -n 1 tokens)
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"{expires}"}}}}' "$token"
"#,
            dir = env.dir.path().display()
        ),
    );
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&env.kubeconfig).unwrap()).unwrap();
    let cluster = kubeconfig["contexts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cluster-1")
        .unwrap()["context"]["cluster"]
        .clone();
    kubeconfig["users"]
        .as_sequence_mut()
        .unwrap()
        .push(serde_yaml::from_str(&format!(
            "{{name: plugin-user, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: {}, interactiveMode: Never}}}}}}",
            plugin.display()
        ))
        .unwrap());
    let mut context = serde_yaml::Mapping::new();
    context.insert("name".into(), "via-plugin".into());
    let mut inner = serde_yaml::Mapping::new();
    inner.insert("cluster".into(), cluster);
    inner.insert("user".into(), "plugin-user".into());
    context.insert("context".into(), inner.into());
    kubeconfig["contexts"]
        .as_sequence_mut()
        .unwrap()
        .push(context.into());
    std::fs::write(&env.kubeconfig, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
}

fn runs(env: &Env) -> String {
    std::fs::read_to_string(env.path("runs")).unwrap()
}

const TWO_CONNECTIONS: &str = r#"
let one = cluster("one", #{ context: "via-plugin" });
let two = cluster("two", #{ context: "via-plugin" });
print(`one: ${exists(one, "v1/Namespace", "default")}`);
print(`two: ${exists(two, "v1/Namespace", "default")}`);
"#;

/// Two connections through the same plugin run it once: its credential is valid for an hour.
async fn a_credential_is_kept_until_it_expires(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let token = admin_token(&env);
    add_plugin_context(&env, &[&token], "2099-01-01T00:00:00Z");
    let out = env
        .runner("two.rhai", TWO_CONNECTIONS, &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  one: true\n  two: true\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(runs(&env), "1\n");
}

/// A credential past its expirationTimestamp is never used again: the plugin runs for each
/// connection and before each request (-v logs every answered request).
async fn an_expired_credential_is_fetched_again(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let token = admin_token(&env);
    add_plugin_context(&env, &[&token], "2000-01-01T00:00:00Z");
    let out = env
        .runner("expired.rhai", TWO_CONNECTIONS, &["-v"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = stderr(&out).lines().filter(|l| l.contains(" -> ")).count();
    assert!(requests >= 2, "{}", stderr(&out));
    assert_eq!(runs(&env), format!("{}\n", 2 + requests));
}

/// The plugin's first token is refused (401); runner forgets it, runs the plugin again and
/// sends the request again with the new one.
async fn a_refused_token_is_fetched_again(backend: Backend) {
    let env = start(backend, &["cluster-1"]).await;
    let token = admin_token(&env);
    add_plugin_context(
        &env,
        &["not-a-token-the-server-knows", &token],
        "2099-01-01T00:00:00Z",
    );
    let play = r#"
let c = cluster("one", #{ context: "via-plugin" });
print(`exists: ${exists(c, "v1/Namespace", "default")}`);
"#;
    let out = env.runner("refused.rhai", play, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  exists: true\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(runs(&env), "2\n");
}

on_both_backends!(
    async a_credential_is_kept_until_it_expires,
    an_expired_credential_is_fetched_again,
    a_refused_token_is_fetched_again
);
