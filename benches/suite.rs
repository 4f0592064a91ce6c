//! The benchmark suite: runner against kubectl and openssl on the same work, in the same run,
//! on the same sandbox. `cargo bench --bench suite` (BENCH_QUICK=1 for one run of each).
//! With `KUBEBUILDER_ASSETS` set, the 500-object apply and the 1+1 play also run on real control
//! planes (etcd, kube-apiserver, kube-controller-manager); without it they are skipped, saying so.
//! Results: target/bench/results.json and target/bench/results.md.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let out = Path::new(ROOT).join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let mut results = Vec::new();

    results.push(startup(if quick { 3 } else { 20 }));
    results.extend(apply(&out, runs));
    let (plays, memory) = playbook(&out, runs, quick);
    results.extend(plays);
    results.push(memory);
    match std::env::var_os("KUBEBUILDER_ASSETS").filter(|a| !a.is_empty()) {
        Some(_) => {
            results.extend(apply_real(&out, runs));
            results.push(playbook_real(&out, runs));
        }
        None => println!(
            "skipped: the real-control-plane benchmarks (500-object apply, 1+1 play): KUBEBUILDER_ASSETS is not set"
        ),
    }
    results.extend(watch(&out, if quick { 3 } else { 20 }));
    results.extend(certificates(&out));

    let report = json!({ "quick": quick, "runs": runs, "results": results });
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    let markdown = markdown(&results);
    std::fs::write(out.join("results.md"), &markdown).unwrap();
    println!("{markdown}");
    println!("written: target/bench/results.md, target/bench/results.json");
}

/// The certificate benchmark's figures (`cargo bench --bench certs` writes them first).
fn certificates(out: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(out.join("certs.json")) else {
        return Vec::new();
    };
    let report: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let Some(cases) = report["results"].as_array() else {
        return Vec::new();
    };
    cases
        .iter()
        .map(|case| {
            json!({
                "name": format!("certificates: {}", case["case"].as_str().unwrap_or("?")),
                "median_ms": round(case["median_ms"].as_f64().unwrap_or(f64::NAN)),
                "min_ms": round(case["min_ms"].as_f64().unwrap_or(f64::NAN)),
                "max_ms": round(case["max_ms"].as_f64().unwrap_or(f64::NAN)),
                "runs": case["runs"],
                "note": "target: runner no slower than openssl",
            })
        })
        .collect()
}

/// Median, min and max of durations in milliseconds.
fn stats(name: &str, samples: &[f64], note: &str) -> Value {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    };
    json!({
        "name": name,
        "median_ms": round(median),
        "min_ms": round(*s.first().unwrap_or(&f64::NAN)),
        "max_ms": round(*s.last().unwrap_or(&f64::NAN)),
        "runs": s.len(),
        "note": note,
    })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn markdown(results: &[Value]) -> String {
    let mut md = String::from(
        "| benchmark | median | min | max | runs | note |\n|---|---:|---:|---:|---:|---|\n",
    );
    for r in results {
        let unit = if r.get("median_kib").is_some() {
            "kib"
        } else {
            "ms"
        };
        let cell = |k: &str| {
            r.get(format!("{k}_{unit}"))
                .and_then(Value::as_f64)
                .map(|v| format!("{v} {unit}"))
                .unwrap_or_default()
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r["name"].as_str().unwrap_or(""),
            cell("median"),
            cell("min"),
            cell("max"),
            r.get("runs").and_then(Value::as_u64).unwrap_or(1),
            r.get("note").and_then(Value::as_str).unwrap_or(""),
        ));
    }
    md
}

/// Runs a command to completion; returns its wall time and peak RSS (KiB).
// The child is reaped by wait4, which also gives its resource usage.
#[allow(clippy::zombie_processes)]
fn timed(cmd: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; `usage` is a valid out-pointer.
    let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let elapsed = started.elapsed();
    assert!(waited == pid, "wait4 failed");
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut err);
        }
        panic!("{cmd:?} failed:\n{err}");
    }
    (elapsed, usage.ru_maxrss as u64)
}

