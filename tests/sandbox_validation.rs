//! What the sandbox refuses, warns about and fills in, as kube-apiserver v1.36 does (each answer
//! here was checked against the real server; the differential suite keeps checking it when
//! KUBEBUILDER_ASSETS is set). These run without a real control plane.
use crate::common::backend::Backend;
use crate::common::sandbox as support;
use crate::common::Fixture;

use serde_json::{json, Value};
use support::client_for;

struct Answer {
    code: u16,
    body: Value,
    warnings: Vec<String>,
    content_type: String,
}

impl Answer {
    fn causes(&self) -> Vec<(String, String)> {
        self.body["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["field"].as_str().unwrap_or("").to_string(),
                    c["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

async fn send(
    client: &kube::Client,
    method: &str,
    uri: &str,
    content_type: &str,
    accept: Option<&str>,
    body: &Value,
) -> Answer {
    let mut request = http::Request::builder().method(method).uri(uri);
    if !body.is_null() {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let response = client
        .send(request.body(kube::client::Body::from(bytes)).unwrap())
        .await
        .unwrap();
    let code = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response.into_body().collect_bytes().await.unwrap();
    Answer {
        code,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        warnings,
        content_type,
    }
}

async fn post(client: &kube::Client, uri: &str, body: Value) -> Answer {
    send(client, "POST", uri, "application/json", None, &body).await
}

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn a_wrong_type_is_a_decoding_error() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let answer = post(
        &client,
        DEPLOYMENTS,
        deployment(json!({"replicas": "two", "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}})),
    )
    .await;
    assert_eq!(
        (answer.code, answer.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    assert_eq!(
        answer.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    for (data, found) in [(json!(3), "number"), (json!(true), "bool")] {
        let answer = post(
            &client,
            CONFIGMAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": data}}),
        )
        .await;
        assert_eq!(answer.code, 400);
        assert_eq!(
            answer.body["message"],
            format!("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal {found} into Go struct field ConfigMap.data of type string")
        );
    }
    let quota = post(
        &client,
        "/api/v1/namespaces/default/resourcequotas",
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "lots"}}}),
    )
    .await;
    assert_eq!(quota.code, 400);
    assert_eq!(
        quota.body["message"],
        "ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    let hook = post(
        &client,
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": "m"},
            "webhooks": [{"name": "a.example.com", "clientConfig": {"url": "https://x.example.com", "caBundle": "not base64!"}, "sideEffects": "None", "admissionReviewVersions": ["v1"]}]}),
    )
    .await;
    assert_eq!(hook.code, 400);
    assert_eq!(
        hook.body["message"],
        "MutatingWebhookConfiguration in version \"v1\" cannot be handled as a MutatingWebhookConfiguration: illegal base64 data at input byte 3"
    );
}

#[tokio::test]
async fn unknown_and_duplicate_fields_warn_or_fail_under_strict() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "bogus": 1}, "data": {"k": "v"}, "spec": {}});
    let warned = post(&client, CONFIGMAPS, body.clone()).await;
    assert_eq!(warned.code, 201);
    assert_eq!(
        warned.warnings,
        [
            "299 - \"unknown field \\\"metadata.bogus\\\"\"",
            "299 - \"unknown field \\\"spec\\\"\""
        ]
    );
    assert!(
        warned.body.get("spec").is_none(),
        "unknown fields are dropped"
    );
    let strict = post(
        &client,
        &format!("{CONFIGMAPS}?fieldValidation=Strict"),
        body,
    )
    .await;
    assert_eq!(strict.code, 400);
    assert_eq!(
        strict.body["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.bogus\", unknown field \"spec\""
    );
    let raw = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"k":"v","k":"w"}}"#;
    let request = http::Request::post(CONFIGMAPS)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(raw.as_bytes().to_vec()))
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        response.headers()["warning"],
        "299 - \"duplicate field \\\"data.k\\\"\""
    );
    let loose = post(
        &client,
        &format!("{CONFIGMAPS}?fieldValidation=Loose"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e"}}),
    )
    .await;
    assert_eq!(loose.code, 422);
    assert_eq!(
        loose.body["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Loose\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
    );
}

#[tokio::test]
async fn deployments_and_services_are_validated() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let answer = post(
        &client,
        DEPLOYMENTS,
        deployment(json!({"selector": {"matchLabels": {"app": "other"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}})),
    )
    .await;
    assert_eq!(
        (answer.code, answer.body["reason"].as_str()),
        (422, Some("Invalid"))
    );
    assert_eq!(
        answer.causes(),
        [
            (
                "spec.template.metadata.labels".to_string(),
                "Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
                    .to_string()
            ),
            (
                "spec.template.spec.containers".to_string(),
                "Required value".to_string()
            ),
        ]
    );
    let service = post(
        &client,
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 70000}, {"name": "a", "port": 80}, {"name": "b", "port": 80}]}}),
    )
    .await;
    assert_eq!(service.code, 422);
    let fields: Vec<String> = service.causes().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "spec.ports[0].name",
            "spec.ports[0].port",
            "spec.ports[0].targetPort",
            "spec.ports[2]"
        ]
    );
    let hook = post(
        &client,
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "v"},
            "webhooks": [{"name": "short", "clientConfig": {"url": "https://x.example.com"}}]}),
    )
    .await;
    assert_eq!(hook.code, 422);
    assert_eq!(
        hook.causes(),
        [
            (
                "webhooks[0].name".to_string(),
                "Invalid value: \"short\": should be a domain with at least three segments separated by dots".to_string()
            ),
            (
                "webhooks[0].sideEffects".to_string(),
                "Required value: must specify one of None, NoneOnDryRun".to_string()
            ),
            (
                "webhooks[0].admissionReviewVersions".to_string(),
                "Required value: must specify one of v1, v1beta1".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn load_balancers_and_node_port_services_get_node_ports() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let lb = post(
        &client,
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gw"},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 443}]}}),
    )
    .await;
    assert_eq!(lb.code, 201);
    let ports: Vec<i64> = lb.body["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nodePort"].as_i64().unwrap())
        .collect();
    assert!(
        ports.iter().all(|p| (30000..=32767).contains(p)),
        "{ports:?}"
    );
    assert_ne!(ports[0], ports[1]);
    assert_eq!(lb.body["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb.body["spec"]["externalTrafficPolicy"], "Cluster");
    let cluster_ip = post(
        &client,
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "internal"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    assert!(cluster_ip.body["spec"]["ports"][0]
        .get("nodePort")
        .is_none());
}

#[tokio::test]
async fn custom_resources_follow_their_structural_schema() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let crd = post(
        &client,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "mode": {"type": "string", "default": "fast"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}]}}),
    )
    .await;
    assert_eq!(crd.code, 201);
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let widget = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let wrong = post(
        &client,
        widgets,
        widget(json!({"size": "big", "port": true})),
    )
    .await;
    assert_eq!(wrong.code, 422);
    assert_eq!(
        wrong.causes(),
        [
            (
                "spec.size".to_string(),
                "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
                    .to_string()
            ),
            (
                "spec.port".to_string(),
                "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"".to_string()
            ),
        ]
    );
    let strict = post(
        &client,
        &format!("{widgets}?fieldValidation=Strict"),
        widget(json!({"size": 2, "bogus": 1})),
    )
    .await;
    assert_eq!(strict.code, 400);
    assert_eq!(
        strict.body["message"],
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.bogus\""
    );
    let created = post(
        &client,
        widgets,
        widget(json!({"size": 2, "port": "http", "bogus": 1, "extra": {"a": {"b": 1}}})),
    )
    .await;
    assert_eq!(created.code, 201);
    assert_eq!(
        created.warnings,
        ["299 - \"unknown field \\\"spec.bogus\\\"\""]
    );
    assert_eq!(
        created.body["spec"],
        json!({"size": 2, "port": "http", "extra": {"a": {"b": 1}}, "mode": "fast"})
    );
}

