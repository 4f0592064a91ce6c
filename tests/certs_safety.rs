//! The certificate library refuses to lose or silently replace a CA, and fails clearly on bad input.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::common::fixture::same;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use runner_certs::{
    cacerts_secret, compare_roots, inspect, inspect_file, intermediate_ca, root_ca,
    rotate_intermediate, validate_cluster_name, verify_chain, CaOptions, CertError, CertInfo,
    IntermediateStatus, KeyType, RootStatus,
};

/// ECDSA keeps these tests quick; the RSA profile is covered in tests/certs.rs.
/// `days_left` depends on the second a certificate is described in; everything else must match.
fn stable(info: &CertInfo) -> CertInfo {
    CertInfo {
        days_left: 0,
        ..info.clone()
    }
}

fn fast() -> CaOptions {
    CaOptions {
        key_type: KeyType::EcdsaP256,
        ..CaOptions::default()
    }
}

fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).expect("file"));
            }
        }
    }
    files
}

/// `text` as the tests state it: each test's own directory reads `TMP`, and a SHA-256
/// fingerprint (new in every run) reads `FINGERPRINT`.
fn shown(text: &str) -> String {
    static TMP: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"/tmp/\.tmp[A-Za-z0-9]{6}").unwrap());
    static FINGERPRINT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\b[0-9A-F]{2}(?::[0-9A-F]{2}){31}\b").unwrap()
    });
    let text = TMP.replace_all(text, "TMP");
    FINGERPRINT.replace_all(&text, "FINGERPRINT").into_owned()
}

fn err_text<T: std::fmt::Debug>(result: Result<T, CertError>) -> (CertError, String) {
    let err = result.expect_err("expected an error");
    let text = err.to_string();
    (err, text)
}

#[test]
fn intermediate_from_another_root_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = root_ca(tmp.path().join("ours"), &fast()).expect("our root");
    let theirs_dir = tmp.path().join("theirs");
    let theirs = root_ca(&theirs_dir, &fast()).expect("their root");
    intermediate_ca(&theirs, &theirs_dir, "east", &fast()).expect("their intermediate");
    let before = files_under(&theirs_dir);

    let (err, text) = err_text(intermediate_ca(&ours, &theirs_dir, "east", &fast()));
    assert!(matches!(err, CertError::ForeignRoot(_)), "{err:?}");
    same(
        "message",
        &shown(&text.replace(&ours.cert.fingerprint_sha256, "<ours>")),
        r#"cluster "east": TMP/theirs/east/ca-cert.pem was not issued by the mesh root (signature check failed (signature verification error); its issuer is "O=Istio, CN=Root CA"). The mesh root is TMP/ours/root-cert.pem ("O=Istio, CN=Root CA", SHA-256 <ours>). The files in TMP/theirs/east belong to another CA and were left untouched: replacing them would break mTLS between this cluster and the mesh. Move that directory away deliberately, or use the root CA they were made with"#,
    );

    let (err, _) = err_text(rotate_intermediate(&ours, &theirs_dir, "east", &fast()));
    assert!(matches!(err, CertError::ForeignRoot(_)), "{err:?}");
    assert_eq!(
        files_under(&theirs_dir),
        before,
        "refused runs must not touch files"
    );
}