/// Which API servers `runner sandbox up` starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sandbox,
    /// Real control planes from KUBEBUILDER_ASSETS.
    Real,
}

/// A `runner sandbox up` process serving `clusters`, with its kubeconfig.
struct SandboxProcess {
    child: Child,
    kubeconfig: PathBuf,
}

impl SandboxProcess {
    fn start(dir: &Path, clusters: &[String]) -> Self {
        Self::start_on(Backend::Sandbox, dir, clusters)
    }

    fn start_on(backend: Backend, dir: &Path, clusters: &[String]) -> Self {
        let kubeconfig = dir.join("sandbox.kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let mut command = Command::new(RUNNER);
        command.args(["sandbox", "up", "--clusters", &clusters.join(",")]);
        if backend == Backend::Real {
            command.args(["--control-plane", "real"]);
        }
        let child = command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("runner sandbox up");
        // The kubeconfig is written once every cluster is ready.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !kubeconfig.exists() {
            assert!(Instant::now() < deadline, "sandbox did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        SandboxProcess { child, kubeconfig }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: runner then stops the control planes it started.
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn startup(runs: usize) -> Value {
    let playbook = Path::new(ROOT).join("playbooks/primary-remote.rhai");
    let samples: Vec<f64> = (0..runs)
        .map(|_| ms(timed(Command::new(RUNNER).arg("check").arg(&playbook)).0))
        .collect();
    stats(
        "start-up: runner check playbooks/primary-remote.rhai",
        &samples,
        "target ≤ 20 ms",
    )
}

/// 500 objects over 10 namespaces: ConfigMaps, Secrets, Services, Deployments.
fn write_objects(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut namespaces = String::new();
    for n in 0..10 {
        namespaces.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{n}\n"
        ));
        let mut objects = String::new();
        for i in 0..15 {
            objects.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n  namespace: bench-{n}\ndata:\n  key: value-{i}\n  other: \"{n}\"\n"));
            objects.push_str(&format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  namespace: bench-{n}\ntype: Opaque\nstringData:\n  password: secret-{i}\n"));
        }
        for i in 0..10 {
            objects.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: bench-{n}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n    - port: 80\n      targetPort: 8080\n"));
            objects.push_str(&format!("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: bench-{n}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n        - name: app\n          image: app:{i}\n          ports:\n            - containerPort: 8080\n"));
        }
        std::fs::write(dir.join(format!("10-objects-{n}.yaml")), objects).unwrap();
    }
    std::fs::write(dir.join("00-namespaces.yaml"), namespaces).unwrap();
}

fn apply(out: &Path, runs: usize) -> Vec<Value> {
    let objects = out.join("apply-objects");
    write_objects(&objects);
    let clusters: Vec<String> = (0..runs)
        .flat_map(|i| [format!("kubectl-{i}"), format!("runner-{i}")])
        .collect();
    let sandbox = SandboxProcess::start(out, &clusters);
    let kubectl = |cluster: &str| {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&sandbox.kubeconfig)
            .args(["--context", cluster, "apply", "--server-side", "-f"])
            .arg(&objects);
        c
    };
    let runner = |cluster: &str| {
        let mut c = Command::new(RUNNER);
        c.current_dir(ROOT)
            .args(["play", "benches/apply.rhai", "--kubeconfig"])
            .arg(&sandbox.kubeconfig)
            .args([
                "--var",
                &format!("cluster={cluster}"),
                "--var",
                "dir=target/bench/apply-objects",
            ]);
        c
    };
    let (mut k_create, mut k_again, mut r_create, mut r_again) = (vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        k_create.push(ms(timed(&mut kubectl(&format!("kubectl-{i}"))).0));
        k_again.push(ms(timed(&mut kubectl(&format!("kubectl-{i}"))).0));
        r_create.push(ms(timed(&mut runner(&format!("runner-{i}"))).0));
        r_again.push(ms(timed(&mut runner(&format!("runner-{i}"))).0));
    }
    vec![
        stats(
            "apply 500 objects: kubectl apply --server-side",
            &k_create,
            "fresh cluster",
        ),
        stats(
            "apply 500 objects: runner",
            &r_create,
            "fresh cluster; target ≥ 5× faster than kubectl",
        ),
        stats(
            "apply 500 unchanged objects: kubectl apply --server-side",
            &k_again,
            "second apply",
        ),
        stats(
            "apply 500 unchanged objects: runner",
            &r_again,
            "second apply; target ≥ 5× faster than kubectl",
        ),
    ]
}

