//! A sandbox mesh for the Istio-fidelity tests: sandbox clusters served from the test's own
//! runtime, a copy of the repository's playbooks and templates, kubectl and openssl as
//! independent checkers, and the Makefile-style CA directory Istio's tools/certs makes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::backend::Backend;
use crate::common::checks;
use crate::common::fixture::Env;
use crate::common::Fixture;
use serde_json::Value;

pub(crate) struct Mesh {
    env: Env,
    pub kubeconfig: PathBuf,
}

pub(crate) use crate::common::checks::{fingerprint, openssl};
pub(crate) use crate::common::fixture::Run;

impl Run {
    /// Output lines without the step durations and the recap's timing, which vary.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_string).collect()
    }

    pub(crate) fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }
}

impl Mesh {
    pub(crate) fn new(clusters: &[&str]) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(Backend::Sandbox, clusters)
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh { env, kubeconfig }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs a playbook with the flagship's vars, then `vars_yaml` (ECDSA keys unless it says
    /// otherwise, to stay quick), then `extra` arguments.
    pub(crate) fn play(&self, playbook: &str, vars_yaml: &str, extra: &[&str]) -> Run {
        let vars = self.write(
            "test-vars.yaml",
            &format!("certs:\n  key_type: ecdsa-p256\n{vars_yaml}"),
        );
        let out = self
            .env
            .runner(&["play", playbook, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--vars", "playbooks/primary-remote.vars.yaml", "--vars"])
            .arg(&vars)
            .args(extra)
            .output()
            .unwrap();
        Run::from(out)
    }

    pub(crate) fn flagship(&self, vars_yaml: &str, extra: &[&str]) -> Run {
        self.play("playbooks/primary-remote.rhai", vars_yaml, extra)
    }

    pub(crate) fn kubectl_raw(&self, context: &str, args: &[&str]) -> Output {
        self.env.kubectl(context, args)
    }

    pub(crate) fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.kubectl_raw(context, args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn kubectl(&self, context: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(context, &all)).unwrap()
    }

    /// Every object a play could have touched in a cluster, with its resourceVersion: equal
    /// snapshots mean nothing was written.
    pub(crate) fn cluster_snapshot(&self, context: &str) -> String {
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
    pub(crate) fn disk_snapshot(&self) -> BTreeMap<String, String> {
        let mut sums = checks::checksums(self.env.dir());
        sums.remove("test-vars.yaml");
        sums.remove("certs/.runner.lock");
        sums
    }
}

/// Istio's tools/certs/Makefile.selfsigned.mk, step by step with openssl: `make root-ca` in
/// `dir`, then `make <cluster>-cacerts` for each cluster (2048-bit keys to stay quick; the
/// Makefile's are 4096). The .conf files are common.mk's.
pub(crate) fn istio_makefile_certs(dir: &Path, clusters: &[&str]) {
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
