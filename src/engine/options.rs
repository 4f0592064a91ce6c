//! The trailing options map every playbook function takes: checked once, in one wording.
//!
//! A function names the keys it accepts; a key it does not know, or a value of the wrong type,
//! is an error that names the function and lists the keys, before anything is sent anywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use rhai::{Dynamic, Map};

use crate::engine::convert::{throw, RhaiResult};
use crate::error::HostError;

/// Where an object is: the context's namespace unless the options name one, or every
/// namespace when they say so (only where the function allows `all_namespaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    ContextNamespace,
    Namespace(String),
    AllNamespaces,
}

pub(crate) struct Options {
    function: &'static str,
    allowed: &'static [&'static str],
    map: Map,
}

impl Options {
    /// Refuses keys outside `allowed`.
    pub(crate) fn check(
        function: &'static str,
        map: Map,
        allowed: &'static [&'static str],
    ) -> RhaiResult<Self> {
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(throw(HostError::new(format!(
                "{function}: unknown option {:?} (options: {})",
                key.as_str(),
                allowed.join(", ")
            ))));
        }
        // A captured variable arrives shared; its value is what is checked.
        let map = map.into_iter().map(|(k, v)| (k, v.flatten())).collect();
        Ok(Options {
            function,
            allowed,
            map,
        })
    }

    /// No options given.
    pub(crate) fn none(function: &'static str, allowed: &'static [&'static str]) -> Self {
        Options {
            function,
            allowed,
            map: Map::new(),
        }
    }

    /// An option set to () counts as left out, so `#{ namespace: object?.metadata?.namespace }`
    /// reads naturally.
    fn value(&self, key: &str) -> Option<&Dynamic> {
        debug_assert!(
            self.allowed.contains(&key),
            "{key} is not an option of {}",
            self.function
        );
        self.map.get(key).filter(|v| !v.is_unit())
    }

    fn wrong(&self, key: &str, expected: &str, got: &str) -> Box<rhai::EvalAltResult> {
        throw(HostError::new(format!(
            "{}: option {key} must be {expected}, not {got}",
            self.function
        )))
    }

    pub(crate) fn string(&self, key: &str) -> RhaiResult<Option<String>> {
        self.value(key)
            .map(|v| {
                v.clone()
                    .into_string()
                    .map_err(|t| self.wrong(key, "a string", t))
            })
            .transpose()
    }

    pub(crate) fn bool(&self, key: &str) -> RhaiResult<Option<bool>> {
        self.value(key)
            .map(|v| v.as_bool().map_err(|t| self.wrong(key, "true or false", t)))
            .transpose()
    }

    /// A map whose values are all strings (labels, environment variables).
    pub(crate) fn string_map(&self, key: &str) -> RhaiResult<Option<BTreeMap<String, String>>> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        let map = value
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| self.wrong(key, "a map of strings", value.type_name()))?;
        map.into_iter()
            .map(|(k, v)| {
                let text = v
                    .into_string()
                    .map_err(|t| self.wrong(&format!("{key}.{k}"), "a string", t))?;
                Ok((k.to_string(), text))
            })
            .collect::<RhaiResult<_>>()
            .map(Some)
    }

    /// `timeout`: a positive whole number of seconds, as every function that waits takes it.
    pub(crate) fn timeout(&self) -> RhaiResult<Option<Duration>> {
        let Some(value) = self.value("timeout") else {
            return Ok(None);
        };
        let seconds = value
            .as_int()
            .map_err(|t| self.wrong("timeout", "a number of seconds", t))?;
        match u64::try_from(seconds) {
            Ok(s) if s > 0 => Ok(Some(Duration::from_secs(s))),
            _ => Err(self.wrong(
                "timeout",
                "a positive number of seconds",
                &seconds.to_string(),
            )),
        }
    }

    /// `namespace` (and `all_namespaces`, where allowed): one namespace, never "".
    pub(crate) fn scope(&self) -> RhaiResult<Scope> {
        let namespace = self.string("namespace")?;
        let all = if self.allowed.contains(&"all_namespaces") {
            self.bool("all_namespaces")?.unwrap_or(false)
        } else {
            false
        };
        match (namespace, all) {
            (Some(_), true) => Err(throw(HostError::new(format!(
                "{}: give either namespace or all_namespaces: true, not both",
                self.function
            )))),
            (None, true) => Ok(Scope::AllNamespaces),
            (Some(ns), false) if ns.is_empty() => Err(throw(
                HostError::new(format!(
                    "{}: option namespace must not be empty",
                    self.function
                ))
                .with_hint(if self.allowed.contains(&"all_namespaces") {
                    "leave it out for the context's namespace, or say all_namespaces: true"
                } else {
                    "leave it out for the context's namespace"
                }),
            )),
            (Some(ns), false) => Ok(Scope::Namespace(ns)),
            (None, false) => Ok(Scope::ContextNamespace),
        }
    }
}

/// The strings of an array argument such as a command line; anything else is refused.
pub(crate) fn strings(function: &str, what: &str, items: rhai::Array) -> RhaiResult<Vec<String>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.into_string().map_err(|t| {
                throw(HostError::new(format!(
                    "{function}: {what}[{i}] must be a string, not {t}"
                )))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn message(error: rhai::EvalAltResult) -> String {
        match error {
            rhai::EvalAltResult::ErrorRuntime(value, _) => value
                .try_cast::<HostError>()
                .map(|e| e.message)
                .unwrap_or_default(),
            other => other.to_string(),
        }
    }

    #[test]
    fn unknown_keys_name_the_function_and_the_options() {
        let error = Options::check("get", map(&[("ns", "x".into())]), &["namespace"])
            .err()
            .map(|e| message(*e));
        assert_eq!(
            error.as_deref(),
            Some("get: unknown option \"ns\" (options: namespace)")
        );
    }

    #[test]
    fn scopes() {
        const LIST: &[&str] = &["namespace", "all_namespaces"];
        let scope = |pairs: &[(&str, Dynamic)]| {
            Options::check("list", map(pairs), LIST)
                .and_then(|o| o.scope())
                .map_err(|e| message(*e))
        };
        assert_eq!(scope(&[]), Ok(Scope::ContextNamespace));
        assert_eq!(
            scope(&[("namespace", Dynamic::UNIT)]),
            Ok(Scope::ContextNamespace)
        );
        assert_eq!(
            scope(&[("namespace", "a".into())]),
            Ok(Scope::Namespace("a".into()))
        );
        assert_eq!(
            scope(&[("all_namespaces", true.into())]),
            Ok(Scope::AllNamespaces)
        );
        assert_eq!(
            scope(&[("namespace", "".into())]),
            Err("list: option namespace must not be empty".to_string())
        );
        assert_eq!(
            scope(&[("namespace", "a".into()), ("all_namespaces", true.into())]),
            Err("list: give either namespace or all_namespaces: true, not both".to_string())
        );
        assert_eq!(
            scope(&[("namespace", Dynamic::from(1_i64))]),
            Err("list: option namespace must be a string, not i64".to_string())
        );
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        let timeout = |value: Dynamic| {
            Options::check("wait_rollout", map(&[("timeout", value)]), &["timeout"])
                .and_then(|o| o.timeout())
                .map_err(|e| message(*e))
        };
        assert_eq!(
            timeout(Dynamic::from(30_i64)),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            timeout(Dynamic::from(0_i64)),
            Err("wait_rollout: option timeout must be a positive number of seconds, not 0".into())
        );
        assert_eq!(
            timeout("30s".into()),
            Err("wait_rollout: option timeout must be a number of seconds, not string".into())
        );
    }
}
