//! The subset of JSONPath that CRD printer columns use: `.a.b`, `[N]`, and `[?(@.k=="v")]`.
use serde_json::Value;

enum Step {
    Field(String),
    Index(usize),
    Filter(String, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (key, value) = filter.split_once("==")?;
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Filter(key.trim().to_string(), value.to_string()));
            } else {
                steps.push(Step::Index(inner.trim().parse().ok()?));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The first value `path` selects in `obj`.
pub(crate) fn first<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for step in parse(path)? {
        cur = match step {
            Step::Field(f) => cur.get(&f)?,
            Step::Index(i) => cur.get(i)?,
            Step::Filter(k, v) => cur
                .as_array()?
                .iter()
                .find(|item| item.get(&k).and_then(Value::as_str) == Some(v.as_str()))?,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_indices_and_filters() {
        let obj = json!({"spec": {"size": 3}, "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(first(&obj, ".spec.size"), Some(&json!(3)));
        assert_eq!(first(&obj, ".status.conditions[0].type"), Some(&json!("A")));
        assert_eq!(
            first(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(first(&obj, ".spec.missing"), None);
    }
}