#[test]
fn replaced_root_copy_or_chain_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mesh");
    let root = root_ca(&dir, &fast()).expect("root");
    let other = root_ca(tmp.path().join("other"), &fast()).expect("other root");
    intermediate_ca(&root, &dir, "east", &fast()).expect("intermediate");

    let copy = dir.join("east/root-cert.pem");
    let original = fs::read(&copy).expect("copy");
    fs::write(&copy, other.cert_pem()).expect("replace copy");
    let (err, text) = err_text(intermediate_ca(&root, &dir, "east", &fast()));
    assert!(matches!(err, CertError::ForeignRoot(_)), "{err:?}");
    same(
        "message",
        &shown(&text.replace(&other.cert.fingerprint_sha256, "<other>")),
        r#"cluster "east": TMP/mesh/east/root-cert.pem holds a different root (SHA-256 <other>). The mesh root is TMP/mesh/root-cert.pem ("O=Istio, CN=Root CA", SHA-256 FINGERPRINT). The files in TMP/mesh/east belong to another CA and were left untouched: replacing them would break mTLS between this cluster and the mesh. Move that directory away deliberately, or use the root CA they were made with"#,
    );
    assert_eq!(fs::read(&copy).expect("copy"), other.cert_pem().as_bytes());
    fs::write(&copy, original).expect("restore copy");

    let chain = dir.join("east/cert-chain.pem");
    let ca_cert = fs::read_to_string(dir.join("east/ca-cert.pem")).expect("ca-cert");
    fs::write(&chain, format!("{ca_cert}{}", other.cert_pem())).expect("replace chain");
    let (err, text) = err_text(intermediate_ca(&root, &dir, "east", &fast()));
    assert!(matches!(err, CertError::ForeignRoot(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"cluster "east": TMP/mesh/east/cert-chain.pem is not TMP/mesh/east/ca-cert.pem followed by the mesh root. The mesh root is TMP/mesh/root-cert.pem ("O=Istio, CN=Root CA", SHA-256 FINGERPRINT). The files in TMP/mesh/east belong to another CA and were left untouched: replacing them would break mTLS between this cluster and the mesh. Move that directory away deliberately, or use the root CA they were made with"#,
    );

    // A chain that merely lacks the root is damaged, not foreign.
    fs::write(&chain, &ca_cert).expect("truncate chain");
    let (err, text) = err_text(intermediate_ca(&root, &dir, "east", &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/mesh/east/cert-chain.pem: is not TMP/mesh/east/ca-cert.pem followed by the mesh root; left untouched: restore it or use rotate_intermediate"#,
    );
    assert_eq!(fs::read_to_string(&chain).expect("chain"), ca_cert);
}

#[test]
fn half_present_root_is_refused_and_never_regenerated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let full = root_ca(tmp.path().join("full"), &fast()).expect("root");

    let cert_only = tmp.path().join("cert-only");
    fs::create_dir(&cert_only).expect("dir");
    fs::copy(&full.cert_path, cert_only.join("root-cert.pem")).expect("copy cert");
    let (err, text) = err_text(root_ca(&cert_only, &fast()));
    assert!(matches!(err, CertError::Incomplete(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/cert-only/root-cert.pem exists but TMP/cert-only/root-key.pem is missing; refusing to create a new root CA that would replace the existing one and break mTLS across the mesh. Restore the missing file, or move TMP/cert-only/root-cert.pem away to start a new mesh root deliberately"#,
    );
    assert!(
        !cert_only.join("root-key.pem").exists(),
        "no key may be generated"
    );

    let key_only = tmp.path().join("key-only");
    fs::create_dir(&key_only).expect("dir");
    fs::copy(&full.key_path, key_only.join("root-key.pem")).expect("copy key");
    let (err, text) = err_text(root_ca(&key_only, &fast()));
    assert!(matches!(err, CertError::Incomplete(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/key-only/root-key.pem exists but TMP/key-only/root-cert.pem is missing; refusing to create a new root CA that would replace the existing one and break mTLS across the mesh. Restore the missing file, or move TMP/key-only/root-key.pem away to start a new mesh root deliberately"#,
    );
    assert!(!key_only.join("root-cert.pem").exists());
}

#[test]
fn incomplete_intermediate_is_refused_and_rotation_repairs_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    intermediate_ca(&root, tmp.path(), "east", &fast()).expect("intermediate");
    fs::remove_file(tmp.path().join("east/ca-key.pem")).expect("remove key");
    let before = files_under(tmp.path());

    let (err, text) = err_text(intermediate_ca(&root, tmp.path(), "east", &fast()));
    assert!(matches!(err, CertError::Incomplete(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"cluster "east": the intermediate CA in TMP/east is incomplete (missing TMP/east/ca-key.pem); refusing to overwrite the files that exist. Restore the missing files, or replace the intermediate with rotate_intermediate (the current files go to a backup folder)"#,
    );
    assert_eq!(files_under(tmp.path()), before);

    let rotated = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("rotation");
    assert_eq!(rotated.status, IntermediateStatus::Rotated);
    let backup = rotated.backup_dir.expect("backup");
    assert!(backup.join("ca-cert.pem").exists() && !backup.join("ca-key.pem").exists());
}

#[test]
fn key_that_does_not_match_its_certificate_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = root_ca(tmp.path().join("a"), &fast()).expect("root a");
    let b = root_ca(tmp.path().join("b"), &fast()).expect("root b");
    fs::copy(&b.key_path, &a.key_path).expect("swap key");
    let (err, text) = err_text(root_ca(tmp.path().join("a"), &fast()));
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/a/root-key.pem does not belong to the certificate TMP/a/root-cert.pem: the private key does not match the certificate's public key"#,
    );
}

/// Reusing an RSA intermediate matches its key to its certificate by the key's public numbers
/// (PKCS#8 or PKCS#1), and still refuses a key whose primes no longer make up its modulus.
#[test]
fn reused_rsa_intermediate_keys_are_matched_and_damage_is_caught() {
    use x509_parser::der_parser::parse_der;
    let tmp = tempfile::tempdir().expect("tempdir");
    let rsa = CaOptions {
        key_type: KeyType::Rsa2048,
        ..CaOptions::default()
    };
    let root = root_ca(tmp.path(), &rsa).expect("root");
    intermediate_ca(&root, tmp.path(), "east", &rsa).expect("east");
    intermediate_ca(&root, tmp.path(), "west", &rsa).expect("west");
    let east_key = tmp.path().join("east/ca-key.pem");
    let reused = intermediate_ca(&root, tmp.path(), "east", &rsa).expect("reuse PKCS#8");
    assert_eq!(reused.status, IntermediateStatus::Reused);

    // The traditional PKCS#1 form of the same key, as older tooling writes it.
    let converted = std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&east_key)
        .output()
        .expect("openssl rsa");
    assert!(converted.status.success(), "{converted:?}");
    let pkcs1 = String::from_utf8(converted.stdout).expect("pem");
    assert!(
        pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{pkcs1}"
    );
    fs::write(&east_key, &pkcs1).expect("write PKCS#1");
    intermediate_ca(&root, tmp.path(), "east", &rsa).expect("reuse PKCS#1");
    cacerts_secret(tmp.path().join("east")).expect("secret from PKCS#1");

    fs::copy(tmp.path().join("west/ca-key.pem"), &east_key).expect("swap key");
    let (err, _) = err_text(intermediate_ca(&root, tmp.path(), "east", &rsa));
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");

    // Flip one byte of the first prime: still well-formed DER, no longer this modulus's key.
    let body: String = pkcs1.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64");
    let (_, key) = parse_der(&der).expect("der");
    let prime = key.as_sequence().expect("sequence")[4]
        .as_slice()
        .expect("prime1");
    let at = prime.as_ptr() as usize - der.as_ptr() as usize + prime.len() / 2;
    der[at] ^= 0x01;
    let damaged = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    fs::write(&east_key, damaged).expect("damage");
    for (err, text) in [
        err_text(intermediate_ca(&root, tmp.path(), "east", &rsa)),
        err_text(cacerts_secret(tmp.path().join("east"))),
    ] {
        assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
        same(
            "message",
            &shown(&text),
            "TMP/east/ca-key.pem: holds an unreadable or unsupported private key",
        );
    }
}

#[test]
fn corrupt_files_are_named_and_key_bytes_never_echoed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let root = root_ca(dir, &fast()).expect("root");
    let good_cert = fs::read(&root.cert_path).expect("cert");

    fs::write(&root.cert_path, "this is not a certificate\n").expect("corrupt cert");
    let (err, text) = err_text(root_ca(dir, &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        "TMP/root-cert.pem: contains no PEM certificate",
    );

    fs::write(&root.cert_path, [0xff, 0xfe, 0x00, 0x01]).expect("binary cert");
    let (_, text) = err_text(root_ca(dir, &fast()));
    same(
        "message",
        &shown(&text),
        "TMP/root-cert.pem: is not a PEM file (not text)",
    );

    let truncated = String::from_utf8(good_cert.clone()).expect("pem")[..200].to_string();
    fs::write(&root.cert_path, truncated).expect("truncated cert");
    let (_, text) = err_text(root_ca(dir, &fast()));
    same(
        "message",
        &shown(&text),
        "TMP/root-cert.pem: is not valid PEM (incomplete PEM)",
    );
    fs::write(&root.cert_path, &good_cert).expect("restore");

    let secret_marker = "U0VDUkVUU0VDUkVUU0VDUkVU";
    fs::write(
        &root.key_path,
        format!("-----BEGIN PRIVATE KEY-----\n{secret_marker}\n-----END PRIVATE KEY-----\n"),
    )
    .expect("corrupt key");
    let (err, text) = err_text(root_ca(dir, &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        "TMP/root-key.pem: holds an unreadable or unsupported private key",
    );
    assert!(!text.contains(secret_marker) && !format!("{err:?}").contains(secret_marker));

    fs::write(&root.key_path, &good_cert).expect("cert where key belongs");
    let (_, text) = err_text(root_ca(dir, &fast()));
    same(
        "message",
        &shown(&text),
        r#"TMP/root-key.pem: contains a "CERTIFICATE" PEM block where an unencrypted private key is expected"#,
    );
}

#[test]
fn corrupt_cluster_file_is_named_and_rotation_backs_it_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    intermediate_ca(&root, tmp.path(), "east", &fast()).expect("intermediate");
    let ca_cert = tmp.path().join("east/ca-cert.pem");
    fs::write(&ca_cert, "garbage").expect("corrupt");
    let (err, text) = err_text(intermediate_ca(&root, tmp.path(), "east", &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        "TMP/east/ca-cert.pem: contains no PEM certificate",
    );

    let (_, text) = err_text(cacerts_secret(tmp.path().join("east")));
    same(
        "message",
        &shown(&text),
        "TMP/east/ca-cert.pem: contains no PEM certificate",
    );

    let rotated = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("rotate");
    let backup = rotated.backup_dir.expect("backup");
    assert_eq!(
        fs::read(backup.join("ca-cert.pem")).expect("backup"),
        b"garbage"
    );
    cacerts_secret(tmp.path().join("east")).expect("secret after rotation");
}

#[test]
fn cacerts_secret_refuses_missing_or_mismatched_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    intermediate_ca(&root, tmp.path(), "west", &fast()).expect("west");

    let (_, text) = err_text(cacerts_secret(tmp.path().join("nowhere")));
    same("message", &shown(&text), "TMP/nowhere/ca-cert.pem");

    fs::copy(
        tmp.path().join("west/ca-key.pem"),
        tmp.path().join("east/ca-key.pem"),
    )
    .expect("swap key");
    let (err, _) = err_text(cacerts_secret(tmp.path().join("east")));
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");

    fs::copy(
        tmp.path().join("west/cert-chain.pem"),
        tmp.path().join("west/keep.pem"),
    )
    .expect("keep");
    let east_chain = fs::read(tmp.path().join("east/cert-chain.pem")).expect("chain");
    fs::write(tmp.path().join("west/cert-chain.pem"), east_chain).expect("wrong chain");
    let (_, text) = err_text(cacerts_secret(tmp.path().join("west")));
    same(
        "message",
        &shown(&text),
        "TMP/west/cert-chain.pem: does not start with the certificate of ca-cert.pem",
    );
}

#[test]
fn unsafe_cluster_names_are_refused_before_touching_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path().join("mesh"), &fast()).expect("root");
    let long = "a".repeat(64);
    for (name, expected) in [
        ("", "invalid cluster name \"\": it is empty".to_string()),
        ("..", "invalid cluster name \"..\": it must start and end with a letter or digit".to_string()),
        ("../escape", "invalid cluster name \"../escape\": only letters, digits, '-', '_' and '.' are allowed".to_string()),
        ("a/b", "invalid cluster name \"a/b\": only letters, digits, '-', '_' and '.' are allowed".to_string()),
        (".hidden", "invalid cluster name \".hidden\": it must start and end with a letter or digit".to_string()),
        ("-dash", "invalid cluster name \"-dash\": it must start and end with a letter or digit".to_string()),
        ("trailing-", "invalid cluster name \"trailing-\": it must start and end with a letter or digit".to_string()),
        ("sp ace", "invalid cluster name \"sp ace\": only letters, digits, '-', '_' and '.' are allowed".to_string()),
        (long.as_str(), format!("invalid cluster name \"{long}\": it is longer than 63 characters")),
    ] {
        let (err, text) = err_text(intermediate_ca(
            &root,
            tmp.path().join("mesh"),
            name,
            &fast(),
        ));
        assert!(
            matches!(err, CertError::InvalidClusterName { .. }),
            "{name}: {err:?}"
        );
        same("message", &shown(&text), &expected);
        assert!(validate_cluster_name(name).is_err());
    }
    assert!(!tmp.path().join("escape").exists());
    // The root's two files, and the lock of the runner working with this CA.
    let mut entries: Vec<String> = fs::read_dir(tmp.path().join("mesh"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, [".runner.lock", "root-cert.pem", "root-key.pem"]);
    for name in ["east", "cluster-1", "kind_primary", "a.b"] {
        validate_cluster_name(name).expect(name);
    }
}

#[test]
fn bad_options_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let zero = CaOptions {
        validity_days: Some(0),
        ..fast()
    };
    let (err, _) = err_text(root_ca(tmp.path().join("zero"), &zero));
    assert!(matches!(err, CertError::InvalidOption(_)), "{err:?}");
    assert!(
        !tmp.path().join("zero").exists(),
        "nothing is created for bad options"
    );

    let country = CaOptions {
        country: Some("Germany".into()),
        ..fast()
    };
    let (_, text) = err_text(root_ca(tmp.path().join("country"), &country));
    same(
        "message",
        &shown(&text),
        "invalid option: country must be a two-letter code, got \"Germany\"",
    );

    let root = root_ca(tmp.path().join("ok"), &fast()).expect("root");
    intermediate_ca(&root, tmp.path().join("ok"), "east", &fast()).expect("intermediate");
    let before = files_under(&tmp.path().join("ok"));
    let (err, _) = err_text(rotate_intermediate(
        &root,
        tmp.path().join("ok"),
        "east",
        &zero,
    ));
    assert!(matches!(err, CertError::InvalidOption(_)), "{err:?}");
    assert_eq!(
        files_under(&tmp.path().join("ok")),
        before,
        "bad rotation options move nothing"
    );
}

#[test]
fn root_subject_options_and_load_warnings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = CaOptions {
        country: Some("DE".into()),
        state: Some("Berlin".into()),
        locality: Some("Berlin".into()),
        organization: "Example".into(),
        common_name: Some("Mesh Root".into()),
        ..fast()
    };
    let root = root_ca(tmp.path(), &options).expect("root");
    assert_eq!(
        root.cert.subject,
        "C=DE, ST=Berlin, L=Berlin, O=Example, CN=Mesh Root"
    );
    // common_name applies to the CA being created: the intermediate gets its own options.
    let east_options = CaOptions {
        organization: "Example".into(),
        ..fast()
    };
    let east = intermediate_ca(&root, tmp.path(), "east", &east_options).expect("east");
    assert_eq!(east.cert.subject, "O=Example, CN=Intermediate CA, L=east");
    assert_eq!(east.cert.issuer, root.cert.subject);

    fs::set_permissions(&root.key_path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let loaded = root_ca(tmp.path(), &CaOptions::default()).expect("loaded");
    assert_eq!(loaded.status, RootStatus::Loaded);
    let warnings = loaded.warnings.join("\n");
    same(
        "warnings",
        &shown(&warnings),
        r#"TMP/root-key.pem is readable by other users (mode 644); private keys should be 0600
the existing root CA key is ecdsa-256; the key_type option (rsa-4096) only applies to new CAs"#,
    );
}

#[test]
fn short_validity_warns_and_intermediate_never_outlives_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let short = CaOptions {
        validity_days: Some(30),
        ..fast()
    };
    let root = root_ca(tmp.path(), &short).expect("root");
    let expiry = regex::Regex::new(r"expires in (29|30) days").expect("regex");
    assert!(
        root.warnings.iter().any(|w| expiry.is_match(w)),
        "{:?}",
        root.warnings
    );
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    assert_eq!(east.cert.not_after, root.cert.not_after);
    assert!(
        east.warnings
            .iter()
            .any(|w| w.contains("limited to the root's expiry")),
        "{:?}",
        east.warnings
    );
    assert!(
        east.warnings.iter().any(|w| w.contains("warning period")),
        "{:?}",
        east.warnings
    );
    let reused = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("reused");
    assert!(
        reused.warnings.iter().any(|w| w.contains("warning period")),
        "{:?}",
        reused.warnings
    );

    let quiet = CaOptions {
        expiry_warn_days: 10,
        ..fast()
    };
    let reloaded = root_ca(
        tmp.path(),
        &CaOptions {
            key_type: KeyType::EcdsaP256,
            ..quiet.clone()
        },
    )
    .expect("root");
    assert!(reloaded.warnings.is_empty(), "{:?}", reloaded.warnings);
}

