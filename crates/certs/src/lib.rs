//! The mesh's certificate authority hierarchy, laid out like Istio's `tools/certs` Makefiles.
//!
//! One root CA (`root-cert.pem`, `root-key.pem`) is shared by every cluster of a mesh; each cluster
//! gets its own intermediate CA under `<dir>/<cluster>/`, which istiod reads from the `cacerts`
//! Secret. Existing material is always reused or refused, never silently replaced: a lost or
//! replaced CA breaks mTLS across the whole mesh. Nothing here prints; warnings travel in results.

mod chain;
mod cluster_name;
mod error;
mod expiry;
mod files;
mod hierarchy;
mod info;
mod intermediate;
mod key_type;
mod live;
mod options;
mod pem;
mod profile;
mod public_half;
mod root;
mod rotate;
mod secret;

pub use chain::{compare_roots, verify_chain, RootComparison, RootIdentity};
pub use cluster_name::validate_cluster_name;
pub use error::CertError;
pub use hierarchy::{Ensured, Hierarchy, Intermediate, Mode};
pub use info::{inspect, inspect_file, CertInfo};
pub use intermediate::{
    intermediate_ca, plan_intermediate_ca, IntermediateCa, IntermediateStatus, PlannedFiles,
};
pub use key_type::KeyType;
pub use live::{check_cacerts, inspect_cacerts, CacertsVerdict, LiveCacerts, Ours, Target};
pub use options::CaOptions;
pub use root::{plan_root_ca, root_ca, RootCa, RootStatus};
pub use rotate::{plan_rotate_intermediate, rotate_intermediate};
pub use secret::{cacerts_secret, cacerts_secret_of};

/// File names, exactly as Istio's Makefiles and istiod's `cacerts` Secret use them.
pub mod file_names {
    pub const ROOT_CERT: &str = "root-cert.pem";
    pub const ROOT_KEY: &str = "root-key.pem";
    pub const CA_CERT: &str = "ca-cert.pem";
    pub const CA_KEY: &str = "ca-key.pem";
    pub const CERT_CHAIN: &str = "cert-chain.pem";
}

pub type Result<T> = std::result::Result<T, CertError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn bindable<T: Clone + Send + Sync + std::fmt::Debug + serde::Serialize + 'static>() {}

    #[test]
    fn results_can_be_held_by_a_sync_script_engine() {
        bindable::<RootCa>();
        bindable::<IntermediateCa>();
        bindable::<CertInfo>();
        bindable::<RootComparison>();
        bindable::<CaOptions>();
    }
}
