//! The sandbox API server as kube's client sees it over HTTPS.
use crate::common::backend::Backend;
use crate::common::sandbox as support;
use crate::common::Fixture;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use support::{api_error, client_for, raw};

fn ns(name: &str) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn secret(name: &str, labels: serde_json::Value) -> Secret {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "stringData": {"k": "v"}}),
    )
    .unwrap()
}

/// A ClusterRole reading namespaces, bound to the ServiceAccount.
async fn grant_namespace_reading(client: &kube::Client, namespace: &str, sa: &str) {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "ns-reader"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}]});
    Api::<ClusterRole>::all(client.clone())
        .patch("ns-reader", &PatchParams::apply("t"), &Patch::Apply(role))
        .await
        .unwrap();
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("ns-reader-{sa}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]});
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(
            &format!("ns-reader-{sa}"),
            &PatchParams::apply("t"),
            &Patch::Apply(binding),
        )
        .await
        .unwrap();
}

async fn with_namespace(client: &kube::Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns(name))
        .await
        .expect("namespace created");
}

#[tokio::test]
async fn discovery_lists_builtin_kinds_with_verbs_and_subresources() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");

    let (code, core) = raw(&client, "GET", "/api/v1", None, "").await;
    assert_eq!(code, 200);
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for want in [
        "namespaces",
        "secrets",
        "configmaps",
        "services",
        "services/status",
        "serviceaccounts/token",
        "pods",
        "resourcequotas",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let cm = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "configmaps")
        .unwrap();
    assert_eq!(cm["singularName"], "configmap");
    assert_eq!(cm["namespaced"], true);
    assert_eq!(cm["shortNames"], json!(["cm"]));
    assert!(cm["verbs"].as_array().unwrap().contains(&json!("watch")));

    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let mut kinds = Vec::new();
    for group in discovery.groups() {
        for (ar, _) in group.recommended_resources() {
            kinds.push(format!("{}/{}", ar.api_version, ar.kind));
        }
    }
    for want in [
        "apps/v1/Deployment",
        "discovery.k8s.io/v1/EndpointSlice",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
        "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration",
        "apiextensions.k8s.io/v1/CustomResourceDefinition",
        "v1/Secret",
    ] {
        assert!(
            kinds.contains(&want.to_string()),
            "{want} missing from {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|k| k.ends_with("/StatefulSet")),
        "unsupported kinds are not faked"
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_status() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1", "c2"])
        .start()
        .await;
    let bad = support::client_with_token(ts.sandbox(), "c1", "not-a-token").await;
    let (code, body) = raw(&bad, "GET", "/api/v1/namespaces", None, "").await;
    assert_eq!(code, 401);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Unauthorized");
    // The admin token of one cluster is not valid on another.
    let other = ts
        .sandbox()
        .cluster("c2")
        .unwrap()
        .admin_token()
        .to_string();
    let cross = support::client_with_token(ts.sandbox(), "c1", &other).await;
    let err = api_error(
        Api::<Namespace>::all(cross)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(err.code, 401);
}

#[tokio::test]
async fn create_get_conflict_and_not_found_look_like_a_real_server() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let created = secrets
        .create(&PostParams::default(), &secret("s1", json!({})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert!(meta
        .resource_version
        .as_deref()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    // stringData is folded into data and not stored.
    assert!(created.string_data.is_none());
    assert_eq!(created.data.unwrap()["k"].0, b"v");

    let dup = api_error(
        secrets
            .create(&PostParams::default(), &secret("s1", json!({})))
            .await,
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let (code, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/secrets/missing",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["message"], "secrets \"missing\" not found");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(
        body["details"],
        json!({"name": "missing", "kind": "secrets"})
    );
    assert_eq!(body["code"], 404);

    let missing_ns: Api<Secret> = Api::namespaced(client.clone(), "nope");
    let err = api_error(
        missing_ns
            .create(&PostParams::default(), &secret("s", json!({})))
            .await,
    );
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "namespaces \"nope\" not found");
}

#[tokio::test]
async fn list_filters_by_label_and_field_selectors() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "api"})),
        ("c", json!({})),
    ] {
        secrets
            .create(&PostParams::default(), &secret(name, labels))
            .await
            .unwrap();
    }
    let names = |list: kube::core::ObjectList<Secret>| -> Vec<String> {
        list.items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect()
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(secrets.list(&q("app=web")).await.unwrap()), ["a"]);
    assert_eq!(
        names(secrets.list(&q("app!=web")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(
        names(secrets.list(&q("app in (web,api)")).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(secrets.list(&q("app notin (web)")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(names(secrets.list(&q("tier")).await.unwrap()), ["a"]);
    assert_eq!(names(secrets.list(&q("!app")).await.unwrap()), ["c"]);
    let by_name = secrets
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert!(by_name
        .metadata
        .resource_version
        .as_deref()
        .is_some_and(|rv| rv.parse::<u64>().is_ok()));
    assert_eq!(names(by_name), ["b"]);

    let deleted = secrets
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app"),
        )
        .await
        .unwrap();
    assert_eq!(deleted.left().map(|l| l.items.len()), Some(2));
    assert_eq!(
        names(secrets.list(&ListParams::default()).await.unwrap()),
        ["c"]
    );
}

#[tokio::test]
async fn stale_update_conflicts_and_generation_tracks_spec() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
    })).unwrap();
    let created = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let scaled = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut changed = first.clone();
    changed.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = cms
        .replace("c", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );
    // `changed` carries the first resourceVersion, which is stale now.
    let err = api_error(cms.replace("c", &PostParams::default(), &changed).await);
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );
    // A label change does not bump generation.
    let labelled = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));
}