/// The 500-object apply on real control planes: a fresh pair of clusters for each run (one for
/// kubectl, one for runner), started before the clock and stopped after.
fn apply_real(out: &Path, runs: usize) -> Vec<Value> {
    let objects = out.join("apply-objects");
    write_objects(&objects);
    let (mut k_create, mut k_again, mut r_create, mut r_again) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let clusters = ["kubectl".to_string(), "runner".to_string()];
        let planes = SandboxProcess::start_on(Backend::Real, out, &clusters);
        let mut kubectl = Command::new("kubectl");
        kubectl
            .arg("--kubeconfig")
            .arg(&planes.kubeconfig)
            .args(["--context", "kubectl", "apply", "--server-side", "-f"])
            .arg(&objects);
        let mut runner = Command::new(RUNNER);
        runner
            .current_dir(ROOT)
            .args(["play", "benches/apply.rhai", "--kubeconfig"])
            .arg(&planes.kubeconfig)
            .args([
                "--var",
                "cluster=runner",
                "--var",
                "dir=target/bench/apply-objects",
            ]);
        k_create.push(ms(timed(&mut kubectl).0));
        k_again.push(ms(timed(&mut kubectl).0));
        r_create.push(ms(timed(&mut runner).0));
        r_again.push(ms(timed(&mut runner).0));
    }
    let ratio = |runner: &[f64], kubectl: &[f64]| {
        let median = |s: &[f64]| stats("", s, "")["median_ms"].as_f64().unwrap_or(f64::NAN);
        (median(runner) / median(kubectl) * 100.0).round() / 100.0
    };
    vec![
        stats(
            "apply 500 objects: kubectl apply --server-side (real kube-apiserver)",
            &k_create,
            "fresh cluster",
        ),
        stats(
            "apply 500 objects: runner (real kube-apiserver)",
            &r_create,
            &format!(
                "fresh cluster; {}× kubectl's time; target ≤ 0.03×",
                ratio(&r_create, &k_create)
            ),
        ),
        stats(
            "apply 500 unchanged objects: kubectl apply --server-side (real kube-apiserver)",
            &k_again,
            "second apply",
        ),
        stats(
            "apply 500 unchanged objects: runner (real kube-apiserver)",
            &r_again,
            &format!(
                "second apply; {}× kubectl's time",
                ratio(&r_again, &k_again)
            ),
        ),
    ]
}

/// The 1+1 play on a fresh pair of real control planes each run (started before the clock).
fn playbook_real(out: &Path, runs: usize) -> Value {
    let small = mesh_vars(out, 1);
    let mut one = vec![];
    for _ in 0..runs {
        let clusters = ["cluster-1".to_string(), "cluster-2".to_string()];
        let planes = SandboxProcess::start_on(Backend::Real, out, &clusters);
        let mut play = Command::new(RUNNER);
        play.current_dir(ROOT)
            .args(["play", "playbooks/primary-remote.rhai", "--kubeconfig"])
            .arg(&planes.kubeconfig)
            .arg("--vars")
            .arg(&small)
            .args([
                "--var",
                "istio.installer=manifests",
                "--var",
                "certs.dir=target/bench/mesh-certs",
            ]);
        one.push(ms(timed(&mut play).0));
    }
    stats(
        "primary-remote play, 1 primary + 1 remote (real kube-apiservers, manifests)",
        &one,
        "warm CA; fresh clusters; target ≤ 2000 ms",
    )
}

