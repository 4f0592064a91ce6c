//! EndpointSlices: the address type, and IP addresses that can never be an endpoint
//! (unspecified, loopback, link-local), which the real server refuses for both IP families.
use std::net::IpAddr;

use serde_json::Value;

use super::super::status::FieldError;

pub fn validate(obj: &Value, causes: &mut Vec<FieldError>) {
    match obj["addressType"].as_str() {
        None => causes.push(FieldError::required("addressType")),
        Some("IPv4" | "IPv6") => addresses(obj, causes),
        Some("FQDN") => {}
        Some(other) => causes.push(FieldError::not_supported(
            "addressType",
            &Value::from(other),
            &["FQDN", "IPv4", "IPv6"],
        )),
    }
}

fn addresses(obj: &Value, causes: &mut Vec<FieldError>) {
    let Some(endpoints) = obj["endpoints"].as_array() else {
        return;
    };
    for (i, endpoint) in endpoints.iter().enumerate() {
        let Some(addresses) = endpoint["addresses"].as_array() else {
            continue;
        };
        for (j, address) in addresses.iter().enumerate() {
            let Some(text) = address.as_str() else {
                continue;
            };
            if let Some(why) = text.parse::<IpAddr>().ok().and_then(|ip| special(ip, text)) {
                let field = format!("endpoints[{i}].addresses[{j}]");
                causes.push(FieldError::invalid(&field, text, &why));
            }
        }
    }
}

/// Why an address is one no endpoint may have; None for an ordinary one.
fn special(ip: IpAddr, text: &str) -> Option<String> {
    if ip.is_unspecified() {
        return Some(format!("may not be unspecified ({text})"));
    }
    if ip.is_loopback() {
        return Some("may not be in the loopback range (127.0.0.0/8, ::1/128)".into());
    }
    let (link_local, link_local_multicast) = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (v4.is_link_local(), o[0] == 224 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xffc0 == 0xfe80, s[0] & 0xff0f == 0xff02)
        }
    };
    if link_local {
        return Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)".into());
    }
    if link_local_multicast {
        return Some(
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".into(),
        );
    }
    None
}
