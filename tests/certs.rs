//! The certificate library against Istio's `tools/certs` profile, checked with openssl.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use runner_certs::{
    cacerts_secret, inspect, intermediate_ca, root_ca, rotate_intermediate, verify_chain,
    CaOptions, CertInfo, IntermediateStatus, KeyType, RootStatus,
};
use time::macros::format_description;
use time::PrimitiveDateTime;

const KEY_USAGES: &str = "Digital Signature, Non Repudiation, Key Encipherment, Certificate Sign";

/// `days_left` depends on the second a certificate is described in; everything else must match.
fn stable(info: &CertInfo) -> CertInfo {
    CertInfo {
        days_left: 0,
        ..info.clone()
    }
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `openssl verify -CAfile root cert` must accept `cert`.
fn assert_openssl_verifies(root: &Path, cert: &Path) {
    let text = openssl_ok(&["verify", "-CAfile", path_str(root), path_str(cert)]);
    assert!(text.trim_end().ends_with(": OK"), "{text}");
}

/// The fields of `openssl x509 -text` the Istio profile fixes.
#[derive(Debug)]
struct OpensslView {
    subject: String,
    issuer: String,
    key_bits: String,
    signature: String,
    /// Extension name -> (critical, value).
    extensions: BTreeMap<String, (bool, String)>,
    validity_days: i64,
}

fn field<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
        .trim()
}

fn openssl_view(cert: &Path) -> OpensslView {
    let text = openssl_ok(&["x509", "-text", "-noout", "-in", path_str(cert)]);
    let mut extensions = BTreeMap::new();
    let mut in_extensions = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed == "X509v3 extensions:" {
            in_extensions = true;
            continue;
        }
        if !in_extensions {
            continue;
        }
        if indent <= 8 {
            break;
        }
        if indent == 12 {
            let (name, rest) = trimmed.split_once(':').expect("extension header");
            extensions.insert(name.to_string(), (rest.trim() == "critical", String::new()));
            current = Some(name.to_string());
        } else if let Some(name) = &current {
            let entry = extensions.get_mut(name).expect("current extension");
            entry.1.push_str(trimmed);
        }
    }
    let dates = openssl_ok(&["x509", "-noout", "-dates", "-in", path_str(cert)]);
    let format = format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    let parse = |prefix| PrimitiveDateTime::parse(field(&dates, prefix), format).expect("date");
    let validity = parse("notAfter=") - parse("notBefore=");
    OpensslView {
        subject: field(&text, "Subject:").to_string(),
        issuer: field(&text, "Issuer:").to_string(),
        key_bits: field(&text, "Public-Key:").to_string(),
        signature: field(&text, "Signature Algorithm:").to_string(),
        extensions,
        validity_days: validity.whole_days(),
    }
}

