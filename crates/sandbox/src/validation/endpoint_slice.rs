//! EndpointSlices: the address type, and each address as kube-apiserver v1.36 checks it. An
//! endpoint may not point at the node itself (loopback, link-local, unspecified addresses).
use super::super::status::FieldError;
use serde_json::Value;
use std::net::IpAddr;

pub(super) fn validate(obj: &Value, causes: &mut Vec<FieldError>) {
    let family = match obj["addressType"].as_str() {
        None => return causes.push(FieldError::required("addressType")),
        Some(family @ ("IPv4" | "IPv6" | "FQDN")) => family,
        Some(other) => {
            return causes.push(FieldError::not_supported(
                "addressType",
                &Value::from(other),
                &["FQDN", "IPv4", "IPv6"],
            ))
        }
    };
    if family == "FQDN" {
        return;
    }
    let endpoints = obj["endpoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (e, endpoint) in endpoints.iter().enumerate() {
        let addresses = endpoint["addresses"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (a, address) in addresses.iter().enumerate() {
            let Some(text) = address.as_str() else {
                continue;
            };
            let field = format!("endpoints[{e}].addresses[{a}]");
            match address_problem(text) {
                Some(why) => causes.push(FieldError::invalid(&field, text, why)),
                None => {
                    if let Some(why) = family_mismatch(text, family) {
                        let field = format!("endpoints[{e}].addresses");
                        causes.push(FieldError::invalid(&field, text, why));
                    }
                }
            }
        }
    }
}

/// Why the address cannot be an endpoint, in the real server's words.
fn address_problem(text: &str) -> Option<&'static str> {
    let Ok(ip) = text.parse::<IpAddr>() else {
        return Some(if has_leading_zero(text) {
            "must not have leading 0s"
        } else {
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        });
    };
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("may not be unspecified (0.0.0.0)"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("may not be unspecified (::)"),
        ip if ip.is_loopback() => Some("may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        }
        IpAddr::V4(v4) if v4.octets()[..3] == [224, 0, 0] => {
            Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xff00 && v6.segments()[0] & 0x000f == 2 => {
            Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        }
        _ => None,
    }
}

fn family_mismatch(text: &str, family: &str) -> Option<&'static str> {
    match (text.parse::<IpAddr>(), family) {
        (Ok(IpAddr::V6(_)), "IPv4") => Some("must be an IPv4 address"),
        (Ok(IpAddr::V4(_)), "IPv6") => Some("must be an IPv6 address"),
        _ => None,
    }
}

/// An IPv4 address written with a leading zero in one of its parts (`01.2.3.4`).
fn has_leading_zero(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.iter().any(|p| p.len() > 1 && p.starts_with('0'))
}
