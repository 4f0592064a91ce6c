//! The order apply sends objects in, after kapp: definitions first, then what workloads use.

/// Objects of one rank go out together; a rank starts after the one before it is done.
pub fn rank(api_version: &str, kind: &str) -> u8 {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace") => 0,
        ("", "ServiceAccount" | "ConfigMap" | "Secret")
        | (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_then_config_then_the_rest() {
        assert_eq!(
            rank("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            0
        );
        assert_eq!(rank("v1", "Namespace"), 0);
        assert_eq!(rank("rbac.authorization.k8s.io/v1", "ClusterRole"), 1);
        assert_eq!(rank("v1", "Secret"), 1);
        assert_eq!(rank("apps/v1", "Deployment"), 2);
        // A custom kind that happens to be called Namespace is not the core one.
        assert_eq!(rank("example.com/v1", "Namespace"), 2);
    }
}