fn ext<'a>(view: &'a OpensslView, name: &str) -> &'a (bool, String) {
    view.extensions
        .get(name)
        .unwrap_or_else(|| panic!("missing {name} in {view:#?}"))
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u64, i64)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let meta = fs::metadata(&path).expect("metadata");
                let bytes = fs::read(&path).expect("readable file");
                files.insert(path, (bytes, meta.ino(), meta.mtime_nsec()));
            }
        }
    }
    files
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Runs the exact openssl steps of Istio's Makefile.selfsigned.mk (2048-bit keys to stay quick)
/// and returns (root-cert.pem, <cluster>/ca-cert.pem) as the reference to match.
fn istio_makefile_reference(dir: &Path) -> (PathBuf, PathBuf) {
    let root_conf = "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\n\
        default_bits = 2048\nreq_extensions = req_ext\nx509_extensions = req_ext\n\
        distinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\n\
        basicConstraints = critical, CA:true\nkeyUsage = critical, digitalSignature, \
        nonRepudiation, keyEncipherment, keyCertSign\n[ req_dn ]\nO = Istio\nCN = Root CA\n";
    let intermediate_conf = "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\n\
        default_md = sha256\ndefault_bits = 2048\nreq_extensions = req_ext\n\
        x509_extensions = req_ext\ndistinguished_name = req_dn\n[ req_ext ]\n\
        subjectKeyIdentifier = hash\nbasicConstraints = critical, CA:true, pathlen:0\n\
        keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign\n\
        subjectAltName=@san\n[ san ]\nDNS.1 = istiod.istio-system.svc\n[ req_dn ]\n\
        O = Istio\nCN = Intermediate CA\nL = ref\n";
    fs::create_dir_all(dir.join("ref")).expect("reference dir");
    fs::write(dir.join("root-ca.conf"), root_conf).expect("write conf");
    fs::write(dir.join("ref/intermediate.conf"), intermediate_conf).expect("write conf");
    let p = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl_ok(&args);
    };
    let s = |v: &[&str]| {
        v.iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
    };
    run(s(&["genrsa", "-out", &p("root-key.pem"), "2048"]));
    run(s(&[
        "req",
        "-new",
        "-key",
        &p("root-key.pem"),
        "-config",
        &p("root-ca.conf"),
        "-out",
        &p("root-cert.csr"),
    ]));
    run(s(&[
        "x509",
        "-req",
        "-days",
        "3650",
        "-signkey",
        &p("root-key.pem"),
        "-extensions",
        "req_ext",
        "-extfile",
        &p("root-ca.conf"),
        "-in",
        &p("root-cert.csr"),
        "-out",
        &p("root-cert.pem"),
    ]));
    run(s(&["genrsa", "-out", &p("ref/ca-key.pem"), "2048"]));
    run(s(&[
        "req",
        "-new",
        "-config",
        &p("ref/intermediate.conf"),
        "-key",
        &p("ref/ca-key.pem"),
        "-out",
        &p("ref/cluster-ca.csr"),
    ]));
    run(s(&[
        "x509",
        "-req",
        "-days",
        // INTERMEDIATE_DAYS ?= 3650 in Istio's tools/certs/common.mk (since Istio 1.18).
        "3650",
        "-CA",
        &p("root-cert.pem"),
        "-CAkey",
        &p("root-key.pem"),
        "-CAcreateserial",
        "-extensions",
        "req_ext",
        "-extfile",
        &p("ref/intermediate.conf"),
        "-in",
        &p("ref/cluster-ca.csr"),
        "-out",
        &p("ref/ca-cert.pem"),
    ]));
    (dir.join("root-cert.pem"), dir.join("ref/ca-cert.pem"))
}

/// Extension names with criticality and values, key identifiers blanked (they are key hashes).
fn comparable_extensions(view: &OpensslView) -> BTreeMap<String, (bool, String)> {
    view.extensions
        .iter()
        .map(|(name, (critical, value))| {
            let value = if name.contains("Key Identifier") {
                String::from("<key id>")
            } else {
                value.clone()
            };
            (name.clone(), (*critical, value))
        })
        .collect()
}