fn expired_params(cn: &str, ca: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Istio");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(ca);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    params
}

#[test]
fn expired_root_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = KeyPair::generate().expect("key");
    let cert = expired_params("Root CA", BasicConstraints::Unconstrained)
        .self_signed(&key)
        .expect("cert");
    fs::write(tmp.path().join("root-cert.pem"), cert.pem()).expect("write");
    fs::write(tmp.path().join("root-key.pem"), key.serialize_pem()).expect("write");
    let (err, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/root-cert.pem: certificate "O=Istio, CN=Root CA" expired on 2021-01-01T00:00:00Z; an expired root cannot sign intermediates and every cluster trusting it fails mTLS; a new mesh root must be created and rolled out deliberately"#,
    );
}

#[test]
fn expired_intermediate_is_an_error_until_rotated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let root_key =
        KeyPair::from_pem(&fs::read_to_string(&root.key_path).expect("key")).expect("key");
    let issuer = Issuer::from_ca_cert_pem(root.cert_pem(), &root_key).expect("issuer");
    let key = KeyPair::generate().expect("key");
    let cert = expired_params("Intermediate CA", BasicConstraints::Constrained(0))
        .signed_by(&key, &issuer)
        .expect("cert");
    let east = tmp.path().join("east");
    fs::create_dir(&east).expect("dir");
    fs::write(east.join("ca-cert.pem"), cert.pem()).expect("write");
    fs::write(east.join("ca-key.pem"), key.serialize_pem()).expect("write");
    fs::write(east.join("root-cert.pem"), root.cert_pem()).expect("write");
    fs::write(
        east.join("cert-chain.pem"),
        format!("{}{}", cert.pem(), root.cert_pem()),
    )
    .expect("write");

    let (err, text) = err_text(intermediate_ca(&root, tmp.path(), "east", &fast()));
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/east/ca-cert.pem: certificate "O=Istio, CN=Intermediate CA" expired on 2021-01-01T00:00:00Z; rotate it with rotate_intermediate (the old files are kept in a backup folder)"#,
    );

    let chain = fs::read_to_string(east.join("cert-chain.pem")).expect("chain");
    let (err, text) = err_text(verify_chain(&chain, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"certificate chain is invalid: certificate 1 ("O=Istio, CN=Intermediate CA"): expired on 2021-01-01T00:00:00Z"#,
    );

    let rotated = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("rotated");
    assert_eq!(rotated.status, IntermediateStatus::Rotated);
    assert!(rotated.cert.days_left > 700);
    assert_eq!(
        fs::read_to_string(rotated.backup_dir.expect("backup").join("ca-cert.pem")).expect("old"),
        cert.pem()
    );
}