fn mesh_vars(out: &Path, remotes: usize) -> PathBuf {
    let mut vars = String::from("remotes:\n");
    for i in 0..remotes {
        vars.push_str(&format!("  - name: cluster-{n}\n    context: cluster-{n}\n    network: network1\n    api_server: \"\"\n", n = i + 2));
    }
    let file = out.join(format!("mesh-{remotes}.yaml"));
    std::fs::write(&file, vars).unwrap();
    file
}

fn playbook(out: &Path, runs: usize, quick: bool) -> (Vec<Value>, Value) {
    let play = |vars: &Path| {
        let mut c = Command::new(RUNNER);
        c.current_dir(ROOT)
            .args([
                "play",
                "playbooks/primary-remote.rhai",
                "--sandbox",
                "--vars",
            ])
            .arg(vars)
            .args([
                "--var",
                "istio.installer=manifests",
                "--var",
                "certs.dir=target/bench/mesh-certs",
            ]);
        c
    };
    let small = mesh_vars(out, 1);
    let large = mesh_vars(out, 10);
    // The CA is made once in a mesh's life: make it before measuring (warm CA).
    timed(&mut play(&large));
    let mut one = vec![];
    let mut ten = vec![];
    let mut rss = vec![];
    for _ in 0..runs {
        one.push(ms(timed(&mut play(&small)).0));
        let (t, kib) = timed(&mut play(&large));
        ten.push(ms(t));
        rss.push(kib as f64);
    }
    let _ = quick;
    let mut memory = stats("memory: peak RSS of the 1+10 play", &rss, "KiB");
    for k in ["median", "min", "max"] {
        let v = memory[format!("{k}_ms")].clone();
        memory[format!("{k}_kib")] = v;
        memory.as_object_mut().unwrap().remove(&format!("{k}_ms"));
    }
    (
        vec![
            stats(
                "primary-remote play, 1 primary + 1 remote (--sandbox, manifests)",
                &one,
                "warm CA; target ≤ 2000 ms",
            ),
            stats(
                "primary-remote play, 1 primary + 10 remotes (--sandbox, manifests)",
                &ten,
                "warm CA; target ≤ 1.5× the 1+1 play",
            ),
        ],
        memory,
    )
}

fn watch(out: &Path, edits: usize) -> Vec<Value> {
    let template = out.join("watch-templates/bench-watch.yaml.j2");
    std::fs::create_dir_all(template.parent().unwrap()).unwrap();
    let write = |n: usize| {
        std::fs::write(&template, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: default\ndata:\n  edit: \"{n}\"\n")).unwrap();
    };
    write(0);
    let mut child = Command::new(RUNNER)
        .current_dir(ROOT)
        .args([
            "play",
            "benches/watch.rhai",
            "--sandbox",
            "--watch",
            "--output",
            "json",
            "--templates",
        ])
        .arg(template.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runner --watch");
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(event);
            }
        }
    });
    let wait_for = |kind: &str| loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(e) if e["event"] == kind => return e,
            Ok(_) => continue,
            Err(_) => panic!("no {kind} event from runner --watch"),
        }
    };
    wait_for("watching");
    let mut latencies = vec![];
    for n in 1..=edits {
        std::thread::sleep(Duration::from_millis(150));
        write(n);
        let _ = std::io::stdout().flush();
        let event = wait_for("watch_run");
        if let Some(l) = event["latency_ms"].as_f64() {
            latencies.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p95 = latencies
        .get(((latencies.len() as f64) * 0.95).ceil() as usize - 1)
        .copied()
        .unwrap_or(f64::NAN);
    let mut result = stats("watch: save → object applied", &latencies, "");
    result["p95_ms"] = json!(round(p95));
    result["note"] = json!(format!(
        "p50 {} ms, p95 {} ms over {} edits; target p50 ≤ 100 ms, p95 ≤ 250 ms",
        result["median_ms"],
        round(p95),
        latencies.len()
    ));
    vec![result]
}
