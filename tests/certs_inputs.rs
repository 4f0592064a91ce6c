//! Malformed inputs to the certificate library: each one is a clear error naming its source.

use std::fs;

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use runner_certs::{
    cacerts_secret, intermediate_ca, root_ca, verify_chain, CaOptions, CertError, KeyType,
};

fn fast() -> CaOptions {
    CaOptions {
        key_type: KeyType::EcdsaP256,
        ..CaOptions::default()
    }
}

fn err_text<T: std::fmt::Debug>(result: Result<T, CertError>) -> (CertError, String) {
    let err = result.expect_err("expected an error");
    let text = err.to_string();
    (err, text)
}

fn params(cn: &str, is_ca: IsCa, not_before_year: i32) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = is_ca;
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(not_before_year, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params
}

#[test]
fn empty_subject_options_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let no_org = CaOptions {
        organization: " ".into(),
        ..fast()
    };
    let (err, text) = err_text(root_ca(tmp.path().join("a"), &no_org));
    assert!(matches!(err, CertError::InvalidOption(_)), "{err:?}");
    assert!(text.contains("organization"), "{text}");
    let no_cn = CaOptions {
        common_name: Some(String::new()),
        ..fast()
    };
    let (_, text) = err_text(root_ca(tmp.path().join("b"), &no_cn));
    assert!(text.contains("common_name"), "{text}");
    assert!(!tmp.path().join("a").exists() && !tmp.path().join("b").exists());

    let root = root_ca(tmp.path().join("ok"), &fast()).expect("root");
    let (_, text) = err_text(intermediate_ca(
        &root,
        tmp.path().join("ok"),
        "east",
        &no_cn,
    ));
    assert!(text.contains("common_name"), "{text}");
    assert!(!tmp.path().join("ok/east").exists());
}

#[test]
fn root_file_with_two_certificates_or_trailing_bytes_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let pem = root.cert_pem().to_string();

    fs::write(&root.cert_path, format!("{pem}{pem}")).expect("two certs");
    let (err, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    assert!(
        text.contains("root-cert.pem") && text.contains("2 certificates"),
        "{text}"
    );

    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let mut padded = block.contents.clone();
    padded.extend_from_slice(&[0, 0, 0]);
    let body = base64::engine::general_purpose::STANDARD.encode(&padded);
    fs::write(
        &root.cert_path,
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
    )
    .expect("padded cert");
    let (_, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(
        text.contains("root-cert.pem") && text.contains("trailing bytes"),
        "{text}"
    );
}

#[test]
fn unusable_key_files_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let key = fs::read_to_string(&root.key_path).expect("key");

    fs::write(&root.key_path, "").expect("empty key");
    let (_, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(
        text.contains("root-key.pem") && text.contains("no PEM private key"),
        "{text}"
    );

    fs::write(&root.key_path, format!("{key}{key}")).expect("two keys");
    let (_, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(
        text.contains("root-key.pem") && text.contains("more than one"),
        "{text}"
    );

    fs::write(
        &root.key_path,
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    )
    .expect("bad base64");
    let (_, text) = err_text(root_ca(tmp.path(), &fast()));
    assert!(text.contains("root-key.pem"), "{text}");
}

#[test]
fn intermediate_used_as_root_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path().join("mesh"), &fast()).expect("root");
    let east = intermediate_ca(&root, tmp.path().join("mesh"), "east", &fast()).expect("east");
    let fake = tmp.path().join("fake");
    fs::create_dir(&fake).expect("dir");
    fs::copy(&east.ca_cert_path, fake.join("root-cert.pem")).expect("cert");
    fs::copy(&east.ca_key_path, fake.join("root-key.pem")).expect("key");
    let (err, text) = err_text(root_ca(&fake, &fast()));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    assert!(
        text.contains("root-cert.pem") && text.contains("not a self-signed CA"),
        "{text}"
    );
}

#[test]
fn intermediate_key_from_another_cluster_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    let west = intermediate_ca(&root, tmp.path(), "west", &fast()).expect("west");
    fs::copy(&west.ca_key_path, &east.ca_key_path).expect("swap key");
    let (err, text) = err_text(intermediate_ca(&root, tmp.path(), "east", &fast()));
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    assert!(
        text.contains("east/ca-key.pem") && text.contains("east/ca-cert.pem"),
        "{text}"
    );
}

#[test]
fn cacerts_secret_refuses_a_chain_that_does_not_reach_the_root_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let other = root_ca(tmp.path().join("other"), &fast()).expect("other");
    let east = intermediate_ca(&root, tmp.path(), "east", &fast()).expect("east");
    fs::write(&east.root_cert_path, other.cert_pem()).expect("replace root copy");
    let (err, text) = err_text(cacerts_secret(&east.dir));
    assert!(matches!(err, CertError::Corrupt { .. }), "{err:?}");
    assert!(
        text.contains("cert-chain.pem") && text.contains("root-cert.pem"),
        "{text}"
    );
}

#[test]
fn verify_chain_checks_not_before_and_issuer_is_a_ca() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_ca(tmp.path(), &fast()).expect("root");
    let root_key =
        KeyPair::from_pem(&fs::read_to_string(&root.key_path).expect("key")).expect("key");
    let root_issuer = Issuer::from_ca_cert_pem(root.cert_pem(), &root_key).expect("issuer");

    let future_key = KeyPair::generate().expect("key");
    let future = params(
        "Future CA",
        IsCa::Ca(BasicConstraints::Constrained(0)),
        2090,
    )
    .signed_by(&future_key, &root_issuer)
    .expect("future cert");
    let (err, text) = err_text(verify_chain(&future.pem(), root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    assert!(text.contains("not valid before 2090-01-01"), "{text}");

    let leaf_key = KeyPair::generate().expect("key");
    let leaf = params("Not a CA", IsCa::ExplicitNoCa, 2020)
        .signed_by(&leaf_key, &root_issuer)
        .expect("leaf");
    let leaf_issuer = Issuer::from_ca_cert_pem(&leaf.pem(), &leaf_key).expect("issuer");
    let below = params("Below a leaf", IsCa::ExplicitNoCa, 2020)
        .signed_by(&KeyPair::generate().expect("key"), &leaf_issuer)
        .expect("below");
    let chain = format!("{}{}", below.pem(), leaf.pem());
    let (err, text) = err_text(verify_chain(&chain, root.cert_pem()));
    assert!(matches!(err, CertError::InvalidChain(_)), "{err:?}");
    assert!(text.contains("the issuer is not a CA"), "{text}");
}
