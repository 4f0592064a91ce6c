//! A sandbox mesh for the Istio-fidelity tests: sandbox clusters served from the test's own
//! runtime, a copy of the repository's playbooks and templates, kubectl and openssl as
//! independent checkers, and the Makefile-style CA directory Istio's tools/certs makes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use runner_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub struct Mesh {
    _rt: tokio::runtime::Runtime,
    _sandbox: Sandbox,
    project: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Output lines without the step durations and the recap's timing, which vary.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_string).collect()
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }
}

impl Mesh {
    pub fn new(clusters: &[&str]) -> Mesh {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt
            .block_on(Sandbox::start(SandboxOptions {
                clusters: clusters.iter().map(|c| c.to_string()).collect(),
                lb_delay: std::time::Duration::from_millis(20),
                ..Default::default()
            }))
            .unwrap();
        let project = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        copy_dir(&repo.join("playbooks"), &project.path().join("playbooks"));
        copy_dir(&repo.join("templates"), &project.path().join("templates"));
        let kubeconfig = project.path().join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig).unwrap();
        Mesh {
            _rt: rt,
            _sandbox: sandbox,
            project,
            kubeconfig,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.project.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs a playbook with the flagship's vars, then `vars_yaml` (ECDSA keys unless it says
    /// otherwise, to stay quick), then `extra` arguments.
    pub fn play(&self, playbook: &str, vars_yaml: &str, extra: &[&str]) -> Run {
        let vars = self.write(
            "test-vars.yaml",
            &format!("certs:\n  key_type: ecdsa-p256\n{vars_yaml}"),
        );
        let out = Command::new(env!("CARGO_BIN_EXE_runner"))
            .current_dir(self.project.path())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .args(["play", playbook, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--vars", "playbooks/primary-remote.vars.yaml", "--vars"])
            .arg(&vars)
            .args(extra)
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn flagship(&self, vars_yaml: &str, extra: &[&str]) -> Run {
        self.play("playbooks/primary-remote.rhai", vars_yaml, extra)
    }

    pub fn kubectl_raw(&self, context: &str, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .current_dir(self.project.path())
            .output()
            .unwrap()
    }

    pub fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.kubectl_raw(context, args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn kubectl(&self, context: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(context, &all)).unwrap()
    }

    /// Every object a play could have touched in a cluster, with its resourceVersion: equal
    /// snapshots mean nothing was written.
    pub fn cluster_snapshot(&self, context: &str) -> String {
        self.kubectl_ok(
            context,
            &[
                "get",
                "namespaces,secrets,serviceaccounts,configmaps,services,deployments,resourcequotas,\
                 clusterroles,clusterrolebindings,mutatingwebhookconfigurations,\
                 validatingwebhookconfigurations",
                "-A",
                "-o",
                "custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion",
            ],
        )
    }

    /// SHA-256 of every file in the project, by relative path (the vars file each `play`
    /// writes for itself, and the CA directory's lock, which names its last runner, aside).
    pub fn disk_snapshot(&self) -> BTreeMap<String, String> {
        let mut sums = BTreeMap::new();
        checksums(self.project.path(), self.project.path(), &mut sums);
        sums.remove("test-vars.yaml");
        sums.remove("certs/.runner.lock");
        sums
    }
}

fn checksums(root: &Path, dir: &Path, sums: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            checksums(root, &path, sums);
        } else {
            let digest = Sha256::digest(std::fs::read(&path).unwrap());
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            sums.insert(rel, hex::encode(digest));
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn openssl(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `SHA-256 AA:BB:...` of a certificate file, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(cert: &Path) -> String {
    let text = openssl(
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            cert.to_str().unwrap(),
        ],
        Path::new("."),
    );
    text.trim()
        .split_once('=')
        .map(|(_, fp)| fp.to_string())
        .unwrap()
}

/// Istio's tools/certs/Makefile.selfsigned.mk, step by step with openssl: `make root-ca` in
/// `dir`, then `make <cluster>-cacerts` for each cluster (2048-bit keys to stay quick; the
/// Makefile's are 4096). The .conf files are common.mk's.
pub fn istio_makefile_certs(dir: &Path, clusters: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("root-ca.conf"),
        "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\n\
         default_bits = 2048\nreq_extensions = req_ext\nx509_extensions = req_ext\n\
         distinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\n\
         basicConstraints = critical, CA:true\nkeyUsage = critical, digitalSignature, \
         nonRepudiation, keyEncipherment, keyCertSign\n[ req_dn ]\nO = Istio\nCN = Root CA\n",
    )
    .unwrap();
    openssl(&["genrsa", "-out", "root-key.pem", "2048"], dir);
    openssl(
        &[
            "req",
            "-sha256",
            "-new",
            "-key",
            "root-key.pem",
            "-config",
            "root-ca.conf",
            "-out",
            "root-cert.csr",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-sha256",
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
        dir,
    );
    for cluster in clusters {
        let sub = dir.join(cluster);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("intermediate.conf"),
            format!(
                "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\n\
                 default_bits = 2048\nreq_extensions = req_ext\nx509_extensions = req_ext\n\
                 distinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\n\
                 basicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, \
                 digitalSignature, nonRepudiation, keyEncipherment, keyCertSign\n\
                 subjectAltName=@san\n[ san ]\nDNS.1 = istiod.istio-system.svc\n[ req_dn ]\n\
                 O = Istio\nCN = Intermediate CA\nL = {cluster}\n"
            ),
        )
        .unwrap();
        let p = |name: &str| format!("{cluster}/{name}");
        openssl(&["genrsa", "-out", &p("ca-key.pem"), "2048"], dir);
        openssl(
            &[
                "req",
                "-sha256",
                "-new",
                "-config",
                &p("intermediate.conf"),
                "-key",
                &p("ca-key.pem"),
                "-out",
                &p("cluster-ca.csr"),
            ],
            dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-sha256",
                "-days",
                "3650",
                "-CA",
                "root-cert.pem",
                "-CAkey",
                "root-key.pem",
                "-CAcreateserial",
                "-extensions",
                "req_ext",
                "-extfile",
                &p("intermediate.conf"),
                "-in",
                &p("cluster-ca.csr"),
                "-out",
                &p("ca-cert.pem"),
            ],
            dir,
        );
        let chain = std::fs::read_to_string(sub.join("ca-cert.pem")).unwrap()
            + std::fs::read_to_string(dir.join("root-cert.pem"))
                .unwrap()
                .as_str();
        std::fs::write(sub.join("cert-chain.pem"), chain).unwrap();
        std::fs::copy(dir.join("root-cert.pem"), sub.join("root-cert.pem")).unwrap();
    }
}
