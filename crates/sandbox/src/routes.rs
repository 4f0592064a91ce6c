//! Maps request paths onto resource types, objects and subresources.
use super::ops::Target;
use super::resources::Registry;
use super::status::ApiError;

pub(crate) enum Route {
    Version,
    Health,
    OpenApiRoot,
    OpenApiGroupVersion(String),
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList { group: String, version: String },
    Resource(Box<Target>),
    NotFound,
}

pub(crate) fn route(path: &str, registry: &Registry) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => return Ok(Route::Health),
        ["api"] => return Ok(Route::CoreVersions),
        ["openapi", "v3"] => return Ok(Route::OpenApiRoot),
        ["openapi", "v3", gv @ ..] => return Ok(Route::OpenApiGroupVersion(gv.join("/"))),
        ["apis"] => return Ok(Route::GroupList),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["api", v] => {
            return Ok(Route::ResourceList {
                group: String::new(),
                version: v.to_string(),
            })
        }
        ["apis", g, v] => {
            return Ok(Route::ResourceList {
                group: g.to_string(),
                version: v.to_string(),
            })
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Ok(Route::NotFound),
    };
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural] if !["status", "finalize"].contains(plural) => {
            (Some(*ns), *plural, None, None)
        }
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_resource()),
    };
    let rt = registry
        .find(group, version, plural)
        .ok_or_else(ApiError::no_resource)?
        .clone();
    // Cluster-scoped kinds have no namespaced URLs; named namespaced objects need a namespace.
    if (!rt.namespaced && namespace.is_some())
        || (rt.namespaced && namespace.is_none() && name.is_some())
    {
        return Err(ApiError::no_resource());
    }
    let allowed_sub = match sub {
        None => true,
        Some("status") => rt.has_status,
        Some("token") => rt.kind == "ServiceAccount" && rt.group.is_empty(),
        Some("exec") => rt.kind == "Pod" && rt.group.is_empty(),
        Some(_) => false,
    };
    if !allowed_sub {
        return Err(ApiError::no_resource());
    }
    Ok(Route::Resource(Box::new(Target {
        rt,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    })))
}