#[tokio::test]
async fn merge_json_and_strategic_patches_apply() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}))
            .unwrap(),
    )
    .await
    .unwrap();
    let merged = cms
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": null, "c": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.unwrap().into_iter().collect::<Vec<_>>(),
        [("b".to_string(), "2".to_string()), ("c".into(), "3".into())]
    );
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/b", "value": "20"}]))
            .unwrap();
    let patched = cms
        .patch("c", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["b"], "20");
    let strategic = cms
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"l": "v"}}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.metadata.labels.unwrap()["l"], "v");
    let missing = api_error(
        cms.patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn server_side_apply_tracks_owners_conflicts_and_removals() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cfg = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": data});
    let alice = PatchParams::apply("alice");
    let created = cms
        .patch(
            "app",
            &alice,
            &Patch::Apply(cfg(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("alice"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
    assert_eq!(managed[0].fields_type.as_deref(), Some("FieldsV1"));
    assert!(managed[0].time.is_some());
    let fields = serde_json::to_value(managed[0].fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(fields, json!({"f:data": {"f:a": {}, "f:b": {}}}));

    // Bob wants a different value for a field Alice owns.
    let err = api_error(
        cms.patch(
            "app",
            &PatchParams::apply("bob"),
            &Patch::Apply(cfg(json!({"a": "9"}))),
        )
        .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"alice\"") && err.message.contains(".data.a"),
        "{}",
        err.message
    );
    // Applying the same value is shared ownership, not a conflict.
    cms.patch(
        "app",
        &PatchParams::apply("bob"),
        &Patch::Apply(cfg(json!({"b": "2"}))),
    )
    .await
    .unwrap();
    // Forced, ownership of .data.a moves to Bob.
    let forced = cms
        .patch(
            "app",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(cfg(json!({"a": "9", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");
    // Alice drops both fields: a is Bob's, b is shared, so both stay.
    let after = cms
        .patch("app", &alice, &Patch::Apply(cfg(json!({}))))
        .await
        .unwrap();
    assert_eq!(after.data.as_ref().unwrap().len(), 2);
    // Bob drops b, which now nobody else owns: it goes.
    let after = cms
        .patch(
            "app",
            &PatchParams::apply("bob"),
            &Patch::Apply(cfg(json!({"a": "9"}))),
        )
        .await
        .unwrap();
    assert_eq!(after.data.unwrap().into_keys().collect::<Vec<_>>(), ["a"]);
}

#[tokio::test]
async fn server_side_apply_merges_containers_by_name() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let spec = |containers: serde_json::Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}},
        })
    };
    deploys
        .patch(
            "web",
            &PatchParams::apply("base"),
            &Patch::Apply(spec(json!([{"name": "app", "image": "nginx"}]))),
        )
        .await
        .unwrap();
    let sidecar = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}},
    });
    let merged = deploys
        .patch("web", &PatchParams::apply("mesh"), &Patch::Apply(sidecar))
        .await
        .unwrap();
    let names: Vec<String> = merged
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["app", "proxy"]);
    let base_fields = merged
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("base"))
        .unwrap();
    let tree = serde_json::to_value(base_fields.fields_v1.unwrap()).unwrap();
    assert!(
        tree["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"]
            .is_object(),
        "{tree}"
    );
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let result = secrets
        .create(&pp, &secret("dry", json!({})))
        .await
        .unwrap();
    assert_eq!(result.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api_error(secrets.get("dry").await).code, 404);
    let mut apply = PatchParams::apply("me");
    apply.dry_run = true;
    let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dry2"}});
    secrets
        .patch("dry2", &apply, &Patch::Apply(body))
        .await
        .unwrap();
    assert_eq!(api_error(secrets.get("dry2").await).code, 404);
    secrets
        .create(&PostParams::default(), &secret("real", json!({})))
        .await
        .unwrap();
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    secrets.delete("real", &dp).await.unwrap();
    assert!(secrets.get("real").await.is_ok());
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    with_namespace(&client, "team").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    secrets
        .create(&PostParams::default(), &secret("s", json!({})))
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let uid = namespaces.get("team").await.unwrap().metadata.uid.unwrap();
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    await_condition(namespaces.clone(), "team", conditions::is_deleted(&uid))
        .await
        .unwrap();
    assert!(!ts
        .sandbox()
        .inventory()
        .iter()
        .any(|e| e.namespace.as_deref() == Some("team")));
}

