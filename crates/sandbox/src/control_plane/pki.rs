//! One cluster's certificates and keys: its CA, the API server's serving certificate, the admin
//! client certificate (group system:masters), the ServiceAccount signing key, and the
//! front-proxy CA with its client certificate (for kube-controller-manager's delegated auth).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use super::ControlPlaneError;

/// The name kube-apiserver is told to accept on front-proxy client certificates.
pub(super) const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// Names the serving certificate answers to: loopback, and the in-cluster Service name that
/// programs running against the cluster (istioctl's generated configs) may use.
const SERVING_NAMES: [&str; 6] = [
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

pub(super) struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

pub(super) struct Pki {
    pub ca_pem: String,
    pub serving: CertifiedKey,
    pub admin: CertifiedKey,
    pub service_account_key_pem: String,
    pub service_account_public_pem: String,
    pub front_proxy_ca_pem: String,
    pub front_proxy_client: CertifiedKey,
}

impl Pki {
    pub(super) fn generate(cluster: &str) -> Result<Pki, ControlPlaneError> {
        let err = |e: rcgen::Error| ControlPlaneError::Certificate {
            cluster: cluster.to_string(),
            message: e.to_string(),
        };
        let (ca_pem, ca) = authority(&format!("runner-control-plane-ca-{cluster}")).map_err(err)?;
        let serving = leaf(
            &ca,
            "kube-apiserver",
            None,
            &SERVING_NAMES,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
        .map_err(err)?;
        let admin = leaf(
            &ca,
            "admin",
            Some("system:masters"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
        .map_err(err)?;
        let (front_proxy_ca_pem, front_proxy_ca) =
            authority(&format!("runner-front-proxy-ca-{cluster}")).map_err(err)?;
        let front_proxy_client = leaf(
            &front_proxy_ca,
            FRONT_PROXY_CLIENT,
            None,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
        .map_err(err)?;
        // One key pair per cluster: a token one cluster signs is rejected by every other.
        let service_account = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
        Ok(Pki {
            ca_pem,
            serving,
            admin,
            service_account_key_pem: service_account.serialize_pem(),
            service_account_public_pem: service_account.public_key_pem(),
            front_proxy_ca_pem,
            front_proxy_client,
        })
    }
}

fn authority(common_name: &str) -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key)?.pem();
    Ok((pem, Issuer::new(params, key)))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertifiedKey, rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let names: Vec<String> = names.iter().map(std::string::ToString::to_string).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