#[tokio::test]
async fn a_namespace_being_deleted_refuses_new_content() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    post(
        &client,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
    )
    .await;
    let held = post(
        &client,
        "/api/v1/namespaces/doomed/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .await;
    assert_eq!(held.code, 201);
    let deleted = send(
        &client,
        "DELETE",
        "/api/v1/namespaces/doomed",
        "",
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(deleted.code, 200);
    assert_eq!(deleted.body["status"]["phase"], "Terminating");
    let refused = post(
        &client,
        "/api/v1/namespaces/doomed/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}),
    )
    .await;
    assert_eq!(
        (refused.code, refused.body["reason"].as_str()),
        (403, Some("Forbidden"))
    );
    assert_eq!(
        refused.body["message"],
        "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    assert_eq!(
        refused.causes(),
        [(
            "metadata.namespace".to_string(),
            "namespace doomed is being terminated".to_string()
        )]
    );
    // Releasing the finalizer lets the namespace controller finish.
    let released = send(
        &client,
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        "application/merge-patch+json",
        None,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert_eq!(released.code, 200);
    kube::runtime::wait::await_condition(
        kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()),
        "doomed",
        kube::runtime::wait::conditions::is_deleted(
            deleted.body["metadata"]["uid"].as_str().unwrap(),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn json_is_answered_when_the_client_accepts_it() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    let both = send(
        &client,
        "GET",
        "/api/v1/namespaces/default/secrets",
        "",
        Some("application/vnd.kubernetes.protobuf, application/json"),
        &Value::Null,
    )
    .await;
    assert_eq!(
        (both.code, both.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(both.body["kind"], "SecretList");
    let only = send(
        &client,
        "GET",
        "/api/v1/namespaces/default/secrets",
        "",
        Some("application/vnd.kubernetes.protobuf"),
        &Value::Null,
    )
    .await;
    assert_eq!(
        (only.code, only.body["reason"].as_str()),
        (406, Some("NotAcceptable"))
    );
}

#[tokio::test]
async fn lists_are_paged_with_limit_and_continue() {
    let ts = Fixture::new()
        .clusters(Backend::Sandbox, &["c1"])
        .start()
        .await;
    let client = client_for(ts.sandbox(), "c1").await;
    for name in ["a", "b", "c"] {
        post(
            &client,
            CONFIGMAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
        )
        .await;
    }
    let names = |page: &Answer| -> Vec<String> {
        page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let first = send(
        &client,
        "GET",
        &format!("{CONFIGMAPS}?limit=2"),
        "",
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.body["metadata"]["remainingItemCount"], 2);
    assert!(first.body["items"][0].get("kind").is_none());
    let token = first.body["metadata"]["continue"].as_str().unwrap();
    let second = send(
        &client,
        "GET",
        &format!("{CONFIGMAPS}?limit=2&continue={token}"),
        "",
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(names(&second), ["c", "kube-root-ca.crt"]);
    assert!(second.body["metadata"].get("continue").is_none());
    let bad = send(
        &client,
        "GET",
        &format!("{CONFIGMAPS}?limit=1&continue=garbage"),
        "",
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(
        (bad.code, bad.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );
}
