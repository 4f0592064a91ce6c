use serde::{Deserialize, Serialize};

use super::KeyType;

/// Options for creating a CA. `None` fields take Istio's `tools/certs` defaults, which differ
/// between the root and the intermediates (see [`CaOptions::ROOT_DAYS`] and friends).
/// Options only shape newly created certificates: existing files are never re-issued to match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaOptions {
    pub key_type: KeyType,
    /// Validity in days; `None` means 3650 days for both the root and an intermediate
    /// (`ROOTCA_DAYS` / `INTERMEDIATE_DAYS` in Istio's tools/certs/common.mk since Istio 1.18).
    pub validity_days: Option<u32>,
    pub organization: String,
    /// `None` means `Root CA` / `Intermediate CA`.
    pub common_name: Option<String>,
    /// Extra subject fields, used for the root only (Istio's intermediates carry `L=<cluster>`).
    pub country: Option<String>,
    pub state: Option<String>,
    pub locality: Option<String>,
    /// Results carry a warning when a CA has fewer days left than this.
    pub expiry_warn_days: u32,
    /// How long to wait for another runner holding the CA directory before giving up.
    pub lock_wait_secs: u32,
}

impl CaOptions {
    pub const ROOT_DAYS: u32 = 3650;
    pub const INTERMEDIATE_DAYS: u32 = 3650;
    pub const ROOT_CN: &'static str = "Root CA";
    pub const INTERMEDIATE_CN: &'static str = "Intermediate CA";
    pub const ORGANIZATION: &'static str = "Istio";
    pub const EXPIRY_WARN_DAYS: u32 = 90;
    pub const LOCK_WAIT_SECS: u32 = 120;
}

impl Default for CaOptions {
    fn default() -> Self {
        CaOptions {
            key_type: KeyType::default(),
            validity_days: None,
            organization: Self::ORGANIZATION.to_string(),
            common_name: None,
            country: None,
            state: None,
            locality: None,
            expiry_warn_days: Self::EXPIRY_WARN_DAYS,
            lock_wait_secs: Self::LOCK_WAIT_SECS,
        }
    }
}