/// One RSA-4096 mesh (root + two clusters) reused for every assertion: generation is slow.
#[test]
fn istio_profile_mesh_is_created_reused_and_rotated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mesh");
    let options = CaOptions::default();

    let root = root_ca(&dir, &options).expect("root created");
    assert_eq!(root.status, RootStatus::Created);
    assert!(root.warnings.is_empty(), "{:?}", root.warnings);
    let c1 = intermediate_ca(&root, &dir, "cluster1", &options).expect("cluster1 created");
    let c2 = intermediate_ca(&root, &dir, "cluster2", &options).expect("cluster2 created");
    assert_eq!(c1.status, IntermediateStatus::Created);
    assert_eq!(c2.status, IntermediateStatus::Created);
    assert!(c1.warnings.is_empty(), "{:?}", c1.warnings);

    let root_cert = dir.join("root-cert.pem");
    for cluster in ["cluster1", "cluster2"] {
        assert_openssl_verifies(&root_cert, &dir.join(cluster).join("ca-cert.pem"));
    }

    // Root, field by field against Istio's root-ca.conf.
    let root_view = openssl_view(&root_cert);
    assert_eq!(root_view.subject, "O = Istio, CN = Root CA");
    assert_eq!(root_view.issuer, "O = Istio, CN = Root CA");
    assert_eq!(root_view.key_bits, "(4096 bit)");
    assert_eq!(root_view.signature, "sha256WithRSAEncryption");
    assert_eq!(root_view.validity_days, 3650);
    assert_eq!(
        ext(&root_view, "X509v3 Basic Constraints"),
        &(true, "CA:TRUE".to_string())
    );
    assert_eq!(
        ext(&root_view, "X509v3 Key Usage"),
        &(true, KEY_USAGES.to_string())
    );
    let root_ski = ext(&root_view, "X509v3 Subject Key Identifier");
    assert!(!root_ski.0 && !root_ski.1.is_empty());
    assert_eq!(root_view.extensions.len(), 3, "{root_view:#?}");

    // Intermediate, field by field against Istio's intermediate.conf.
    let c1_view = openssl_view(&dir.join("cluster1/ca-cert.pem"));
    assert_eq!(
        c1_view.subject,
        "O = Istio, CN = Intermediate CA, L = cluster1"
    );
    assert_eq!(c1_view.issuer, "O = Istio, CN = Root CA");
    assert_eq!(c1_view.key_bits, "(4096 bit)");
    assert_eq!(c1_view.signature, "sha256WithRSAEncryption");
    // Istio's INTERMEDIATE_DAYS, as openssl reads the certificate.
    assert_eq!(c1_view.validity_days, 3650);
    assert_eq!(
        ext(&c1_view, "X509v3 Basic Constraints"),
        &(true, "CA:TRUE, pathlen:0".to_string())
    );
    assert_eq!(
        ext(&c1_view, "X509v3 Key Usage"),
        &(true, KEY_USAGES.to_string())
    );
    assert_eq!(
        ext(&c1_view, "X509v3 Subject Alternative Name"),
        &(false, "DNS:istiod.istio-system.svc".to_string())
    );
    assert_eq!(
        ext(&c1_view, "X509v3 Authority Key Identifier"),
        &(false, root_ski.1.clone())
    );
    assert!(!ext(&c1_view, "X509v3 Subject Key Identifier").0);
    assert_eq!(c1_view.extensions.len(), 5, "{c1_view:#?}");

    // The same extensions, criticality and values as openssl produces from Istio's own configs.
    let (ref_root, ref_intermediate) = istio_makefile_reference(&tmp.path().join("istio-ref"));
    assert_eq!(
        comparable_extensions(&root_view),
        comparable_extensions(&openssl_view(&ref_root))
    );
    let ref_view = openssl_view(&ref_intermediate);
    assert_eq!(
        comparable_extensions(&c1_view),
        comparable_extensions(&ref_view)
    );
    assert_eq!(ref_view.subject, "O = Istio, CN = Intermediate CA, L = ref");
    assert_eq!(ref_view.validity_days, c1_view.validity_days);

    // One root shared by both clusters; chain is intermediate then root.
    let root_bytes = fs::read(&root_cert).expect("root");
    for cluster in ["cluster1", "cluster2"] {
        let cdir = dir.join(cluster);
        assert_eq!(
            fs::read(cdir.join("root-cert.pem")).expect("copy"),
            root_bytes
        );
        let mut expected_chain = fs::read(cdir.join("ca-cert.pem")).expect("ca-cert");
        expected_chain.extend_from_slice(&root_bytes);
        assert_eq!(
            fs::read(cdir.join("cert-chain.pem")).expect("chain"),
            expected_chain
        );
        let chain = fs::read_to_string(cdir.join("cert-chain.pem")).expect("chain");
        verify_chain(&chain, root.cert_pem()).expect("chain verifies");
    }

    // Modes: keys 0600, directories 0700, certificates readable.
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("root-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("cluster1")), 0o700);
    assert_eq!(mode(&dir.join("cluster1/ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("cluster1/ca-cert.pem")), 0o644);
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .expect("dir")
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // inspect agrees with openssl.
    let info = inspect(&fs::read_to_string(dir.join("cluster1/ca-cert.pem")).expect("pem"))
        .expect("inspect");
    let fp = openssl_ok(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        path_str(&dir.join("cluster1/ca-cert.pem")),
    ]);
    assert_eq!(field(&fp, "sha256 Fingerprint="), info.fingerprint_sha256);
    let serial = openssl_ok(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        path_str(&dir.join("cluster1/ca-cert.pem")),
    ]);
    assert_eq!(field(&serial, "serial="), info.serial);
    assert_eq!(info.subject, "O=Istio, CN=Intermediate CA, L=cluster1");
    assert_eq!(info.issuer, "O=Istio, CN=Root CA");
    assert!(info.is_ca);
    assert_eq!(info.path_len, Some(0));
    assert_eq!(info.sans, vec!["DNS:istiod.istio-system.svc".to_string()]);
    assert_eq!((info.key_algorithm.as_str(), info.key_bits), ("rsa", 4096));
    assert_eq!(info.key_type, Some(KeyType::Rsa4096));
    assert_eq!(info.signature_algorithm, "sha256WithRSAEncryption");
    assert!(
        (3648..=3650).contains(&info.days_left),
        "{}",
        info.days_left
    );
    assert_eq!(stable(&c1.cert), stable(&info));

    // The key never shows in Debug or serialised results.
    let key_pem = fs::read_to_string(dir.join("root-key.pem")).expect("key");
    let key_line = key_pem.lines().nth(1).expect("key body");
    let debug = format!("{root:?}");
    let json = serde_json::to_string(&root).expect("serialise");
    for shown in [&debug, &json] {
        assert!(
            !shown.contains(key_line) && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
    }
    assert!(debug.contains("redacted"));

    // A second run loads and reuses everything without rewriting a byte.
    let before = snapshot(&dir);
    let again = root_ca(&dir, &options).expect("root loaded");
    assert_eq!(again.status, RootStatus::Loaded);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    assert_eq!(stable(&again.cert), stable(&root.cert));
    for cluster in ["cluster1", "cluster2"] {
        let reused = intermediate_ca(&again, &dir, cluster, &options).expect("reused");
        assert_eq!(reused.status, IntermediateStatus::Reused);
        assert!(reused.warnings.is_empty(), "{:?}", reused.warnings);
    }
    assert_eq!(
        snapshot(&dir),
        before,
        "a second run must not touch any file"
    );

    // The cacerts Secret carries the four files istiod reads, as kubectl would build it.
    let secret = cacerts_secret(dir.join("cluster1")).expect("secret");
    let kubectl = Command::new("kubectl")
        .args([
            "create",
            "secret",
            "generic",
            "cacerts",
            "-n",
            "istio-system",
            "--dry-run=client",
            "-o",
            "json",
        ])
        .args(
            [
                "ca-cert.pem",
                "ca-key.pem",
                "root-cert.pem",
                "cert-chain.pem",
            ]
            .map(|f| format!("--from-file={}", dir.join("cluster1").join(f).display())),
        )
        .output()
        .expect("kubectl is installed");
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&kubectl.stdout).expect("json");
    assert_eq!(secret["data"], reference["data"]);
    assert_eq!(secret["metadata"]["name"], "cacerts");
    assert_eq!(secret["metadata"]["namespace"], "istio-system");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["kind"], "Secret");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["ca-key.pem"].as_str().expect("string"))
        .expect("base64");
    assert_eq!(
        decoded,
        fs::read(dir.join("cluster1/ca-key.pem")).expect("key")
    );

    // Rotation keeps the root, replaces cluster2's intermediate and backs up the old one.
    let old_c2: BTreeMap<String, Vec<u8>> = [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            fs::read(dir.join("cluster2").join(f)).expect("file"),
        )
    })
    .collect();
    let rotated = rotate_intermediate(&again, &dir, "cluster2", &options).expect("rotated");
    assert_eq!(rotated.status, IntermediateStatus::Rotated);
    assert_ne!(rotated.cert.fingerprint_sha256, c2.cert.fingerprint_sha256);
    assert_eq!(fs::read(&root_cert).expect("root"), root_bytes);
    assert_eq!(
        fs::read(dir.join("root-key.pem")).expect("key"),
        key_pem.as_bytes()
    );
    assert_openssl_verifies(&root_cert, &dir.join("cluster2/ca-cert.pem"));
    let backup = rotated.backup_dir.clone().expect("backup dir");
    assert_eq!(backup.parent(), Some(dir.join("cluster2").as_path()));
    let backup_name = backup
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        regex::Regex::new(r"^backup-\d{8}T\d{6}Z$")
            .expect("regex")
            .is_match(&backup_name),
        "{backup_name}"
    );
    assert_eq!(mode(&backup), 0o700);
    assert_eq!(mode(&backup.join("ca-key.pem")), 0o600);
    for (name, bytes) in &old_c2 {
        assert_eq!(
            &fs::read(backup.join(name)).expect("backup file"),
            bytes,
            "{name}"
        );
    }
    // The rotated intermediate is then reused, and cluster1 was not touched.
    let reused = intermediate_ca(&again, &dir, "cluster2", &options).expect("reuse rotated");
    assert_eq!(reused.status, IntermediateStatus::Reused);
    assert_eq!(stable(&reused.cert), stable(&rotated.cert));
    for (path, entry) in before
        .iter()
        .filter(|(p, _)| p.starts_with(dir.join("cluster1")))
    {
        assert_eq!(&snapshot(&dir)[path], entry);
    }
}

