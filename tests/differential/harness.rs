//! Loading scenarios, sending each step to both servers, normalising and comparing the answers.
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "openapi.rs"]
mod openapi;
#[path = "real.rs"]
mod real;

/// One scenario: a short sequence of requests, run in a namespace of its own (`{ns}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    pub name: String,
    #[serde(default)]
    pub about: String,
    /// Create the scenario's namespace `{ns}` first (default); cluster-scoped scenarios use
    /// `{ns}` in their names instead.
    #[serde(default = "yes")]
    pub namespace: bool,
    pub steps: Vec<Step>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Step {
    /// `METHOD /path?query`; `{ns}` and saved values (`{name}`) are substituted.
    pub request: String,
    /// A body given as YAML, sent as JSON (or as the content type says).
    pub body: Option<serde_yaml::Value>,
    /// A body sent byte for byte (for duplicate fields, YAML quirks).
    pub raw: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// Send as the bearer token saved under this name instead of as the admin.
    pub token: Option<String>,
    /// Values to remember from this step's answer body: name to JSON pointer.
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    /// Aspects compared (code, reason, causes, warnings, contentType, object); default all.
    pub compare: Option<Vec<String>>,
    /// Repeat the request (up to 30 s) until it answers this code, on each server.
    pub until: Option<u16>,
}

impl Scenario {
    pub(crate) fn load_all(dir: &Path) -> Result<Vec<Scenario>, String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut all = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let mut some: Vec<Scenario> =
                serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            all.append(&mut some);
        }
        Ok(all)
    }
}

/// An entry of `known-differences.yaml`: differences at `path` (a prefix, e.g.
/// `object.metadata.managedFields`) in scenarios matching `scenario` (`*` is a wildcard).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Known {
    pub id: String,
    pub scenario: String,
    pub path: String,
    pub reason: String,
}

impl Known {
    pub(crate) fn load(path: &Path) -> Result<Vec<Known>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub(crate) fn matches_scenario(&self, name: &str) -> bool {
        glob(&self.scenario, name)
    }

    fn explains(&self, scenario: &str, d: &Difference) -> bool {
        self.matches_scenario(scenario)
            && (self.path.is_empty()
                || d.path == self.path
                || d.path.starts_with(&format!("{}.", self.path))
                || d.path.starts_with(&format!("{}[", self.path)))
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i) && glob(tail, &text[head.len() + i..])
                })
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Difference {
    pub path: String,
    pub sandbox: Value,
    pub real: Value,
}

/// What the comparison of one step found.
struct StepReport {
    scenario: String,
    about: String,
    step: usize,
    request: String,
    sandbox: Value,
    real: Value,
    differences: Vec<Difference>,
}

pub(crate) struct Outcome {
    scenarios: usize,
    steps: usize,
    reports: Vec<StepReport>,
    unexplained: Vec<(usize, Vec<Difference>)>,
    explained: usize,
    stale: Vec<String>,
    used: BTreeMap<String, usize>,
    /// Where the sandbox's embedded built-in schema differs from the real server's OpenAPI.
    schema_drift: Option<String>,
}

impl Outcome {
    pub(crate) fn passed(&self) -> bool {
        self.unexplained.is_empty() && self.stale.is_empty() && self.schema_drift.is_none()
    }

    pub(crate) fn summary(&self) -> String {
        let differences: usize = self.reports.iter().map(|r| r.differences.len()).sum();
        let mut out = format!(
            "differential: {} scenarios, {} steps compared; {differences} differences, {} explained by {} known-difference entries, {} unexplained; {} stale entries",
            self.scenarios,
            self.steps,
            self.explained,
            self.used.len(),
            self.unexplained.iter().map(|(_, d)| d.len()).sum::<usize>(),
            self.stale.len(),
        );
        for (id, n) in &self.used {
            out.push_str(&format!("\n  known `{id}`: {n} differences"));
        }
        out
    }