#[test]
fn verify_chain_rejects_foreign_reordered_and_garbage_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let other = root_ca(tmp.path().join("other"), &fast()).expect("other");
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    let chain = fs::read_to_string(&east.cert_chain_path).expect("chain");
    let ca_cert = fs::read_to_string(&east.ca_cert_path).expect("ca");

    verify_chain(&chain, root.cert_pem()).expect("full chain");
    verify_chain(&ca_cert, root.cert_pem()).expect("chain without the root");

    let (err, text) = err_text(verify_chain(&chain, other.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    same(
        "message",
        &shown(&text.replace(&other.cert.fingerprint_sha256, "<other>")),
        r#"certificate chain is invalid: it ends at a different root ("O=Istio, CN=Root CA", SHA-256 FINGERPRINT) than the expected root (SHA-256 <other>)"#,
    );
    let (err, text) = err_text(verify_chain(&ca_cert, other.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"certificate chain is invalid: certificate 1 ("O=Istio, CN=Intermediate CA, L=east") is not validly issued by certificate 2 ("O=Istio, CN=Root CA"): signature check failed (signature verification error)"#,
    );

    let reversed = format!("{}{}", root.cert_pem(), ca_cert);
    let (err, _) = err_text(verify_chain(&reversed, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");

    let (err, text) = err_text(verify_chain("nonsense", root.cert_pem()));
    assert!(matches!(err, CertError::InvalidPem { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        "invalid PEM input (certificate chain): contains no PEM certificate",
    );
    let (_, text) = err_text(inspect(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ));
    same(
        "message",
        &shown(&text),
        r#"invalid PEM input (certificate to inspect): is not a valid X.509 certificate (Parsing Error: Der(UnexpectedTag { expected: Some(Tag(16)), actual: Tag(0) }))"#,
    );
}

#[test]
fn compare_roots_tells_same_from_different() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = root_ca(tmp.path().join("a"), &fast()).expect("ours");
    let theirs = root_ca(tmp.path().join("b"), &fast()).expect("theirs");

    let identical = compare_roots(ours.cert_pem(), ours.cert_pem()).expect("compare");
    assert!(identical.same && identical.ours_included);
    assert_eq!(identical.live, vec![identical.ours.clone()]);

    let different = compare_roots(ours.cert_pem(), theirs.cert_pem()).expect("compare");
    assert!(!different.same && !different.ours_included);
    assert_eq!(
        different.ours.fingerprint_sha256,
        ours.cert.fingerprint_sha256
    );
    assert_eq!(
        different.live[0].fingerprint_sha256,
        theirs.cert.fingerprint_sha256
    );
    same(
        "message",
        &different
            .message
            .replace(&ours.cert.fingerprint_sha256, "<ours>")
            .replace(&theirs.cert.fingerprint_sha256, "<theirs>"),
        r#"the live root differs from ours: live "O=Istio, CN=Root CA" <theirs>; ours "O=Istio, CN=Root CA" <ours>"#,
    );

    let bundle = format!("{}{}", theirs.cert_pem(), ours.cert_pem());
    let mixed = compare_roots(ours.cert_pem(), &bundle).expect("compare");
    assert!(!mixed.same && mixed.ours_included);
    assert_eq!(mixed.live.len(), 2);

    let (_, text) = err_text(compare_roots(ours.cert_pem(), ""));
    same(
        "message",
        &shown(&text),
        "invalid PEM input (live cacerts root-cert.pem): contains no PEM certificate",
    );
}

#[test]
fn intermediate_pathlen_zero_forbids_a_sub_ca_in_the_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    let east_pem = fs::read_to_string(&east.ca_cert_path).expect("east cert");
    let east_key =
        KeyPair::from_pem(&fs::read_to_string(&east.ca_key_path).expect("key")).expect("key");
    let east_issuer = Issuer::from_ca_cert_pem(&east_pem, &east_key).expect("issuer");

    let sub_key = KeyPair::generate().expect("key");
    let mut sub_params = expired_params("Sub CA", BasicConstraints::Unconstrained);
    sub_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    sub_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let sub = sub_params
        .signed_by(&sub_key, &east_issuer)
        .expect("sub CA");
    let sub_issuer = Issuer::from_ca_cert_pem(&sub.pem(), &sub_key).expect("issuer");
    let mut leaf_params = CertificateParams::new(vec!["leaf.example".to_string()]).expect("params");
    leaf_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let leaf = leaf_params
        .signed_by(&KeyPair::generate().expect("key"), &sub_issuer)
        .expect("leaf");

    // The sub-CA as the end of the chain is within pathlen:0 ...
    verify_chain(&format!("{}{east_pem}", sub.pem()), root.cert_pem()).expect("sub CA as leaf");
    // ... but a certificate issued by it is not.
    let chain = format!("{}{}{east_pem}", leaf.pem(), sub.pem());
    let (err, text) = err_text(verify_chain(&chain, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"certificate chain is invalid: certificate 2 ("O=Istio, CN=Sub CA") is not validly issued by certificate 3 ("O=Istio, CN=Intermediate CA, L=east"): the issuer's pathlen:0 forbids this chain length"#,
    );
}

#[test]
fn repeated_rotations_keep_every_backup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let first = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    let second = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("rotation 1");
    let third = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("rotation 2");
    let (b1, b2) = (
        second.backup_dir.expect("b1"),
        third.backup_dir.expect("b2"),
    );
    assert_ne!(b1, b2);
    let fingerprint_in = |dir: &Path| {
        inspect(&fs::read_to_string(dir.join("ca-cert.pem")).expect("cert"))
            .expect("inspect")
            .fingerprint_sha256
    };
    assert_eq!(fingerprint_in(&b1), first.cert.fingerprint_sha256);
    assert_eq!(fingerprint_in(&b2), second.cert.fingerprint_sha256);
    assert_eq!(
        fingerprint_in(&tmp.path().join("east")),
        third.cert.fingerprint_sha256
    );
}

#[test]
fn rotating_a_cluster_without_files_creates_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let created = rotate_intermediate(&root, tmp.path(), "east", &fast()).expect("created");
    assert_eq!(created.status, IntermediateStatus::Created);
    assert!(created.backup_dir.is_none());
}

#[test]
fn non_ca_certificate_in_place_of_an_intermediate_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    let root_key =
        KeyPair::from_pem(&fs::read_to_string(&root.key_path).expect("key")).expect("key");
    let issuer = Issuer::from_ca_cert_pem(root.cert_pem(), &root_key).expect("issuer");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["leaf.example".to_string()]).expect("params");
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let leaf = params.signed_by(&key, &issuer).expect("leaf");
    fs::write(&east.ca_cert_path, leaf.pem()).expect("write");
    fs::write(&east.ca_key_path, key.serialize_pem()).expect("write");
    fs::write(
        &east.cert_chain_path,
        format!("{}{}", leaf.pem(), root.cert_pem()),
    )
    .expect("write");
    let (err, text) = err_text(intermediate_ca(&root, tmp.path(), "east", &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    same(
        "message",
        &shown(&text),
        r#"TMP/east/ca-cert.pem: is not a CA certificate (basicConstraints CA:true missing)"#,
    );
}

#[test]
fn inspect_file_names_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    assert_eq!(
        stable(&inspect_file(&root.cert_path).expect("inspect")),
        stable(&root.cert)
    );
    let (_, text) = err_text(inspect_file(&root.key_path));
    same(
        "message",
        &shown(&text),
        r#"TMP/root-key.pem: contains a "PRIVATE KEY" PEM block where only certificates are expected"#,
    );
    assert!(!text.contains(
        fs::read_to_string(&root.key_path)
            .expect("key")
            .lines()
            .nth(1)
            .expect("line")
    ));
    let (err, text) = err_text(inspect_file(tmp.path().join("missing.pem")));
    assert!(matches!(err, CertError::Io { .. }), "{err:?}");
    same("message", &shown(&text), "TMP/missing.pem");
}
