//! No secret in any output: every run of the `runner` binary goes through `common::runner()`,
//! which hands what it printed to `check`. A leak fails the test that caused it, naming the
//! kind of secret and the stream, never repeating the secret itself.
//!
//! What counts as a secret: a PEM private key (as text, or base64 as in a Secret's data), a
//! bearer token (any JWT: the sandbox's and real ServiceAccount tokens), and every value the
//! tests hand to clusters as secret: kubeconfig tokens, client keys and passwords of the
//! clusters they start, and the Secret data they create (`TEST_SECRET_VALUES`).

use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use regex::Regex;

/// Secret data the tests themselves put into Secrets, playbooks and inputs.
pub(crate) const TEST_SECRET_VALUES: &[&str] = &[
    "hunter2",
    "hunter3",
    "foo-secret-token-DEADBEEF",
    "Zm9vLXNlY3JldC10b2tlbi1ERUFEQkVFRg",
];

/// Values shorter than this are too likely to occur by chance to be told apart from a leak.
const SHORTEST_SECRET: usize = 7;

static KNOWN: LazyLock<Mutex<BTreeSet<String>>> = LazyLock::new(|| {
    Mutex::new(
        TEST_SECRET_VALUES
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
    )
});

static PEM_PRIVATE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----").unwrap());
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}").unwrap()
});
/// Base64 runs long enough to hold a key or a token.
static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/]{24,}={0,2}").unwrap());

/// Remembers `value` as secret: from now on no output may contain it.
pub(crate) fn register(value: &str) {
    let value = value.trim();
    if value.len() >= SHORTEST_SECRET {
        KNOWN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(value.to_string());
    }
}

/// Remembers the credentials of a kubeconfig: tokens, passwords and client keys.
pub(crate) fn register_kubeconfig(yaml: &str) {
    let Ok(config) = serde_yaml::from_str::<serde_yaml::Value>(yaml) else {
        return;
    };
    let Some(users) = config.get("users").and_then(|u| u.as_sequence()) else {
        return;
    };
    for user in users.iter().filter_map(|u| u.get("user")) {
        for field in ["token", "password", "client-key-data"] {
            if let Some(value) = user.get(field).and_then(|v| v.as_str()) {
                register(value);
                if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) {
                    register(&String::from_utf8_lossy(&decoded));
                }
            }
        }
    }
}

/// The secrets `text` contains, each named by its kind (never by its value).
pub(crate) fn find(text: &str) -> Vec<String> {
    let known = KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    find_among(text, &known)
}

/// `find` with the given known values, for tests of the check itself.
pub(crate) fn find_among(text: &str, known: &BTreeSet<String>) -> Vec<String> {
    let mut leaks = Vec::new();
    scan(text, known, "", &mut leaks);
    // Short values are found by their own encoding; long runs are decoded below.
    for value in known {
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(value);
        if text.contains(&encoded) {
            leaks.push(described(value, " (base64)"));
        }
    }
    for run in BASE64_RUN.find_iter(text) {
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ] {
            if let Ok(decoded) = engine.decode(run.as_str()) {
                scan(
                    &String::from_utf8_lossy(&decoded),
                    known,
                    " (base64)",
                    &mut leaks,
                );
                break;
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    leaks
}

fn scan(text: &str, known: &BTreeSet<String>, encoding: &str, leaks: &mut Vec<String>) {
    if PEM_PRIVATE_KEY.is_match(text) {
        leaks.push(format!("a PEM private key{encoding}"));
    }
    if JWT.is_match(text) {
        leaks.push(format!("a bearer token (JWT){encoding}"));
    }
    for value in known {
        if text.contains(value.as_str()) {
            leaks.push(described(value, encoding));
        }
    }
}

/// A known secret named by its first characters and its length, enough to find it in a test.
fn described(value: &str, encoding: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    format!(
        "a secret value the tests created ({shown}…, {} characters){encoding}",
        value.chars().count()
    )
}

/// Fails when `text`, printed on `stream` by `what`, contains a secret.
pub(crate) fn check(what: &str, stream: &str, text: &str) {
    let leaks = find(text);
    assert!(
        leaks.is_empty(),
        "{what} printed secrets on {stream}: {}",
        leaks.join("; ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";

    fn known() -> BTreeSet<String> {
        ["s3cr3t-value".to_string()].into()
    }

    #[test]
    fn clean_output_passes() {
        let text = "ok: [ca] certs/root-cert.pem\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nsha256:0123456789abcdef0123456789abcdef\n";
        assert_eq!(find_among(text, &known()), Vec::<String>::new());
    }

    #[test]
    fn a_private_key_a_token_and_secret_data_are_caught_as_text_and_as_base64() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            (format!("step failed:\n{KEY}"), "a PEM private key"),
            (
                format!("  ca-key.pem: {}\n", b64(KEY)),
                "a PEM private key (base64)",
            ),
            (
                format!("Authorization: Bearer {TOKEN}\n"),
                "a bearer token (JWT)",
            ),
            (
                format!("data: {{password: {}}}\n", b64("s3cr3t-value")),
                "a secret value the tests created (s3cr…, 12 characters) (base64)",
            ),
            (
                "password: s3cr3t-value\n".to_string(),
                "a secret value the tests created (s3cr…, 12 characters)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(find_among(&text, &known()), [expected], "{text}");
        }
    }

    #[test]
    fn the_check_fails_the_test_that_leaked_without_repeating_the_secret() {
        register("s3cr3t-registered");
        let failure = std::panic::catch_unwind(|| {
            check("runner play", "stderr", "oops: s3cr3t-registered\n");
        })
        .expect_err("a leak fails");
        let message = failure
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert_eq!(
            message,
            "runner play printed secrets on stderr: a secret value the tests created (s3cr…, 17 characters)"
        );
    }

    #[test]
    fn a_kubeconfigs_credentials_become_known() {
        let key = base64::engine::general_purpose::STANDARD.encode(KEY);
        register_kubeconfig(&format!(
            "users:\n- name: a\n  user:\n    token: tok-0123456789\n- name: b\n  user:\n    client-key-data: {key}\n"
        ));
        assert_eq!(
            find("Bearer tok-0123456789"),
            ["a secret value the tests created (tok-…, 14 characters)"]
        );
    }
}