    pub(crate) fn failures(&self) -> String {
        let mut out = String::new();
        for (index, differences) in &self.unexplained {
            let r = &self.reports[*index];
            out.push_str(&format!(
                "\n=== unexplained difference in scenario `{}`, step {}: {}\n",
                r.scenario, r.step, r.request
            ));
            if !r.about.is_empty() {
                out.push_str(&format!("  ({})\n", r.about));
            }
            for d in differences {
                out.push_str(&format!(
                    "  {}:\n    sandbox: {}\n    real:    {}\n",
                    d.path, d.sandbox, d.real
                ));
            }
            out.push_str(&format!(
                "  sandbox answered:\n{}\n  real kube-apiserver answered:\n{}\n",
                indent(&r.sandbox),
                indent(&r.real)
            ));
        }
        if let Some(drift) = &self.schema_drift {
            out.push_str(&format!("\n=== {drift}\n"));
        }
        for id in &self.stale {
            out.push_str(&format!(
                "\n=== known difference `{id}` no longer reproduces: remove it from known-differences.yaml, README.md and crates/sandbox/src/lib.rs\n"
            ));
        }
        out
    }
}

fn indent(v: &Value) -> String {
    serde_json::to_string_pretty(v)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One server the scenarios run against.
#[derive(Clone)]
pub(crate) struct Server {
    config: kube::Config,
    client: kube::Client,
}

impl Server {
    pub(crate) async fn new(kubeconfig: kube::config::Kubeconfig) -> Server {
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig usable");
        let client = kube::Client::try_from(config.clone()).expect("client");
        Server { config, client }
    }

    fn as_token(&self) -> kube::Client {
        let mut config = self.config.clone();
        config.auth_info = Default::default();
        kube::Client::try_from(config).expect("client without credentials")
    }
}

/// The saved values of one server's run of a scenario.
type Saved = BTreeMap<String, String>;

fn substitute(text: &str, ns: &str, saved: &Saved) -> String {
    let mut out = text.replace("{ns}", ns);
    for (k, v) in saved {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Sends one step to one server; answers the comparable view of its response.
async fn send(server: &Server, step: &Step, ns: &str, saved: &mut Saved) -> Value {
    let started = Instant::now();
    loop {
        let answer = send_once(server, step, ns, saved).await;
        let done = step.until.is_none_or(|code| answer["code"] == code)
            || started.elapsed() > Duration::from_secs(30);
        if done {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn send_once(server: &Server, step: &Step, ns: &str, saved: &mut Saved) -> Value {
    let request = substitute(&step.request, ns, saved);
    let (method, uri) = request.split_once(' ').expect("request is `METHOD /path`");
    let content_type = step
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".into());
    let body: Vec<u8> = match (&step.raw, &step.body) {
        (Some(raw), _) => substitute(raw, ns, saved).into_bytes(),
        (None, Some(yaml)) => {
            let value: Value = serde_json::to_value(yaml).expect("body is JSON-compatible");
            substitute(&value.to_string(), ns, saved).into_bytes()
        }
        (None, None) => Vec::new(),
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    if let Some(accept) = &step.accept {
        builder = builder.header("accept", accept);
    }
    let client = match &step.token {
        Some(name) => {
            // A name nothing was saved under is sent as the token itself (a bogus one).
            let token = saved.get(name).cloned().unwrap_or_else(|| name.clone());
            builder = builder.header("authorization", format!("Bearer {token}"));
            server.as_token()
        }
        None => server.client.clone(),
    };
    let request = builder
        .body(kube::client::Body::from(body))
        .expect("request builds");
    let response = match client.send(request).await {
        Ok(r) => r,
        Err(e) => return json!({"code": 0, "error": e.to_string()}),
    };
    let code = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let mut warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    warnings.sort();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    let body: Option<Value> = if media == "application/json" {
        serde_json::from_slice(&bytes).ok().or_else(|| {
            // A watch: one JSON event per line.
            let events: Vec<Value> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| serde_json::from_slice(l).ok())
                .collect();
            (!events.is_empty()).then(|| json!(events))
        })
    } else {
        None
    };
    for (name, pointer) in &step.save {
        if let Some(found) = body.as_ref().and_then(|b| b.pointer(pointer)) {
            let text = found
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| found.to_string());
            saved.insert(name.clone(), text);
        }
    }
    let mut answer = json!({"code": code, "contentType": media, "warnings": warnings});
    match body {
        Some(b) if code >= 400 || b["kind"] == "Status" => {
            answer["reason"] = b["reason"].clone();
            let mut causes: Vec<String> = b["details"]["causes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["field"].as_str().unwrap_or("").to_string())
                .collect();
            causes.sort();
            answer["causes"] = json!(causes);
            if code < 400 {
                answer["object"] = normalise(b);
            }
        }
        Some(b) => answer["object"] = normalise(b),
        None => {}
    }
    answer
}

/// Replaces what legitimately differs between two servers with placeholders.
fn normalise(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                let generated = map.contains_key("generateName");
                for (key, child) in map.iter_mut() {
                    let placeholder = match (key.as_str(), &*child) {
                        ("uid", Value::String(_)) => Some("<uid>"),
                        (
                            "creationTimestamp"
                            | "deletionTimestamp"
                            | "time"
                            | "lastTransitionTime"
                            | "lastUpdateTime"
                            | "expirationTimestamp",
                            Value::String(_),
                        ) => Some("<time>"),
                        ("resourceVersion", Value::String(_)) => Some("<rv>"),
                        ("continue", Value::String(s)) if !s.is_empty() => Some("<continue>"),
                        ("clusterIP", Value::String(s)) if s != "None" => Some("<ip>"),
                        ("nodePort", Value::Number(_)) => Some("<nodePort>"),
                        ("token" | "ca.crt", Value::String(_)) => Some("<secret>"),
                        ("name", Value::String(_)) if generated => Some("<generated>"),
                        _ => None,
                    };
                    match placeholder {
                        Some(p) => *child = json!(p),
                        None if key == "clusterIPs" => *child = json!(["<ip>"]),
                        None if key == "managedFields" => {
                            walk(child);
                            sort_managed_fields(child);
                        }
                        None => walk(child),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// kube-apiserver orders managedFields by operation, then by the second each entry was
/// written, then by manager: two writes a test makes in one second on one backend may straddle
/// a second on the other. Ordered without the time, both backends list the same entries alike.
fn sort_managed_fields(entries: &mut Value) {
    if let Value::Array(entries) = entries {
        let key = |entry: &Value| {
            ["operation", "manager", "apiVersion", "subresource"]
                .map(|field| entry[field].as_str().unwrap_or_default().to_string())
        };
        entries.sort_by_key(key);
    }
}

fn diff(path: &str, sandbox: &Value, real: &Value, out: &mut Vec<Difference>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (sandbox, real) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let absent = json!("<absent>");
                diff(
                    &join(key),
                    a.get(key).unwrap_or(&absent),
                    b.get(key).unwrap_or(&absent),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(Difference {
            path: path.to_string(),
            sandbox: a.clone(),
            real: b.clone(),
        }),
        _ => {}
    }
}

const ASPECTS: [&str; 6] = [
    "code",
    "reason",
    "causes",
    "warnings",
    "contentType",
    "object",
];

fn compared(step: &Step, answer: &Value) -> Value {
    let aspects: Vec<&str> = match &step.compare {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => ASPECTS.to_vec(),
    };
    let mut out = json!({});
    for aspect in aspects {
        if let Some(v) = answer.get(aspect) {
            out[aspect] = v.clone();
        }
    }
    out
}

/// A namespace (and name prefix) of the scenario's own, unique per run of the suite.
fn namespace_for(index: usize, name: &str) -> String {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| format!("{:04x}", rand::random::<u16>()));
    let mut ns = format!("d{run}-{index:03}-{name}");
    ns.truncate(40);
    ns.trim_end_matches('-').to_string()
}

async fn run_scenario(
    index: usize,
    scenario: &Scenario,
    sandbox: &Server,
    real: &Server,
) -> Vec<StepReport> {
    let ns = namespace_for(index, &scenario.name);
    let mut saved_sandbox = Saved::new();
    let mut saved_real = Saved::new();
    if scenario.namespace {
        let create = Step {
            request: "POST /api/v1/namespaces".into(),
            body: Some(
                serde_yaml::from_str(&format!(
                    "{{apiVersion: v1, kind: Namespace, metadata: {{name: {ns}}}}}"
                ))
                .expect("yaml"),
            ),
            raw: None,
            content_type: None,
            accept: None,
            token: None,
            save: BTreeMap::new(),
            compare: None,
            until: None,
        };
        let (a, b) = tokio::join!(
            send(sandbox, &create, &ns, &mut saved_sandbox),
            send(real, &create, &ns, &mut saved_real)
        );
        assert_eq!(
            (a["code"].clone(), b["code"].clone()),
            (json!(201), json!(201)),
            "namespace {ns}"
        );
        // The real server's controllers add the namespace's ServiceAccount shortly after.
        let wait = Step {
            request: format!("GET /api/v1/namespaces/{ns}/serviceaccounts/default"),
            body: None,
            until: Some(200),
            ..create
        };
        tokio::join!(
            send(sandbox, &wait, &ns, &mut saved_sandbox),
            send(real, &wait, &ns, &mut saved_real)
        );
    }
    let mut reports = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let (a, b) = tokio::join!(
            send(sandbox, step, &ns, &mut saved_sandbox),
            send(real, step, &ns, &mut saved_real)
        );
        let (a, b) = (compared(step, &a), compared(step, &b));
        let mut differences = Vec::new();
        diff("", &a, &b, &mut differences);
        reports.push(StepReport {
            scenario: scenario.name.clone(),
            about: scenario.about.clone(),
            step: i + 1,
            request: substitute(&step.request, &ns, &Saved::new()),
            sandbox: a,
            real: b,
            differences,
        });
    }
    reports
}

pub(crate) async fn run(assets: PathBuf, scenarios: &[Scenario], known: &[Known]) -> Outcome {
    let sandbox_cluster = runner_sandbox::Sandbox::start(runner_sandbox::SandboxOptions {
        clusters: vec!["sandbox".into()],
        ..Default::default()
    })
    .await
    .expect("sandbox starts");
    let real_cluster = real::start(&assets).await;
    let sandbox = Server::new(sandbox_cluster.kubeconfig().expect("kubeconfig")).await;
    let real = Server::new(real_cluster.kubeconfig()).await;
    let reports: Vec<Vec<StepReport>> = futures::stream::iter(scenarios.iter().enumerate())
        .map(|(i, s)| run_scenario(i, s, &sandbox, &real))
        .buffered(10)
        .collect()
        .await;
    let reports: Vec<StepReport> = reports.into_iter().flatten().collect();
    let schema_drift = schema_drift(&real).await;
    real_cluster.shutdown().await;
    sandbox_cluster.shutdown().await;
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for (i, report) in reports.iter().enumerate() {
        let mut left = Vec::new();
        for d in &report.differences {
            match known.iter().find(|k| k.explains(&report.scenario, d)) {
                Some(k) => {
                    explained += 1;
                    *used.entry(k.id.clone()).or_default() += 1;
                }
                None => left.push(d.clone()),
            }
        }
        if !left.is_empty() {
            unexplained.push((i, left));
        }
    }
    let stale = known
        .iter()
        .filter(|k| !used.contains_key(&k.id))
        .map(|k| k.id.clone())
        .collect();
    Outcome {
        scenarios: scenarios.len(),
        steps: reports.len(),
        reports,
        unexplained,
        explained,
        stale,
        used,
        schema_drift,
    }
}

/// Compares the sandbox's embedded built-in schema with the real server's OpenAPI v3.
async fn schema_drift(real: &Server) -> Option<String> {
    let mut documents = BTreeMap::new();
    for gv in openapi::group_versions() {
        let request = http::Request::get(format!("/openapi/v3/{gv}"))
            .body(kube::client::Body::empty())
            .expect("request builds");
        let response = real.client.send(request).await.ok()?;
        let bytes = response.into_body().collect_bytes().await.ok()?;
        documents.insert(gv.to_string(), serde_json::from_slice(&bytes).ok()?);
    }
    let fresh = openapi::compact(&documents);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let embedded_path = root.join("crates/sandbox/src/schema/builtin.json");
    let embedded: Value =
        serde_json::from_str(&std::fs::read_to_string(&embedded_path).ok()?).ok()?;
    if fresh == embedded {
        return None;
    }
    let regenerated = root.join("target/differential/builtin.json");
    let _ = std::fs::create_dir_all(regenerated.parent()?);
    let _ = std::fs::write(&regenerated, fresh.to_string());
    Some(format!(
        "{} differs from the real server's OpenAPI v3; the regenerated file is {}",
        embedded_path.display(),
        regenerated.display()
    ))
}