#[tokio::test]
async fn new_namespaces_get_default_service_account_and_root_ca() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    with_namespace(&client, "apps").await;
    Api::<ServiceAccount>::namespaced(client.clone(), "apps")
        .get("default")
        .await
        .unwrap();
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "apps")
        .get("kube-root-ca.crt")
        .await
        .unwrap();
    assert_eq!(
        cm.data.unwrap()["ca.crt"],
        ts.sandbox().cluster("c1").unwrap().ca_pem()
    );
}

#[tokio::test]
async fn invalid_names_and_secret_type_changes_are_422() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let err = api_error(
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns("Bad_Name"))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let causes = err.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");
    let svc: Service = serde_json::from_value(
        // kube-apiserver v1.36 takes RFC 1123 labels ("1svc" included); an underscore is not one.
        json!({"metadata": {"name": "svc_1"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    let err = api_error(
        Api::<Service>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &svc)
            .await,
    );
    assert_eq!(err.code, 422);

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let labelled: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "l", "labels": {"ok": "bad value!"}}}))
            .unwrap();
    let err = api_error(cms.create(&PostParams::default(), &labelled).await);
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("metadata.labels: Invalid value: \"bad value!\""),
        "{}",
        err.message
    );
    let annotated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a", "annotations": {"bad key": "x"}}}))
            .unwrap();
    assert_eq!(
        api_error(cms.create(&PostParams::default(), &annotated).await).code,
        422
    );
    let fine: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "f", "labels": {"app.kubernetes.io/name": "x_y.z", "empty": ""}}})).unwrap();
    cms.create(&PostParams::default(), &fine)
        .await
        .expect("valid labels");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    secrets
        .create(&PostParams::default(), &secret("s", json!({})))
        .await
        .unwrap();
    let err = api_error(
        secrets
            .patch(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"type": "kubernetes.io/tls"})),
            )
            .await,
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("field is immutable"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn status_is_a_subresource() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    // kube-apiserver v1.36 requires ipMode beside an ingress ip.
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.9.9", "ipMode": "VIP"}]}}, "spec": {"ports": [{"port": 81}]}});
    let main = svcs
        .patch("s", &PatchParams::default(), &Patch::Merge(status.clone()))
        .await
        .unwrap();
    assert!(
        main.status
            .unwrap()
            .load_balancer
            .unwrap()
            .ingress
            .is_none(),
        "main resource ignores status"
    );
    let via_status = svcs
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status["status"], "spec": {"ports": [{"port": 99}]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        via_status
            .status
            .unwrap()
            .load_balancer
            .unwrap()
            .ingress
            .unwrap()[0]
            .ip
            .as_deref(),
        Some("127.0.9.9")
    );
    assert_eq!(
        via_status.spec.unwrap().ports.unwrap()[0].port,
        81,
        "status writes leave spec alone"
    );
}

