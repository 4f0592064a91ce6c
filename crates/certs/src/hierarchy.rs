//! One run's work on the CA hierarchy. A run writes the files. A plan (a dry run) writes
//! nothing: it reads what exists where it is, makes what is missing in memory, and keeps the
//! intermediates it made so that its later reads (the `cacerts` Secret, the check against a
//! live one) see them, as the run would see the files it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::files;
use super::{
    cacerts_secret, cacerts_secret_of, intermediate_ca, plan_intermediate_ca, plan_root_ca,
    plan_rotate_intermediate, root_ca, rotate_intermediate, validate_cluster_name, CaOptions,
    IntermediateCa, Ours, PlannedFiles, Result, RootCa,
};

/// Whether CAs are written (a run) or only planned (a dry run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Write,
    Plan,
}

/// The CAs of one run; see the module documentation.
pub struct Hierarchy {
    mode: Mode,
    /// Intermediates a plan made, by cluster directory. They hold keys: never written anywhere.
    planned: Mutex<BTreeMap<PathBuf, PlannedFiles>>,
}

/// A CA a run ensured, with the files that are the run's own: written or reused by it, they
/// must never make watch mode run again. A plan owns none.
#[derive(Debug)]
pub struct Ensured<T> {
    pub ca: T,
    pub files: Vec<PathBuf>,
}

/// An intermediate with its certificates (never its key), so that a playbook need not read
/// files a plan did not write.
#[derive(Debug)]
pub struct Intermediate {
    pub ca: IntermediateCa,
    pub ca_cert_pem: String,
    pub cert_chain_pem: String,
}

