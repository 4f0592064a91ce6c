//! Decoding of the Kubernetes protobuf envelope for the built-in kinds kubectl creates through typed
//! clients (`kubectl create ns|configmap|secret|serviceaccount|token|deployment|service|role|
//! rolebinding|clusterrole|clusterrolebinding`), which send
//! protobuf bodies. Fields outside these schemas are skipped.
//! Field numbers follow the upstream `generated.proto` files.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    Repeated(&'static Kind),
    MapStr,
    MapBytes,
    /// `intstr.IntOrString`: type 0 = int (field 2), 1 = string (field 3).
    IntOrString,
}

type Field = (u64, &'static str, Kind);

const OWNER_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];
const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (8, "creationTimestamp", Kind::Time),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (13, "ownerReferences", Kind::Repeated(&Kind::Msg(OWNER_REF))),
    (14, "finalizers", Kind::Repeated(&Kind::Str)),
];
const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[(1, "finalizers", Kind::Repeated(&Kind::Str))]),
    ),
];
const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];
const SECRET: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];
const OBJECT_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
];
const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "secrets", Kind::Repeated(&Kind::Msg(OBJECT_REF))),
    (
        3,
        "imagePullSecrets",
        Kind::Repeated(&Kind::Msg(&[(1, "name", Kind::Str)])),
    ),
    (4, "automountServiceAccountToken", Kind::Bool),
];
const TOKEN_REQUEST: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "audiences", Kind::Repeated(&Kind::Str)),
            (4, "expirationSeconds", Kind::Int),
            (
                3,
                "boundObjectRef",
                Kind::Msg(&[
                    (1, "kind", Kind::Str),
                    (2, "apiVersion", Kind::Str),
                    (3, "name", Kind::Str),
                    (4, "uid", Kind::Str),
                ]),
            ),
        ]),
    ),
];

const LABEL_SELECTOR: &[Field] = &[(1, "matchLabels", Kind::MapStr)];
const CONTAINER_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "hostPort", Kind::Int),
    (3, "containerPort", Kind::Int),
    (4, "protocol", Kind::Str),
];
const ENV_VAR: &[Field] = &[(1, "name", Kind::Str), (2, "value", Kind::Str)];
const CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::Repeated(&Kind::Str)),
    (4, "args", Kind::Repeated(&Kind::Str)),
    (5, "workingDir", Kind::Str),
    (6, "ports", Kind::Repeated(&Kind::Msg(CONTAINER_PORT))),
    (7, "env", Kind::Repeated(&Kind::Msg(ENV_VAR))),
    (14, "imagePullPolicy", Kind::Str),
];
const POD_SPEC: &[Field] = &[
    (2, "containers", Kind::Repeated(&Kind::Msg(CONTAINER))),
    (3, "restartPolicy", Kind::Str),
    (7, "nodeSelector", Kind::MapStr),
    (8, "serviceAccountName", Kind::Str),
    (20, "initContainers", Kind::Repeated(&Kind::Msg(CONTAINER))),
];
const POD_TEMPLATE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(POD_SPEC)),
];
const DEPLOYMENT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "replicas", Kind::Int),
            (2, "selector", Kind::Msg(LABEL_SELECTOR)),
            (3, "template", Kind::Msg(POD_TEMPLATE)),
        ]),
    ),
];
const SERVICE_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "protocol", Kind::Str),
    (3, "port", Kind::Int),
    (4, "targetPort", Kind::IntOrString),
    (5, "nodePort", Kind::Int),
];
const SERVICE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "ports", Kind::Repeated(&Kind::Msg(SERVICE_PORT))),
            (2, "selector", Kind::MapStr),
            (3, "clusterIP", Kind::Str),
            (4, "type", Kind::Str),
        ]),
    ),
];

const POLICY_RULE: &[Field] = &[
    (1, "verbs", Kind::Repeated(&Kind::Str)),
    (2, "apiGroups", Kind::Repeated(&Kind::Str)),
    (3, "resources", Kind::Repeated(&Kind::Str)),
    (4, "resourceNames", Kind::Repeated(&Kind::Str)),
    (5, "nonResourceURLs", Kind::Repeated(&Kind::Str)),
];
const ROLE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "rules", Kind::Repeated(&Kind::Msg(POLICY_RULE))),
];
const SUBJECT: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "apiGroup", Kind::Str),
    (3, "name", Kind::Str),
    (4, "namespace", Kind::Str),
];
const ROLE_BINDING: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "subjects", Kind::Repeated(&Kind::Msg(SUBJECT))),
    (
        3,
        "roleRef",
        Kind::Msg(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first()?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(head)
    }

    /// Next field: (number, varint value or bytes).
    fn field(&mut self) -> Option<(u64, Result<u64, &'a [u8]>)> {
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => Ok(self.varint()?),
            2 => Err(self.bytes()?),
            1 => {
                self.buf = self.buf.get(8..)?;
                Ok(0)
            }
            5 => {
                self.buf = self.buf.get(4..)?;
                Ok(0)
            }
            _ => return None,
        };
        Some((tag >> 3, value))
    }
}

