//! Certificate parameters matching Istio's `tools/certs` (common.mk `root-ca.conf` and
//! `%/intermediate.conf`).

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::{CaOptions, CertError, Result};

pub(crate) const ISTIOD_SAN: &str = "istiod.istio-system.svc";

/// Both CA kinds carry the same key usages in Istio's configuration.
fn ca_key_usages() -> Vec<KeyUsagePurpose> {
    vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ]
}

/// Validity starts now, like `openssl x509 -req -days N`.
fn validity(days: u32) -> Result<(OffsetDateTime, OffsetDateTime)> {
    if days == 0 {
        return Err(CertError::InvalidOption(
            "validity_days must be at least 1".to_string(),
        ));
    }
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| CertError::crypto("reading the clock", e))?;
    Ok((now, now + Duration::days(i64::from(days))))
}

/// A random positive 159-bit serial, the size `openssl x509 -CAcreateserial` uses.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn non_empty(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(CertError::InvalidOption(format!(
            "{field} must not be empty"
        )));
    }
    Ok(())
}

pub(crate) fn root_params(options: &CaOptions) -> Result<CertificateParams> {
    let common_name = options.common_name.as_deref().unwrap_or(CaOptions::ROOT_CN);
    non_empty("organization", &options.organization)?;
    non_empty("common_name", common_name)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(country) = &options.country {
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(CertError::InvalidOption(format!(
                "country must be a two-letter code, got {country:?}"
            )));
        }
        params
            .distinguished_name
            .push(DnType::CountryName, country.as_str());
    }
    if let Some(state) = &options.state {
        params
            .distinguished_name
            .push(DnType::StateOrProvinceName, state.as_str());
    }
    if let Some(locality) = &options.locality {
        params
            .distinguished_name
            .push(DnType::LocalityName, locality.as_str());
    }
    params
        .distinguished_name
        .push(DnType::OrganizationName, options.organization.as_str());
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = ca_key_usages();
    // openssl adds no authorityKeyIdentifier to Istio's self-signed root.
    params.use_authority_key_identifier_extension = false;
    params.serial_number = Some(random_serial());
    let days = options.validity_days.unwrap_or(CaOptions::ROOT_DAYS);
    (params.not_before, params.not_after) = validity(days)?;
    Ok(params)
}

/// Parameters for `<cluster>`'s intermediate. Its `not_after` is capped at the root's: a CA
/// cannot usefully outlive its issuer. Returns a warning when the cap applied.
pub(crate) fn intermediate_params(
    options: &CaOptions,
    cluster: &str,
    root_not_after: i64,
) -> Result<(CertificateParams, Option<String>)> {
    let common_name = options
        .common_name
        .as_deref()
        .unwrap_or(CaOptions::INTERMEDIATE_CN);
    non_empty("organization", &options.organization)?;
    non_empty("common_name", common_name)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, options.organization.as_str());
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::LocalityName, cluster);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = ca_key_usages();
    params.subject_alt_names =
        vec![SanType::DnsName(ISTIOD_SAN.try_into().map_err(|e| {
            CertError::crypto("encoding the istiod SAN", e)
        })?)];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    let days = options
        .validity_days
        .unwrap_or(CaOptions::INTERMEDIATE_DAYS);
    let (not_before, not_after) = validity(days)?;
    params.not_before = not_before;
    params.not_after = not_after;
    let mut warning = None;
    // An intermediate made with a root of the same validity (Istio's defaults: 3650 days both)
    // ends seconds after it, as Istio's Makefile makes it; it is kept so. Only a longer excess
    // is cut to the root's expiry, with a word: the chain is worthless past it anyway.
    const SAME_DAY_SECONDS: i64 = 86_400;
    if not_after.unix_timestamp() - root_not_after > SAME_DAY_SECONDS {
        params.not_after = OffsetDateTime::from_unix_timestamp(root_not_after)
            .map_err(|e| CertError::crypto("reading the root's expiry", e))?;
        warning = Some(format!(
            "the intermediate for cluster {cluster:?} was limited to the root's expiry ({}) instead of {days} days",
            super::info::rfc3339(root_not_after)
        ));
    }
    Ok((params, warning))
}