#[tokio::test]
async fn watch_streams_events_and_waits_work() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().labels("w=1").timeout(20), &rv)
            .await
            .unwrap(),
    );
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "ignored"}})).unwrap(),
    )
    .await
    .unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "seen", "labels": {"w": "1"}}}))
            .unwrap(),
    )
    .await
    .unwrap();
    cms.delete("seen", &DeleteParams::default()).await.unwrap();
    use futures::StreamExt;
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            WatchEvent::Added(o) => events.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => {
                events.push(format!("DELETED {}", o.metadata.name.unwrap()));
                break;
            }
            WatchEvent::Modified(o) => {
                events.push(format!("MODIFIED {}", o.metadata.name.unwrap()));
            }
            _ => {}
        }
    }
    assert_eq!(events, ["ADDED seen", "DELETED seen"]);

    // kube's runtime waits: a Deployment becomes Available through the controller.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
    deploys
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(d))
        .await
        .unwrap();
    let done = await_condition(
        deploys.clone(),
        "web",
        conditions::is_deployment_completed(),
    )
    .await
    .unwrap()
    .unwrap();
    let status = done.status.unwrap();
    assert_eq!(
        (
            status.ready_replicas,
            status.available_replicas,
            status.updated_replicas
        ),
        (Some(3), Some(3), Some(3))
    );
    assert!(status
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")));
}

#[tokio::test]
async fn load_balancers_get_unrouted_ips_or_hostnames() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let lb = |name: &str| -> Service {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "ports": [{"port": 15012}]}})).unwrap()
    };
    let has_ingress = |svc: Option<&Service>| {
        svc.and_then(|s| s.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref())
            .is_some_and(|i| !i.is_empty())
    };
    svcs.create(&PostParams::default(), &lb("east"))
        .await
        .unwrap();
    let svc = await_condition(svcs.clone(), "east", has_ingress)
        .await
        .unwrap()
        .unwrap();
    let ip = svc.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
        .ip
        .clone()
        .unwrap();
    assert!(ip.starts_with("198.18."), "{ip}");

    // Back to ClusterIP: the address is released.
    svcs.patch(
        "east",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
    )
    .await
    .unwrap();
    await_condition(svcs.clone(), "east", |s: Option<&Service>| !has_ingress(s))
        .await
        .unwrap();

    ts.sandbox().cluster("c1").unwrap().set_lb_hostname(true);
    svcs.create(&PostParams::default(), &lb("west"))
        .await
        .unwrap();
    let svc = await_condition(svcs.clone(), "west", has_ingress)
        .await
        .unwrap()
        .unwrap();
    let ingress = &svc.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0];
    assert!(ingress.ip.is_none() && ingress.hostname.is_some());
}

fn widget_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
            ]}
    })
}