/// Each key type yields a working root and intermediate of that type.
#[test]
fn every_key_type_produces_a_verifiable_hierarchy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (key_type, algorithm, bits, signature) in [
        (KeyType::Rsa2048, "rsa", 2048, "sha256WithRSAEncryption"),
        (KeyType::Rsa3072, "rsa", 3072, "sha256WithRSAEncryption"),
        (KeyType::EcdsaP256, "ecdsa", 256, "ecdsa-with-SHA256"),
        (KeyType::EcdsaP384, "ecdsa", 384, "ecdsa-with-SHA384"),
    ] {
        let dir = tmp.path().join(key_type.to_string());
        let options = CaOptions {
            key_type,
            ..CaOptions::default()
        };
        let root = root_ca(&dir, &options).expect("root");
        let cluster = intermediate_ca(&root, &dir, "east", &options).expect("intermediate");
        for info in [&root.cert, &cluster.cert] {
            assert_eq!(info.key_type, Some(key_type));
            assert_eq!(
                (info.key_algorithm.as_str(), info.key_bits),
                (algorithm, bits)
            );
            assert_eq!(info.signature_algorithm, signature);
        }
        assert_openssl_verifies(&dir.join("root-cert.pem"), &dir.join("east/ca-cert.pem"));
        // Keys written by the library load back (second run) for every type.
        let loaded = root_ca(&dir, &options).expect("reload");
        assert_eq!(loaded.status, RootStatus::Loaded);
        let reused = intermediate_ca(&loaded, &dir, "east", &options).expect("reuse");
        assert_eq!(reused.status, IntermediateStatus::Reused);
    }
}

