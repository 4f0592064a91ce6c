//! Bearer tokens: HS256 JWTs signed with a per-cluster key, so one cluster rejects another's.
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

pub(crate) struct TokenSigner {
    cluster: String,
    secret: Vec<u8>,
    key: hmac::Key,
    /// Claims of tokens already verified. A real kube-apiserver caches authentication as well;
    /// verifying (HMAC, base64, JSON) on every request was a visible share of a play's CPU.
    verified: Mutex<HashMap<String, Value>>,
}

/// Enough for every token a sandbox hands out in practice; the cache starts over when full.
const VERIFIED_CAPACITY: usize = 1024;

impl TokenSigner {
    pub(crate) fn new(cluster: &str, secret: Vec<u8>) -> TokenSigner {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        TokenSigner {
            cluster: cluster.to_string(),
            secret,
            key,
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn generate(cluster: &str) -> TokenSigner {
        let secret: [u8; 32] = rand::random();
        Self::new(cluster, secret.to_vec())
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn issuer(&self) -> String {
        format!("https://sandbox.invalid/{}", self.cluster)
    }

    /// A token for `subject`; `expires` is a unix time or None for a token that never expires.
    pub(crate) fn issue(&self, subject: &str, expires: Option<i64>, extra: Value) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.issue_at(subject, now, expires, extra)
    }

    /// A token issued at `now` (unix time): the admin's is issued at 0, so the same key always
    /// gives the same admin token and a kubeconfig stays byte for byte valid across restarts.
    pub(crate) fn issue_at(
        &self,
        subject: &str,
        now: i64,
        expires: Option<i64>,
        extra: Value,
    ) -> String {
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": ["https://kubernetes.default.svc"],
            "iat": now,
            "nbf": now,
        });
        if let Some(exp) = expires {
            claims["exp"] = json!(exp);
        }
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": self.cluster});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of a token this cluster signed and that has not expired.
    pub(crate) fn verify(&self, token: &str) -> Option<Value> {
        self.verify_at(token, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    fn verify_at(&self, token: &str, now: i64) -> Option<Value> {
        let cached = self.verified().get(token).cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = self.check_signature(token)?;
                let mut verified = self.verified();
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
                verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        // Checked on every use: a cached token still expires.
        if let Some(exp) = claims["exp"].as_i64() {
            if exp <= now {
                return None;
            }
        }
        Some(claims)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The claims of a token this cluster signed, whatever its expiry.
    fn check_signature(&self, token: &str) -> Option<Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key, signing_input.as_bytes(), &signature).ok()?;
        let (_, payload) = signing_input.split_once('.')?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims["iss"].as_str()? != self.issuer() {
            return None;
        }
        claims["sub"].as_str()?;
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_own_key() {
        let a = TokenSigner::generate("a");
        let b = TokenSigner::generate("a");
        let token = a.issue("admin", None, json!({}));
        assert_eq!(
            a.verify(&token)
                .map(|c| c["sub"].clone())
                .as_ref()
                .and_then(|s| s.as_str()),
            Some("admin")
        );
        assert!(b.verify(&token).is_none());
        let expired = a.issue("x", Some(1), json!({}));
        assert!(a.verify(&expired).is_none());
    }

    #[test]
    fn a_verified_token_still_expires() {
        let signer = TokenSigner::generate("a");
        let token = signer.issue("reader", Some(2_000), json!({}));
        assert!(signer.verify_at(&token, 1_000).is_some());
        assert!(signer.verify_at(&token, 1_999).is_some());
        assert!(signer.verify_at(&token, 2_000).is_none());
        let forged = format!("{token}x");
        assert!(signer.verify_at(&forged, 1_000).is_none());
    }
}