#[tokio::test]
async fn crds_add_kinds_and_custom_resources_work() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut w = DynamicObject::new("w1", &ar);
    w.data = json!({"spec": {"size": 3}});
    assert_eq!(
        api_error(widgets.create(&PostParams::default(), &w).await).code,
        404,
        "no CRD yet"
    );

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("t"),
        &Patch::Apply(widget_crd()),
    )
    .await
    .unwrap();
    await_condition(
        crds.clone(),
        "widgets.example.com",
        conditions::is_crd_established(),
    )
    .await
    .unwrap();
    let crd = crds.get("widgets.example.com").await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(conditions
        .iter()
        .any(|c| c.type_ == "NamesAccepted" && c.status == "True"));

    let (_, v1beta1) = raw(&client, "GET", "/apis/example.com/v1beta1", None, "").await;
    assert_eq!(v1beta1["resources"][0]["kind"], "Widget");
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(widgets.get("w1").await.unwrap().data["spec"]["size"], 3);

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(widgets.get("w1").await).code, 404);
    let (code, _) = raw(&client, "GET", "/apis/example.com/v1", None, "").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn service_account_tokens_authenticate_only_on_their_cluster() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1", "c2"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let (code, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/default/token",
        Some("application/json"),
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}}).to_string(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"]["expirationSeconds"], 7200);
    let token = body["status"]["token"].as_str().unwrap().to_string();
    let expiry = time::OffsetDateTime::parse(
        body["status"]["expirationTimestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let seconds = (expiry - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((7000..=7200).contains(&seconds), "{seconds}");

    let as_sa = support::client_with_token(ts.sandbox(), "c1", &token).await;
    // Authenticated, but RBAC grants a ServiceAccount nothing until a binding does.
    let denied = api_error(
        Api::<Namespace>::all(as_sa.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((denied.code, denied.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denied.message,
        "namespaces is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    grant_namespace_reading(&client, "default", "default").await;
    Api::<Namespace>::all(as_sa.clone())
        .list(&ListParams::default())
        .await
        .expect("token accepted");
    let secret_read = api_error(Api::<Secret>::namespaced(as_sa, "default").get("x").await);
    assert_eq!(secret_read.code, 403, "only what the role grants");
    let elsewhere = support::client_with_token(ts.sandbox(), "c2", &token).await;
    assert_eq!(
        api_error(
            Api::<Namespace>::all(elsewhere)
                .list(&ListParams::default())
                .await
        )
        .code,
        401
    );

    // Legacy token Secret filled in by the token controller.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "sa-token", "annotations": {"kubernetes.io/service-account.name": "default"}}, "type": "kubernetes.io/service-account-token"})).unwrap();
    secrets.create(&PostParams::default(), &s).await.unwrap();
    let filled = await_condition(secrets.clone(), "sa-token", |s: Option<&Secret>| {
        s.and_then(|s| s.data.as_ref())
            .is_some_and(|d| d.contains_key("token"))
    })
    .await
    .unwrap()
    .unwrap();
    let data = filled.data.unwrap();
    assert_eq!(
        String::from_utf8(data["namespace"].0.clone()).unwrap(),
        "default"
    );
    assert_eq!(
        String::from_utf8(data["ca.crt"].0.clone()).unwrap(),
        ts.sandbox().cluster("c1").unwrap().ca_pem()
    );
    let legacy = String::from_utf8(data["token"].0.clone()).unwrap();
    let as_legacy = support::client_with_token(ts.sandbox(), "c1", &legacy).await;
    Api::<Namespace>::all(as_legacy.clone())
        .list(&ListParams::default())
        .await
        .expect("legacy token accepted");

    // Tokens die with their ServiceAccount.
    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(
            Api::<Namespace>::all(as_legacy)
                .list(&ListParams::default())
                .await
        )
        .code,
        401
    );
}

#[tokio::test]
async fn watch_honours_field_selectors_timeouts_and_bookmarks() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    // watch=1 without a resourceVersion starts with the current objects and ends at timeoutSeconds.
    let (code, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dkube-root-ca.crt",
        None,
        "",
    )
    .await;
    assert_eq!(code, 200);
    let text = match body.get("text") {
        Some(t) => t.as_str().unwrap().to_string(),
        None => body.to_string(),
    };
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "kube-root-ca.crt");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(30), &rv)
            .await
            .unwrap(),
    );
    use futures::StreamExt;
    match stream.next().await.expect("stream open").unwrap() {
        WatchEvent::Bookmark(b) => assert!(
            b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
        ),
        other => panic!("nothing changed, yet got {other:?}"),
    }

    // kube's watcher (list then watch) sees objects appear.
    use kube::runtime::{watcher, WatchStreamExt};
    let mut applied = Box::pin(
        watcher(
            cms.clone(),
            watcher::Config::default().labels("via=watcher"),
        )
        .applied_objects(),
    );
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "w", "labels": {"via": "watcher"}}}))
            .unwrap(),
    )
    .await
    .unwrap();
    let seen = applied.next().await.unwrap().unwrap();
    assert_eq!(seen.metadata.name.as_deref(), Some("w"));
}

#[tokio::test]
async fn unsupported_bodies_are_415() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    // A protobuf body of a kind without a protobuf schema here.
    let (code, body) = raw(
        &client,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        Some("application/vnd.kubernetes.protobuf"),
        "k8s\u{0}",
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(body["reason"], "UnsupportedMediaType");
    // Strategic merge patch is for built-in kinds only, as on a real server.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("t"),
        &Patch::Apply(widget_crd()),
    )
    .await
    .unwrap();
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    widgets
        .create(&PostParams::default(), &DynamicObject::new("w", &ar))
        .await
        .unwrap();
    let err = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"labels": {"a": "b"}}})),
            )
            .await,
    );
    assert_eq!(err.code, 415);
    let (code, _) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        Some("text/plain"),
        "x",
    )
    .await;
    assert_eq!(code, 415);
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "held", "finalizers": ["example.com/cleanup"]}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let terminating = cms.get("held").await.expect("still there while finalized");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    let uid = terminating.metadata.uid.clone().unwrap();
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    await_condition(cms.clone(), "held", conditions::is_deleted(&uid))
        .await
        .unwrap();
    assert_eq!(api_error(cms.get("held").await).code, 404);
}

