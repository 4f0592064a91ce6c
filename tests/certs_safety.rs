//! The certificate library refuses to lose or silently replace a CA, and fails clearly on bad input.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

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
    assert!(text.contains("\"east\""), "{text}");
    assert!(
        text.contains(&theirs_dir.join("east/ca-cert.pem").display().to_string()),
        "{text}"
    );
    assert!(text.contains(&ours.cert.fingerprint_sha256), "{text}");
    assert!(text.contains("left untouched"), "{text}");

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
    assert!(text.contains(&copy.display().to_string()), "{text}");
    assert!(text.contains(&other.cert.fingerprint_sha256), "{text}");
    assert_eq!(fs::read(&copy).expect("copy"), other.cert_pem().as_bytes());
    fs::write(&copy, original).expect("restore copy");

    let chain = dir.join("east/cert-chain.pem");
    let ca_cert = fs::read_to_string(dir.join("east/ca-cert.pem")).expect("ca-cert");
    fs::write(&chain, format!("{ca_cert}{}", other.cert_pem())).expect("replace chain");
    let (err, text) = err_text(intermediate_ca(&root, &dir, "east", &fast()));
    assert!(matches!(err, CertError::ForeignRoot(_)), "{err:?}");
    assert!(text.contains(&chain.display().to_string()), "{text}");

    // A chain that merely lacks the root is damaged, not foreign.
    fs::write(&chain, &ca_cert).expect("truncate chain");
    let (err, text) = err_text(intermediate_ca(&root, &dir, "east", &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    assert!(text.contains(&chain.display().to_string()), "{text}");
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
    assert!(
        text.contains(&cert_only.join("root-key.pem").display().to_string()),
        "{text}"
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
    assert!(
        text.contains(&key_only.join("root-cert.pem").display().to_string()),
        "{text}"
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
    assert!(text.contains("ca-key.pem"), "{text}");
    assert!(text.contains("rotate_intermediate"), "{text}");
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
    assert!(text.contains(&a.key_path.display().to_string()), "{text}");
    assert!(text.contains(&a.cert_path.display().to_string()), "{text}");
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
        assert!(text.contains(&east_key.display().to_string()), "{text}");
        assert!(text.contains("unreadable"), "{text}");
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
    assert!(
        text.contains(&root.cert_path.display().to_string()),
        "{text}"
    );
    assert!(text.contains("PEM"), "{text}");

    fs::write(&root.cert_path, [0xff, 0xfe, 0x00, 0x01]).expect("binary cert");
    let (_, text) = err_text(root_ca(dir, &fast()));
    assert!(
        text.contains(&root.cert_path.display().to_string()),
        "{text}"
    );

    let truncated = String::from_utf8(good_cert.clone()).expect("pem")[..200].to_string();
    fs::write(&root.cert_path, truncated).expect("truncated cert");
    let (_, text) = err_text(root_ca(dir, &fast()));
    assert!(
        text.contains(&root.cert_path.display().to_string()),
        "{text}"
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
    assert!(
        text.contains(&root.key_path.display().to_string()),
        "{text}"
    );
    assert!(!text.contains(secret_marker) && !format!("{err:?}").contains(secret_marker));

    fs::write(&root.key_path, &good_cert).expect("cert where key belongs");
    let (_, text) = err_text(root_ca(dir, &fast()));
    assert!(
        text.contains("CERTIFICATE") && text.contains("root-key.pem"),
        "{text}"
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
    assert!(text.contains(&ca_cert.display().to_string()), "{text}");

    let (_, text) = err_text(cacerts_secret(tmp.path().join("east")));
    assert!(text.contains(&ca_cert.display().to_string()), "{text}");

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
    assert!(text.contains("nowhere"), "{text}");

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
    assert!(text.contains("cert-chain.pem"), "{text}");
}

#[test]
fn unsafe_cluster_names_are_refused_before_touching_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path().join("mesh"), &fast()).expect("root");
    let long = "a".repeat(64);
    for name in [
        "",
        "..",
        "../escape",
        "a/b",
        ".hidden",
        "-dash",
        "trailing-",
        "sp ace",
        long.as_str(),
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
        assert!(text.contains(&format!("{name:?}")), "{text}");
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
    assert!(text.contains("Germany"), "{text}");

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
    assert!(
        warnings.contains("0600") && warnings.contains("root-key.pem"),
        "{warnings}"
    );
    assert!(
        warnings.contains("ecdsa") && warnings.contains("rsa-4096"),
        "{warnings}"
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
    assert!(
        text.contains("root-cert.pem") && text.contains("2021-01-01"),
        "{text}"
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
    assert!(
        text.contains("ca-cert.pem") && text.contains("rotate_intermediate"),
        "{text}"
    );

    let chain = fs::read_to_string(east.join("cert-chain.pem")).expect("chain");
    let (err, text) = err_text(verify_chain(&chain, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    assert!(text.contains("expired"), "{text}");

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
    assert!(text.contains("ends at a different root"), "{text}");
    assert!(text.contains(&other.cert.fingerprint_sha256), "{text}");
    let (err, text) = err_text(verify_chain(&ca_cert, other.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    assert!(
        text.contains("\"O=Istio, CN=Intermediate CA, L=east\") is not validly issued"),
        "{text}"
    );

    let reversed = format!("{}{}", root.cert_pem(), ca_cert);
    let (err, _) = err_text(verify_chain(&reversed, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");

    let (err, text) = err_text(verify_chain("nonsense", root.cert_pem()));
    assert!(matches!(err, CertError::InvalidPem { .. }), "{err:?}");
    assert!(text.contains("certificate chain"), "{text}");
    let (_, text) = err_text(inspect(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ));
    assert!(text.contains("certificate to inspect"), "{text}");
}

#[test]
fn compare_roots_tells_same_from_different() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = root_ca(tmp.path().join("a"), &fast()).expect("ours");
    let theirs = root_ca(tmp.path().join("b"), &fast()).expect("theirs");

    let same = compare_roots(ours.cert_pem(), ours.cert_pem()).expect("compare");
    assert!(same.same && same.ours_included);
    assert_eq!(same.live, vec![same.ours.clone()]);

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
    assert!(different.message.contains(&ours.cert.fingerprint_sha256));
    assert!(different.message.contains(&theirs.cert.fingerprint_sha256));

    let bundle = format!("{}{}", theirs.cert_pem(), ours.cert_pem());
    let mixed = compare_roots(ours.cert_pem(), &bundle).expect("compare");
    assert!(!mixed.same && mixed.ours_included);
    assert_eq!(mixed.live.len(), 2);

    let (_, text) = err_text(compare_roots(ours.cert_pem(), ""));
    assert!(text.contains("live cacerts root-cert.pem"), "{text}");
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
    assert!(text.contains("pathlen:0"), "{text}");
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
    assert!(
        text.contains("ca-cert.pem") && text.contains("not a CA"),
        "{text}"
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
    assert!(
        text.contains("root-key.pem") && text.contains("PRIVATE KEY"),
        "{text}"
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
    assert!(text.contains("missing.pem"), "{text}");
}
