//! apps/v1 Deployments: replicas, the selector against the template's labels, the pod template.
use super::pod;
use crate::selectors::LabelSelector;
use crate::status::FieldError;
use serde_json::Value;

pub(super) fn validate(obj: &Value, causes: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if let Some(replicas) = spec["replicas"].as_i64().filter(|r| *r < 0) {
        causes.push(FieldError::invalid_value(
            "spec.replicas",
            &Value::from(replicas),
            "must be greater than or equal to 0",
        ));
    }
    let labels = &spec["template"]["metadata"]["labels"];
    match &spec["selector"] {
        Value::Null => causes.push(FieldError::required("spec.selector")),
        selector if is_empty_selector(selector) => causes.push(FieldError::invalid_value(
            "spec.selector",
            selector,
            "empty selector is invalid for deployment",
        )),
        selector => {
            if !LabelSelector::from_object(selector).matches_labels(labels) {
                causes.push(FieldError::invalid_value(
                    "spec.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    if spec["selector"].is_null() && !labels.is_null() {
        causes.push(FieldError::invalid_value(
            "spec.template.metadata.labels",
            labels,
            "`selector` does not match template `labels`",
        ));
    }
    pod::spec(
        &spec["template"]["spec"],
        "spec.template.spec",
        true,
        causes,
    );
}

fn is_empty_selector(selector: &Value) -> bool {
    let empty = |v: &Value| {
        v.as_object().is_none_or(serde_json::Map::is_empty) && !v.is_array()
            || v.as_array().is_some_and(std::vec::Vec::is_empty)
    };
    empty(&selector["matchLabels"]) && empty(&selector["matchExpressions"])
}