impl Hierarchy {
    pub fn new(mode: Mode) -> Self {
        Hierarchy {
            mode,
            planned: Mutex::default(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Forgets what a plan made (a new run in watch mode plans afresh).
    pub fn forget_plans(&self) {
        self.planned().clear();
    }

    /// [`root_ca`], or [`plan_root_ca`] in a plan.
    pub fn root_ca(&self, dir: &Path, options: &CaOptions) -> Result<Ensured<RootCa>> {
        match self.mode {
            Mode::Write => {
                let root = root_ca(dir, options)?;
                let files = vec![root.cert_path.clone(), root.key_path.clone()];
                Ok(Ensured { ca: root, files })
            }
            Mode::Plan => Ok(Ensured {
                ca: plan_root_ca(dir, options)?,
                files: Vec::new(),
            }),
        }
    }

    /// [`intermediate_ca`], or [`plan_intermediate_ca`] in a plan.
    pub fn intermediate_ca(
        &self,
        root: &RootCa,
        dir: &Path,
        cluster: &str,
        options: &CaOptions,
    ) -> Result<Ensured<Intermediate>> {
        match self.mode {
            Mode::Write => written(intermediate_ca(root, dir, cluster, options)?),
            Mode::Plan => match plan_intermediate_ca(root, dir, cluster, options)? {
                (ca, Some(files)) => Ok(self.keep(ca, files)),
                (ca, None) => read(ca),
            },
        }
    }

    /// [`rotate_intermediate`], or [`plan_rotate_intermediate`] in a plan.
    pub fn rotate_intermediate(
        &self,
        root: &RootCa,
        dir: &Path,
        cluster: &str,
        options: &CaOptions,
    ) -> Result<Ensured<Intermediate>> {
        match self.mode {
            Mode::Write => written(rotate_intermediate(root, dir, cluster, options)?),
            Mode::Plan => {
                let (ca, files) = plan_rotate_intermediate(root, dir, cluster, options)?;
                Ok(self.keep(ca, files))
            }
        }
    }

    /// The `cacerts` Secret of a cluster directory: from the files, or from the intermediate
    /// this plan made for it.
    pub fn cacerts_secret(&self, cluster_dir: &Path) -> Result<Value> {
        let planned = self.planned().get(cluster_dir).cloned();
        match planned {
            Some(files) => cacerts_secret_of(cluster_dir, &files),
            None => cacerts_secret(cluster_dir),
        }
    }

    /// Our root and intermediate for [`super::check_cacerts`]: from the files, or from what
    /// this plan made in memory.
    pub fn ours(&self, certs_dir: &Path, cert_dir: &str) -> Result<Ours> {
        validate_cluster_name(cert_dir)?;
        let mut ours = Ours::read(certs_dir, cert_dir)?;
        if let Some(planned) = self.planned().get(&certs_dir.join(cert_dir)) {
            ours.root_pem = Some(planned.root_cert.clone());
            ours.intermediate_pem = Some(planned.ca_cert.clone());
        }
        Ok(ours)
    }

    fn keep(&self, ca: IntermediateCa, files: PlannedFiles) -> Ensured<Intermediate> {
        let intermediate = Intermediate {
            ca_cert_pem: files.ca_cert.clone(),
            cert_chain_pem: files.cert_chain.clone(),
            ca,
        };
        self.planned().insert(intermediate.ca.dir.clone(), files);
        Ensured {
            ca: intermediate,
            files: Vec::new(),
        }
    }

    fn planned(&self) -> MutexGuard<'_, BTreeMap<PathBuf, PlannedFiles>> {
        self.planned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An intermediate a run wrote or reused: all four files are its own.
fn written(ca: IntermediateCa) -> Result<Ensured<Intermediate>> {
    let files = vec![
        ca.ca_cert_path.clone(),
        ca.ca_key_path.clone(),
        ca.root_cert_path.clone(),
        ca.cert_chain_path.clone(),
    ];
    Ok(Ensured { files, ..read(ca)? })
}

/// An intermediate whose certificates are on disk.
fn read(ca: IntermediateCa) -> Result<Ensured<Intermediate>> {
    Ok(Ensured {
        ca: Intermediate {
            ca_cert_pem: files::read_text(&ca.ca_cert_path)?,
            cert_chain_pem: files::read_text(&ca.cert_chain_path)?,
            ca,
        },
        files: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_names::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT, ROOT_KEY};
    use crate::{IntermediateStatus, KeyType, RootStatus};

    fn quick() -> CaOptions {
        CaOptions {
            key_type: KeyType::EcdsaP256,
            ..CaOptions::default()
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = walk(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .flat_map(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    vec![path]
                }
            })
            .collect()
    }

    #[test]
    fn a_plan_writes_nothing_and_later_reads_see_what_it_made() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let plan = Hierarchy::new(Mode::Plan);
        let root = plan.root_ca(&dir, &quick()).unwrap();
        assert_eq!(root.ca.status, RootStatus::Created);
        assert!(root.files.is_empty());
        let east = plan
            .intermediate_ca(&root.ca, &dir, "east", &quick())
            .unwrap();
        assert_eq!(east.ca.ca.status, IntermediateStatus::Created);
        assert!(east.files.is_empty());
        assert!(east.ca.cert_chain_pem.starts_with(&east.ca.ca_cert_pem));
        assert!(east.ca.cert_chain_pem.ends_with(root.ca.cert_pem()));
        assert!(!dir.exists(), "a plan made {}", dir.display());

        let secret = plan.cacerts_secret(&dir.join("east")).unwrap();
        assert_eq!(secret["metadata"]["name"], "cacerts");
        let ours = plan.ours(&dir, "east").unwrap();
        assert_eq!(ours.root_pem.as_deref(), Some(root.ca.cert_pem()));
        assert_eq!(
            ours.intermediate_pem.as_deref(),
            Some(east.ca.ca_cert_pem.as_str())
        );

        plan.forget_plans();
        let ours = plan.ours(&dir, "east").unwrap();
        assert_eq!((ours.root_pem, ours.intermediate_pem), (None, None));
        match plan.cacerts_secret(&dir.join("east")) {
            Err(crate::CertError::Io { path, .. }) => {
                assert_eq!(path, dir.join("east/ca-cert.pem"));
            }
            other => panic!("a forgotten plan still reads: {other:?}"),
        }
        assert!(!dir.exists());
    }

    #[test]
    fn a_run_writes_and_owns_the_files_a_plan_then_reads_where_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let run = Hierarchy::new(Mode::Write);
        let root = run.root_ca(&dir, &quick()).unwrap();
        assert_eq!(root.files, vec![dir.join(ROOT_CERT), dir.join(ROOT_KEY)]);
        let east = run
            .intermediate_ca(&root.ca, &dir, "east", &quick())
            .unwrap();
        let cluster = dir.join("east");
        assert_eq!(
            east.files,
            [CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN].map(|f| cluster.join(f))
        );
        assert_eq!(
            east.ca.ca_cert_pem,
            std::fs::read_to_string(cluster.join(CA_CERT)).unwrap()
        );
        let written = listing(&dir);

        let plan = Hierarchy::new(Mode::Plan);
        let root = plan.root_ca(&dir, &quick()).unwrap();
        assert_eq!(root.ca.status, RootStatus::Loaded);
        let reused = plan
            .intermediate_ca(&root.ca, &dir, "east", &quick())
            .unwrap();
        assert_eq!(reused.ca.ca.status, IntermediateStatus::Reused);
        assert!(reused.files.is_empty());
        assert_eq!(reused.ca.ca_cert_pem, east.ca.ca_cert_pem);
        let rotated = plan
            .rotate_intermediate(&root.ca, &dir, "east", &quick())
            .unwrap();
        assert_eq!(rotated.ca.ca.status, IntermediateStatus::Rotated);
        assert_ne!(rotated.ca.ca_cert_pem, east.ca.ca_cert_pem);
        assert_eq!(
            plan.ours(&dir, "east").unwrap().intermediate_pem,
            Some(rotated.ca.ca_cert_pem.clone()),
            "after a planned rotation, the check sees the new intermediate"
        );
        assert_eq!(listing(&dir), written, "the plan changed the files");
    }

    #[test]
    fn a_bad_cluster_directory_name_is_refused_before_any_read() {
        let plan = Hierarchy::new(Mode::Plan);
        let Err(err) = plan.ours(Path::new("/nonexistent"), "../east") else {
            panic!("a cluster directory outside certs_dir was read");
        };
        assert_eq!(
            err.to_string(),
            "invalid cluster name \"../east\": only letters, digits, '-', '_' and '.' are allowed"
        );
    }
}
