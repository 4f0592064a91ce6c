//! RBAC for ServiceAccount tokens, so a playbook that forgets a Role fails here as on a real cluster.
//! The admin token is cluster-admin. Discovery is open to every authenticated caller (system:discovery).
use super::core::Inner;
use super::ops::Target;
use super::status::ApiError;
use serde_json::{json, Value};

/// A ServiceAccount caller.
#[derive(Debug, Clone)]
pub(crate) struct ServiceAccountUser {
    pub namespace: String,
    pub name: String,
}

impl ServiceAccountUser {
    pub(crate) fn from_claims(claims: &Value) -> Option<ServiceAccountUser> {
        let sa = &claims["kubernetes.io"];
        Some(ServiceAccountUser {
            namespace: sa["namespace"].as_str()?.to_string(),
            name: sa["serviceaccount"]["name"].as_str()?.to_string(),
        })
    }

    fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    fn groups(&self) -> [String; 3] {
        [
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".into(),
        ]
    }

    fn is_subject(&self, subject: &Value) -> bool {
        let name = subject["name"].as_str().unwrap_or("");
        match subject["kind"].as_str() {
            Some("ServiceAccount") => {
                name == self.name && subject["namespace"].as_str() == Some(&self.namespace)
            }
            Some("User") => name == self.username(),
            Some("Group") => self.groups().iter().any(|g| g == name),
            _ => false,
        }
    }
}

fn contains(list: &Value, wanted: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|v| v == "*" || v == wanted))
}

fn rule_allows(rule: &Value, verb: &str, t: &Target) -> bool {
    let resource = match &t.subresource {
        Some(sub) => format!("{}/{sub}", t.rt.plural),
        None => t.rt.plural.clone(),
    };
    let resource_ok = rule["resources"].as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            r == "*"
                || *r == resource
                || t.subresource
                    .as_ref()
                    .is_some_and(|sub| *r == format!("*/{sub}"))
        })
    });
    let names_ok = match rule["resourceNames"].as_array() {
        Some(names) if !names.is_empty() => t
            .name
            .as_ref()
            .is_some_and(|n| names.iter().any(|v| v == n.as_str())),
        _ => true,
    };
    contains(&rule["verbs"], verb)
        && contains(&rule["apiGroups"], &t.rt.group)
        && resource_ok
        && names_ok
}

fn role_rules<'a>(inner: &'a Inner, role_ref: &Value, namespace: &str) -> Vec<&'a Value> {
    let name = role_ref["name"].as_str().unwrap_or("").to_string();
    let key = match role_ref["kind"].as_str() {
        Some("ClusterRole") => (
            "rbac.authorization.k8s.io/clusterroles".to_string(),
            String::new(),
            name,
        ),
        Some("Role") => (
            "rbac.authorization.k8s.io/roles".to_string(),
            namespace.to_string(),
            name,
        ),
        _ => return Vec::new(),
    };
    inner
        .store
        .get(&key)
        .and_then(|e| e.value["rules"].as_array())
        .map(|rules| rules.iter().collect())
        .unwrap_or_default()
}

/// Whether `user` may do `verb` on what `t` names, by the cluster's (Cluster)Roles and bindings.
pub(crate) fn allowed(inner: &Inner, user: &ServiceAccountUser, verb: &str, t: &Target) -> bool {
    let binds = |b: &Value| {
        b["subjects"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| user.is_subject(s)))
    };
    let cluster_wide = inner
        .store
        .list("rbac.authorization.k8s.io/clusterrolebindings", None)
        .filter(|b| binds(&b.value))
        .any(|b| {
            role_rules(inner, &b.value["roleRef"], "")
                .into_iter()
                .any(|r| rule_allows(r, verb, t))
        });
    if cluster_wide {
        return true;
    }
    let Some(ns) = t.namespace.as_deref().filter(|_| t.rt.namespaced) else {
        return false;
    };
    inner
        .store
        .list("rbac.authorization.k8s.io/rolebindings", Some(ns))
        .filter(|b| binds(&b.value))
        .any(|b| {
            role_rules(inner, &b.value["roleRef"], ns)
                .into_iter()
                .any(|r| rule_allows(r, verb, t))
        })
}

/// The 403 a real server gives a WebSocket exec (a GET) that may `get` but not `create`
/// `pods/exec`: its second check explains nothing.
pub(crate) fn forbidden_without_reason(t: &Target) -> ApiError {
    let name = t.name.as_deref().unwrap_or("");
    ApiError::forbidden(
        format!("{} \"{name}\" is forbidden: ", t.rt.plural),
        json!({"name": name, "kind": t.rt.plural}),
    )
}

/// The 403 a real server gives, e.g. `secrets "x" is forbidden: User "..." cannot get resource ...`.
pub(crate) fn forbidden(user: &ServiceAccountUser, verb: &str, t: &Target) -> ApiError {
    let resource = match &t.subresource {
        Some(sub) => format!("{}/{sub}", t.rt.plural),
        None => t.rt.plural.clone(),
    };
    let qualified = if t.rt.group.is_empty() {
        t.rt.plural.clone()
    } else {
        format!("{}.{}", t.rt.plural, t.rt.group)
    };
    let subject = match &t.name {
        Some(name) => format!("{qualified} \"{name}\" is forbidden"),
        None => format!("{qualified} is forbidden"),
    };
    let scope = match t.namespace.as_deref().filter(|_| t.rt.namespaced) {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut details = json!({"kind": t.rt.plural});
    if let Some(name) = &t.name {
        details["name"] = json!(name);
    }
    if !t.rt.group.is_empty() {
        details["group"] = json!(t.rt.group);
    }
    ApiError::forbidden(
        format!(
            "{subject}: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            user.username(),
            t.rt.group
        ),
        details,
    )
}