#[tokio::test]
async fn apply_conflicts_with_an_update_name_the_version_and_time() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    cms.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "1"}})).unwrap(),
    )
    .await
    .unwrap();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2"}});
    let err = api_error(
        cms.patch("c", &PatchParams::apply("bob"), &Patch::Apply(body))
            .await,
    );
    assert!(
        err.message
            .starts_with("Apply failed with 1 conflict: conflict with \"creator\" using v1 at ")
            && err.message.ends_with(": .data.k"),
        "{}",
        err.message
    );
    let causes = err.details.unwrap().causes;
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".data.k")
    );
}

#[tokio::test]
async fn roles_grant_only_in_their_namespace_and_to_named_objects() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    with_namespace(&client, "team").await;
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "cm-reader", "namespace": "team"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["kube-root-ca.crt"]}]});
    Api::<Role>::namespaced(client.clone(), "team")
        .patch("cm-reader", &PatchParams::apply("t"), &Patch::Apply(role))
        .await
        .unwrap();
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "cm-reader", "namespace": "team"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "team"}]});
    Api::<RoleBinding>::namespaced(client.clone(), "team")
        .patch(
            "cm-reader",
            &PatchParams::apply("t"),
            &Patch::Apply(binding),
        )
        .await
        .unwrap();
    let (_, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/team/serviceaccounts/default/token",
        Some("application/json"),
        "{}",
    )
    .await;
    let token = body["status"]["token"].as_str().unwrap().to_string();
    let sa = support::client_with_token(ts.sandbox(), "c1", &token).await;
    Api::<ConfigMap>::namespaced(sa.clone(), "team")
        .get("kube-root-ca.crt")
        .await
        .expect("granted by the RoleBinding");
    let listing = api_error(
        Api::<ConfigMap>::namespaced(sa.clone(), "team")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(listing.code, 403);
    let other_ns = api_error(
        Api::<ConfigMap>::namespaced(sa, "default")
            .get("kube-root-ca.crt")
            .await,
    );
    assert_eq!(other_ns.code, 403);
    assert!(
        other_ns.message.contains("in the namespace \"default\""),
        "{}",
        other_ns.message
    );
}

#[tokio::test]
async fn rbac_can_be_switched_off() {
    let ts = Fixture::new()
        .sandbox_options(runner_sandbox::SandboxOptions {
            clusters: vec!["c1".into()],
            rbac: false,
            ..Default::default()
        })
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let (_, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/default/token",
        Some("application/json"),
        "{}",
    )
    .await;
    let sa = support::client_with_token(
        ts.sandbox(),
        "c1",
        body["status"]["token"].as_str().unwrap(),
    )
    .await;
    Api::<Secret>::namespaced(sa, "default")
        .list(&ListParams::default())
        .await
        .expect("no RBAC checks");
}

#[tokio::test]
async fn large_objects_up_to_the_real_body_limit_are_accepted() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let big = "x".repeat(2_500_000);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "big"}, "data": {"blob": big}}))
            .unwrap();
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("2.5 MB body accepted");
    let too_big = "x".repeat(3_300_000);
    let (code, _) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        &json!({"metadata": {"name": "huge"}, "data": {"blob": too_big}}).to_string(),
    )
    .await;
    assert_eq!(code, 413);
}

#[tokio::test]
async fn aggregated_discovery_matches_the_legacy_documents() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("t"),
        &Patch::Apply(widget_crd()),
    )
    .await
    .unwrap();
    let kinds = |d: &kube::Discovery| {
        let mut out: Vec<String> = d
            .groups()
            .flat_map(kube::discovery::ApiGroup::recommended_resources)
            .map(|(ar, caps)| format!("{}/{} {:?}", ar.api_version, ar.kind, caps.scope))
            .collect();
        out.sort();
        out
    };
    let legacy = kube::Discovery::new(client.clone()).run().await.unwrap();
    let aggregated = kube::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert_eq!(kinds(&legacy), kinds(&aggregated));
    assert!(kinds(&aggregated).contains(&"example.com/v1/Widget Namespaced".to_string()));

    let request = http::Request::get("/api")
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(kube::client::Body::empty())
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect_bytes().await.unwrap()).unwrap();
    let sa = body["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "serviceaccounts")
        .unwrap()
        .clone();
    assert_eq!(sa["subresources"][0]["subresource"], "token");
    assert_eq!(
        sa["subresources"][0]["responseKind"]["kind"],
        "TokenRequest"
    );
}
