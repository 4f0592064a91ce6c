//! Mesh CA creation: runner's certs library against the openssl commands of Istio's
//! `tools/certs` Makefiles (root + two cluster intermediates per run).
//!
//! `cargo bench --bench certs`; `BENCH_QUICK=1` does one run per case (CI smoke run);
//! `BENCH_RUNS=N` overrides the run count. Writes `target/bench/certs.json`.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use runner_certs::{intermediate_ca, root_ca, verify_chain, CaOptions, KeyType};
use serde::Serialize;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const CLUSTERS: [&str; 2] = ["cluster1", "cluster2"];
const DEFAULT_RUNS: usize = 5;

#[derive(Serialize)]
struct CaseResult {
    case: String,
    runs: usize,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    samples_ms: Vec<f64>,
}

#[derive(Clone, Copy)]
enum Key {
    Rsa4096,
    EcdsaP256,
}

fn library_run(dir: &Path, key: Key) -> Result<()> {
    let options = CaOptions {
        key_type: match key {
            Key::Rsa4096 => KeyType::Rsa4096,
            Key::EcdsaP256 => KeyType::EcdsaP256,
        },
        ..CaOptions::default()
    };
    let root = root_ca(dir, &options)?;
    for cluster in CLUSTERS {
        intermediate_ca(&root, dir, cluster, &options)?;
    }
    Ok(())
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

fn genkey(dir: &Path, out: &str, key: Key) -> Result<()> {
    match key {
        Key::Rsa4096 => openssl(dir, &["genrsa", "-out", out, "4096"]),
        Key::EcdsaP256 => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                out,
            ],
        ),
    }
}

fn req_conf(extensions: &str, subject: &str) -> String {
    format!(
        "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\n\
         default_bits = 4096\nreq_extensions = req_ext\nx509_extensions = req_ext\n\
         distinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\n{extensions}\
         keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign\n\
         {subject}"
    )
}

/// The steps of `make -f Makefile.selfsigned.mk root-ca cluster1-cacerts cluster2-cacerts`.
fn openssl_run(dir: &Path, key: Key) -> Result<()> {
    let root_conf = req_conf(
        "basicConstraints = critical, CA:true\n",
        "[ req_dn ]\nO = Istio\nCN = Root CA\n",
    );
    fs::write(dir.join("root-ca.conf"), root_conf)?;
    genkey(dir, "root-key.pem", key)?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "root-key.pem",
            "-config",
            "root-ca.conf",
            "-out",
            "root-cert.csr",
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "3650",
            "-signkey",
            "root-key.pem",
            "-extensions",
            "req_ext",
            "-extfile",
            "root-ca.conf",
            "-in",
            "root-cert.csr",
            "-out",
            "root-cert.pem",
        ],
    )?;
    for cluster in CLUSTERS {
        fs::create_dir_all(dir.join(cluster))?;
        let conf = req_conf(
            "basicConstraints = critical, CA:true, pathlen:0\nsubjectAltName=@san\n",
            &format!(
                "[ san ]\nDNS.1 = istiod.istio-system.svc\n[ req_dn ]\nO = Istio\nCN = Intermediate CA\nL = {cluster}\n"
            ),
        );
        fs::write(dir.join(cluster).join("intermediate.conf"), conf)?;
        let key_file = format!("{cluster}/ca-key.pem");
        let conf_file = format!("{cluster}/intermediate.conf");
        let csr = format!("{cluster}/cluster-ca.csr");
        let cert = format!("{cluster}/ca-cert.pem");
        genkey(dir, &key_file, key)?;
        openssl(
            dir,
            &[
                "req", "-new", "-config", &conf_file, "-key", &key_file, "-out", &csr,
            ],
        )?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "730",
                "-CA",
                "root-cert.pem",
                "-CAkey",
                "root-key.pem",
                "-CAcreateserial",
                "-extensions",
                "req_ext",
                "-extfile",
                &conf_file,
                "-in",
                &csr,
                "-out",
                &cert,
            ],
        )?;
        let mut chain = fs::read(dir.join(&cert))?;
        chain.extend(fs::read(dir.join("root-cert.pem"))?);
        fs::write(dir.join(cluster).join("cert-chain.pem"), chain)?;
        fs::copy(
            dir.join("root-cert.pem"),
            dir.join(cluster).join("root-cert.pem"),
        )?;
    }
    Ok(())
}

/// Both ways must have produced the same usable layout, or the comparison is meaningless.
fn check_layout(dir: &Path) -> Result<()> {
    let root = fs::read_to_string(dir.join("root-cert.pem"))?;
    for cluster in CLUSTERS {
        let chain = fs::read_to_string(dir.join(cluster).join("cert-chain.pem"))?;
        verify_chain(&chain, &root)?;
        let copy = fs::read_to_string(dir.join(cluster).join("root-cert.pem"))?;
        if copy != root || !dir.join(cluster).join("ca-key.pem").is_file() {
            return Err(format!("{cluster}: incomplete layout").into());
        }
    }
    Ok(())
}

fn measure(case: &str, runs: usize, run: impl Fn(&Path) -> Result<()>) -> Result<CaseResult> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let tmp = tempfile::tempdir()?;
        let started = Instant::now();
        run(tmp.path())?;
        samples.push(started.elapsed());
        check_layout(tmp.path()).map_err(|e| format!("{case}: {e}"))?;
    }
    let mut sorted: Vec<Duration> = samples.clone();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = if sorted.len() % 2 == 1 {
        ms(sorted[sorted.len() / 2])
    } else {
        f64::midpoint(
            ms(sorted[sorted.len() / 2 - 1]),
            ms(sorted[sorted.len() / 2]),
        )
    };
    Ok(CaseResult {
        case: case.to_string(),
        runs,
        median_ms: median,
        min_ms: ms(sorted[0]),
        max_ms: ms(sorted[sorted.len() - 1]),
        samples_ms: samples.into_iter().map(ms).collect(),
    })
}

fn run_count() -> Result<usize> {
    if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
        return Ok(1);
    }
    match std::env::var("BENCH_RUNS") {
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("BENCH_RUNS must be a positive integer, got {v:?}").into()),
        },
        Err(_) => Ok(DEFAULT_RUNS),
    }
}

fn output_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench").join("certs.json")
}

fn main() -> Result<()> {
    let runs = run_count()?;
    let results = vec![
        measure(
            "runner library, RSA 4096 (root + 2 intermediates)",
            runs,
            |d| library_run(d, Key::Rsa4096),
        )?,
        measure(
            "openssl as Istio's Makefile, RSA 4096 (root + 2 intermediates)",
            runs,
            |d| openssl_run(d, Key::Rsa4096),
        )?,
        measure(
            "runner library, ECDSA P-256 (root + 2 intermediates)",
            runs,
            |d| library_run(d, Key::EcdsaP256),
        )?,
        measure(
            "openssl commands, ECDSA P-256 (root + 2 intermediates)",
            runs,
            |d| openssl_run(d, Key::EcdsaP256),
        )?,
    ];

    let path = output_path();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let report = serde_json::json!({
        "benchmark": "certs",
        "runs_per_case": runs,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "results": results,
    });
    fs::write(&path, serde_json::to_string_pretty(&report)?)?;

    println!("| case | runs | median ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |",
            r.case, r.runs, r.median_ms, r.min_ms, r.max_ms
        );
    }
    println!("\nJSON written to {}", path.display());
    Ok(())
}