fn scalar(kind: Kind, raw: Result<u64, &[u8]>) -> Option<Value> {
    Some(match (kind, raw) {
        (Kind::Str, Err(b)) => Value::String(String::from_utf8(b.to_vec()).ok()?),
        (Kind::Bytes, Err(b)) => Value::String(STANDARD.encode(b)),
        (Kind::Int, Ok(v)) => json!(v as i64),
        (Kind::Bool, Ok(v)) => json!(v != 0),
        (Kind::Time, Err(b)) => {
            let mut r = Reader { buf: b };
            let mut seconds = 0i64;
            while !r.buf.is_empty() {
                if let (1, Ok(v)) = r.field()? {
                    seconds = v as i64;
                }
            }
            let t = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
            json!(t
                .format(&time::format_description::well_known::Rfc3339)
                .ok()?)
        }
        (Kind::Msg(fields), Err(b)) => message(fields, b)?,
        (Kind::IntOrString, Err(b)) => {
            let mut r = Reader { buf: b };
            let (mut kind, mut int, mut text) = (0, 0i64, String::new());
            while !r.buf.is_empty() {
                match r.field()? {
                    (1, Ok(v)) => kind = v,
                    (2, Ok(v)) => int = v as i64,
                    (3, Err(s)) => text = String::from_utf8(s.to_vec()).ok()?,
                    _ => {}
                }
            }
            if kind == 1 {
                json!(text)
            } else {
                json!(int)
            }
        }
        _ => return None,
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn message(fields: &[Field], buf: &[u8]) -> Option<Value> {
    let mut out = Map::new();
    let mut r = Reader { buf };
    while !r.buf.is_empty() {
        let (number, raw) = r.field()?;
        let Some(&(_, name, kind)) = fields.iter().find(|f| f.0 == number) else {
            continue;
        };
        match kind {
            Kind::Repeated(inner) => {
                let v = scalar(*inner, raw)?;
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut() {
                    items.push(v);
                }
            }
            Kind::MapStr | Kind::MapBytes => {
                let mut entry = Reader { buf: raw.err()? };
                let (mut key, mut value) = (String::new(), Value::String(String::new()));
                while !entry.buf.is_empty() {
                    match entry.field()? {
                        (1, Err(b)) => key = String::from_utf8(b.to_vec()).ok()?,
                        (2, raw) => {
                            let value_kind = if matches!(kind, Kind::MapStr) {
                                Kind::Str
                            } else {
                                Kind::Bytes
                            };
                            value = scalar(value_kind, raw)?;
                        }
                        _ => {}
                    }
                }
                let map = out.entry(name).or_insert_with(|| json!({}));
                map[key] = value;
            }
            _ => {
                let v = scalar(kind, raw)?;
                if !is_empty(&v) {
                    out.insert(name.to_string(), v);
                }
            }
        }
    }
    Some(Value::Object(out))
}

/// Decodes a protobuf request body to the JSON object it stands for, for the kinds listed above.
pub(crate) fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(MAGIC)?;
    let mut r = Reader { buf: envelope };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while !r.buf.is_empty() {
        match r.field()? {
            (1, Err(type_meta)) => {
                let mut t = Reader { buf: type_meta };
                while !t.buf.is_empty() {
                    match t.field()? {
                        (1, Err(b)) => api_version = String::from_utf8(b.to_vec()).ok()?,
                        (2, Err(b)) => kind = String::from_utf8(b.to_vec()).ok()?,
                        _ => {}
                    }
                }
            }
            (2, Err(b)) => raw = b,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("v1", "Service") => SERVICE,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => ROLE_BINDING,
        _ => return None,
    };
    let mut obj = message(schema, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kubectls_namespace_body() {
        // The body `kubectl create ns demo` sends.
        let body = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x1c\x0a\x14\x0a\x04demo\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
        let obj = decode(body).expect("decodes");
        assert_eq!(obj["metadata"]["name"], "demo");
        assert_eq!(obj["kind"], "Namespace");
        assert!(obj["metadata"].get("generation").is_none());
    }
}