/// A root made by Istio's own Makefile commands is loaded and signs intermediates openssl accepts.
#[test]
fn root_created_by_istio_makefile_is_loaded_and_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ref_root, _) = istio_makefile_reference(tmp.path());
    let options = CaOptions {
        key_type: KeyType::Rsa2048,
        ..CaOptions::default()
    };
    // OpenSSL 1.1's genrsa, which older Istio checkouts ran, wrote PKCS#1 keys.
    let key = path_str(&tmp.path().join("root-key.pem")).to_string();
    openssl_ok(&["rsa", "-in", &key, "-traditional", "-out", &key]);
    assert!(fs::read_to_string(&key)
        .expect("key")
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let root = root_ca(tmp.path(), &options).expect("openssl root loads");
    assert_eq!(root.status, RootStatus::Loaded);
    assert_eq!(
        root.cert_pem(),
        fs::read_to_string(&ref_root).expect("root")
    );
    let cluster = intermediate_ca(&root, tmp.path(), "west", &options).expect("intermediate");
    assert_openssl_verifies(&ref_root, &cluster.ca_cert_path);
    let view = openssl_view(&cluster.ca_cert_path);
    assert_eq!(
        ext(&view, "X509v3 Authority Key Identifier").1,
        ext(&openssl_view(&ref_root), "X509v3 Subject Key Identifier").1
    );
}
