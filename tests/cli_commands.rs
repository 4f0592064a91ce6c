//! `runner check`, `runner api`, completions and version.

use crate::common;

use common::Fixture;

#[test]
fn check_passes_a_clean_playbook_and_its_modules() {
    let p = Fixture::new().build();
    p.write("playbooks/lib/a.rhai", "fn f() { 1 }");
    p.write(
        "playbooks/ok.rhai",
        "import \"lib/a\" as a;\nprint(a::f() + vars.len());\n",
    );
    p.test()
        .args(["check", "playbooks/ok.rhai"])
        .stdout("ok: playbooks/ok.rhai\n")
        .stderr("")
        .status(0)
        .run();
}

#[test]
fn check_reports_each_syntax_error_in_playbook_and_modules() {
    let p = Fixture::new().build();
    p.write("playbooks/lib/broken.rhai", "fn f( { 1 }\n");
    p.write(
        "playbooks/lib/missing_user.rhai",
        "import \"nowhere\" as n;\n",
    );
    p.write(
        "playbooks/main.rhai",
        "import \"lib/broken\" as b;\nimport \"lib/missing_user\" as m;\nlet x = 1;\n",
    );
    p.test()
        .args(["check", "playbooks/main.rhai"])
        .stdout("")
        .stderr(
            r#"  × syntax error: Expecting ')' to close the parameters list of function 'f'
   ╭─[playbooks/lib/broken.rhai:1:7]
 1 │ fn f( { 1 }
   ·       ┬
   ·       ╰── here
   ╰────
  × module "nowhere" not found (looked for playbooks/lib/nowhere.rhai)
   ╭─[playbooks/lib/missing_user.rhai:1:1]
 1 │ import "nowhere" as n;
   · ───┬──
   ·    ╰── here
   ╰────
2 error(s)
"#,
        )
        .status(1)
        .run();
    p.write("playbooks/bad_main.rhai", "let = 3;\n");
    p.test()
        .args(["check", "playbooks/bad_main.rhai"])
        .stdout("")
        .stderr(
            r#"  × syntax error: Expecting name of a variable
   ╭─[playbooks/bad_main.rhai:1:5]
 1 │ let = 3;
   ·     ┬
   ·     ╰── here
   ╰────
1 error(s)
"#,
        )
        .status(1)
        .run();
}

#[test]
fn check_never_runs_the_playbook() {
    let p = Fixture::new().build();
    p.write("playbooks/w.rhai", "write_file(\"written\", \"x\");\n");
    p.test()
        .args(["check", "playbooks/w.rhai"])
        .stdout("ok: playbooks/w.rhai\n")
        .stderr("")
        .status(0)
        .run();
    assert!(!p.exists("written"));
}

#[test]
fn api_lists_every_function_a_playbook_can_call() {
    let p = Fixture::new().build();
    let out = p
        .runner(&["api"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for expected in [
        "step(name: String, body: FnPtr) -> Dynamic",
        "template(name: String, context: Map) -> String",
        "with_defaults(defaults: Map) -> Map",
        "read_file(path: String) -> String",
        "write_file(path: String, text: String)",
        "yaml::parse(text: String) -> Array",
        "yaml::dump(value: Dynamic) -> String",
        "json::parse(text: String) -> Dynamic",
        "warn(message: String)",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // The convention comes first, then every function with its one-line doc.
    assert!(
        text.starts_with("# Every function: required arguments in order (kind, name, then what to do), then one optional\n"),
        "{text}"
    );
    let mut lines = text
        .lines()
        .skip_while(|l| l.starts_with('#') || l.is_empty())
        .peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with(' ') {
            let doc = lines.peek().copied().unwrap_or("");
            assert!(
                doc.starts_with("    ") && doc.trim().len() > 5,
                "no doc for {line}"
            );
        }
    }
    let json = p
        .runner(&["api", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let docs: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(docs
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "yaml::parse"));
}

/// The reference is generated from the bindings' Rust signatures: every type it prints must be
/// a playbook type (`&str` is a String, `Dynamic` is stated in the doc where it is `Map or ()`).
#[test]
fn api_prints_playbook_types_not_rust_types() {
    let p = Fixture::new().build();
    let json = p
        .runner(&["api", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let docs: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let playbook_types = [
        "String", "i64", "bool", "Array", "Map", "Dynamic", "FnPtr", "Cluster", "RootCa", "Error",
        "()",
    ];
    let mut checked = 0;
    for doc in docs.as_array().unwrap() {
        let name = doc["name"].as_str().unwrap();
        let mut types: Vec<&str> = doc["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().split_once(": ").unwrap().1)
            .collect();
        types.push(doc["returns"].as_str().unwrap());
        for t in types {
            for alternative in t.split(" or ") {
                assert!(
                    playbook_types.contains(&alternative),
                    "{name}: {alternative:?} is not a playbook type"
                );
                checked += 1;
            }
        }
        assert!(
            !doc["doc"].as_str().unwrap().contains('@'),
            "{name}: a type line leaked into the doc"
        );
    }
    assert!(checked > 200, "{checked}");
    let text = String::from_utf8(
        p.runner(&["api"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    for truthful in [
        "get(c: Cluster, kind: String, name: String) -> Map or ()",
        "wait_condition(c: Cluster, kind: String, name: String, type: String, status: String) -> Map or ()",
        "wait_loadbalancer(c: Cluster, service: String) -> String or ()",
        "certs::check_cacerts(cluster: String, context: String, certs_dir: String, cert_dir: String, live: Map or ()) -> Map",
        "apply(c: Cluster, objects: String or Map or Array) -> Array",
        ".message(value: Error) -> String",
    ] {
        assert!(text.lines().any(|l| l == truthful), "missing {truthful} in:\n{text}");
    }
}

#[test]
fn every_function_the_shipped_playbooks_call_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = Fixture::new().build();
    let api = String::from_utf8(
        p.runner(&["api"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let documented: std::collections::BTreeSet<&str> = api
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        .filter_map(|l| l.split('(').next())
        .collect();
    let fn_def = regex::Regex::new(r"fn ([a-z_]+)\(").unwrap();
    let call = regex::Regex::new(r"(?:\.|\b)([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)?)\(").unwrap();
    // runner's own modules (certs::, k8s::, ...); other prefixes are the playbooks' imports.
    let modules: std::collections::BTreeSet<&str> = documented
        .iter()
        .filter_map(|name| name.split_once("::").map(|(module, _)| module))
        .collect();
    let keywords = [
        "if",
        "fn",
        "while",
        "for",
        "switch",
        "loop",
        "print",
        "debug",
        "throw",
        "len",
        "push",
        "contains",
        "keys",
        "values",
        "to_string",
        "is_empty",
        "starts_with",
        "ends_with",
        "split",
        "sub_string",
        "replace",
        "trim",
        "map",
        "filter",
        "join",
        "to_upper",
        "to_lower",
        "index_of",
        "type_of",
        "parse_int",
        "all",
        "any",
        "sort",
        "reduce",
        "extend",
        "remove",
        "insert",
        "get",
        "len",
        "timestamp",
        "elapsed",
        "Fn",
        "call",
        "curry",
        "is_shared",
        "to_int",
        "to_float",
        "abs",
        "min",
        "max",
        "range",
        "clear",
        "pop",
        "shift",
        "retain",
        "drain",
        "some",
        "find",
        "dedup",
        "chars",
        "to_json",
        "fill_with",
        "mixin",
    ];
    for entry in walk(&root.join("playbooks")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        let local_fns: Vec<String> = fn_def
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        for cap in call.captures_iter(&text) {
            let name = &cap[1];
            if keywords.contains(&name)
                || local_fns.iter().any(|f| f == name)
                || name
                    .split_once("::")
                    .is_some_and(|(module, _)| !modules.contains(module))
            {
                continue;
            }
            assert!(
                documented.contains(name),
                "{} calls {name}() which `runner api` does not list",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else if path.extension().is_some_and(|e| e == "rhai") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn version_help_and_completions() {
    let p = Fixture::new().build();
    p.test()
        .args(["--version"])
        .stdout(&format!("runner {}\n", env!("CARGO_PKG_VERSION")))
        .stderr("")
        .status(0)
        .run();
    // The whole help is the option list, which other changes extend; pinned are its usage
    // line and the option this test is about.
    let help = p.test().args(["play", "--help"]).stderr("").status(0).run();
    let lines: Vec<&str> = help.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Run a playbook against the clusters it names",
            "",
            "Usage: runner play [OPTIONS] <PLAYBOOK>"
        ]
    );
    let dry_run = lines
        .iter()
        .position(|l| *l == "      --dry-run")
        .expect("--dry-run is listed");
    assert_eq!(
        lines[dry_run + 1],
        "          Write nothing anywhere: show what would change"
    );
    let completions = p
        .test()
        .args(["completions", "bash"])
        .stderr("")
        .status(0)
        .run();
    let lines: Vec<&str> = completions.stdout.lines().collect();
    assert_eq!(lines[0], "_runner() {");
    assert_eq!(
        lines[lines.len() - 5..],
        [
            r#"if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then"#,
            "    complete -F _runner -o nosort -o bashdefault -o default runner",
            "else",
            "    complete -F _runner -o bashdefault -o default runner",
            "fi",
        ]
    );
    p.test()
        .args(["nonsense"])
        .stdout("")
        .stderr(
            r#"error: unrecognized subcommand 'nonsense'

Usage: runner [OPTIONS] <COMMAND>

For more information, try '--help'.
"#,
        )
        .status(2)
        .run();
}

/// The lines of `runner check`'s report that carry a message (after miette's `×`).
fn headlines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("× "))
        .map(str::to_string)
        .collect()
}

#[test]
fn check_passes_the_shipped_flagship() {
    let p = Fixture::new().build();
    crate::common::copy_shipped(p.dir());
    p.test()
        .args(["check", "playbooks/primary-remote.rhai"])
        .stdout("ok: playbooks/primary-remote.rhai\n")
        .stderr("")
        .status(0)
        .run();
}

#[test]
fn check_finds_what_would_fail_at_run_time() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/lib/util.rhai",
        "fn greet(name) { `hello ${name}` }\n",
    );
    p.write("templates/broken.yaml.j2", "a: {{ x }\n");
    p.write(
        "templates/app.yaml.j2",
        "name: {{ app.name }}\nns: {{ apps.namespce }}\n",
    );
    p.write(
        "playbooks/c.vars.yaml",
        "apps:\n  namespace: prod\n  backend: {name: b}\n",
    );
    p.write(
        "playbooks/c.rhai",
        concat!(
            "import \"lib/util\" as util;\n",
            "print(util::gret(\"x\"));\n",
            "write_fil(\"out\", \"x\");\n",
            "let t = template(\"broken.yaml.j2\");\n",
            "let a = template(\"app.yaml.j2\", #{ app: vars.apps.backend });\n",
            "print(vars.apps.backnd);\n",
        ),
    );
    p.test()
        .args(["check", "playbooks/c.rhai"])
        .stdout("")
        .stderr(r#"  × module util (playbooks/lib/util.rhai) has no function gret; did you mean util::greet?
   ╭─[playbooks/c.rhai:2:13]
 1 │ import "lib/util" as util;
 2 │ print(util::gret("x"));
   ·             ──┬─
   ·               ╰── here
 3 │ write_fil("out", "x");
   ╰────
  × no function named write_fil; did you mean write_file? (see: runner api write_file)
   ╭─[playbooks/c.rhai:3:1]
 2 │ print(util::gret("x"));
 3 │ write_fil("out", "x");
   · ────┬────
   ·     ╰── here
 4 │ let t = template("broken.yaml.j2");
   ╰────
  × vars.apps has no key backnd; did you mean backend? (keys: namespace, backend)
   ╭─[playbooks/c.rhai:6:17]
 5 │ let a = template("app.yaml.j2", #{ app: vars.apps.backend });
 6 │ print(vars.apps.backnd);
   ·                 ───┬──
   ·                    ╰── here
   ╰────
  × template templates/broken.yaml.j2:1: syntax error: unexpected `}`, expected end of variable block
  ╰─▶ called from playbooks/c.rhai:4:9
   ╭─[templates/broken.yaml.j2:1:9]
 1 │ a: {{ x }
   ·         ┬
   ·         ╰── here
   ╰────
  × template templates/app.yaml.j2:2: apps has no key namespce; did you mean namespace? (keys: namespace, backend)
  ╰─▶ called from playbooks/c.rhai:5:9
   ╭─[templates/app.yaml.j2:2:8]
 1 │ name: {{ app.name }}
 2 │ ns: {{ apps.namespce }}
   ·        ──────┬──────
   ·              ╰── here
   ╰────
  help: define the value in the play's variables (vars file or --var) or pass it in the template() context
5 error(s)
"#)
        .status(1)
        .run();
    assert!(!p.exists("out"), "check ran the playbook");
}

#[test]
fn check_lets_a_playbook_ask_whether_an_optional_variable_is_set() {
    let p = Fixture::new().build();
    p.write("playbooks/o.vars.yaml", "replicas: 1\n");
    p.write(
        "playbooks/o.rhai",
        concat!(
            "let target = if vars.cluster == () { \"all\" } else { vars.cluster };\n",
            "let only = vars.only ?? [];\n",
            "if vars.skip != () { print(\"skip\"); }\n",
            "print(vars.replica);\n",
        ),
    );
    p.test()
        .args(["check", "playbooks/o.rhai"])
        .stdout("")
        .stderr(
            r#"  × vars has no key replica; did you mean replicas? (keys: replicas)
   ╭─[playbooks/o.rhai:4:12]
 3 │ if vars.skip != () { print("skip"); }
 4 │ print(vars.replica);
   ·            ───┬───
   ·               ╰── here
   ╰────
1 error(s)
"#,
        )
        .status(1)
        .run();
}

#[test]
fn check_validates_the_variables_it_is_given() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/s.vars.schema.yaml",
        "type: object\nadditionalProperties: false\nproperties:\n  replicas: {type: integer, minimum: 1, description: a positive whole number}\n",
    );
    p.write("playbooks/s.rhai", "print(vars.replicas);\n");
    p.write("mine.yaml", "replicas: 0\n");
    p.test()
        .args(["check", "playbooks/s.rhai"])
        .stdout("ok: playbooks/s.rhai\n")
        .stderr("")
        .status(0)
        .run();
    p.test()
        .args([
            "check",
            "playbooks/s.rhai",
            "--vars",
            "mine.yaml",
            "--var",
            "replica=2",
        ])
        .stdout("")
        .stderr(
            r#"  × 2 problems with the play's variables:
  │   - mine.yaml:1: vars.replicas: expected a positive whole number, not a number (0)
  │   - --var replica=2: vars has no key replica; did you mean replicas? (keys: replicas)
  help: the variables are described by playbooks/s.vars.schema.yaml
1 error(s)
"#,
        )
        .status(1)
        .run();
}

#[test]
fn a_self_import_is_a_cycle_for_check_and_play() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/me.rhai",
        "import \"me\" as me;\nwrite_file(\"out\", \"x\");\n",
    );
    for command in ["check", "play"] {
        let out = p.runner(&[command, "playbooks/me.rhai"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            headlines(&stderr),
            ["import cycle: playbooks/me.rhai → playbooks/me.rhai"],
            "{command}"
        );
        assert!(!p.exists("out"));
    }
}

#[test]
fn api_name_shows_one_function_or_the_closest() {
    let p = Fixture::new().build();
    p.test()
        .args(["api", "write_file"])
        .stdout(r#"write_file(path: String, text: String)
    Writes a text file relative to the project root (not in a dry run); unchanged content is not rewritten.
"#)
        .stderr("")
        .status(0)
        .run();
    p.test()
        .args(["api", "write_fil"])
        .stdout("")
        .stderr(r#"  × no function named write_fil; did you mean write_file? (runner api lists every function)
"#)
        .status(2)
        .run();
}

#[test]
fn init_scaffolds_a_project_that_plays_on_the_sandbox_at_once_and_never_overwrites() {
    let p = Fixture::new().build();
    let out = p.runner(&["init", "mesh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "created mesh/playbooks/hello.rhai\n\
         created mesh/playbooks/hello.vars.yaml\n\
         created mesh/playbooks/hello.vars.schema.yaml\n\
         created mesh/templates/hello/namespace.yaml.j2\n\
         created mesh/templates/hello/configmap.yaml.j2\n\
         created mesh/.gitignore\n\
         created mesh/README.md\n\
         next: cd mesh && runner play playbooks/hello.rhai --sandbox\n"
    );
    let ignored = p.read("mesh/.gitignore");
    assert!(ignored.lines().any(|l| l == "/certs/") && ignored.lines().any(|l| l == "/rendered/"));

    let mut play = p.runner(&["play", "playbooks/hello.rhai", "--sandbox"]);
    let out = play.current_dir(p.dir().join("mesh")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let changes: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("created    "))
        .collect();
    assert_eq!(
        changes,
        [
            "  cluster-1    created    Namespace hello",
            "  cluster-1    created    ConfigMap hello/greeting"
        ]
    );
    let mut check = p.runner(&["check", "playbooks/hello.rhai"]);
    check
        .current_dir(p.dir().join("mesh"))
        .assert()
        .code(0)
        .stdout("ok: playbooks/hello.rhai\n");

    // A second init writes nothing, and says which files are in the way.
    std::fs::write(p.dir().join("mesh/README.md"), "mine\n").unwrap();
    let out = p.runner(&["init", "mesh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some("  × runner init would overwrite mesh/playbooks/hello.rhai, mesh/playbooks/hello.vars.yaml, mesh/playbooks/hello.vars.schema.yaml, mesh/templates/hello/namespace.yaml.j2, mesh/templates/hello/configmap.yaml.j2, mesh/.gitignore, mesh/README.md"),
        "{stderr}"
    );
    assert_eq!(p.read("mesh/README.md"), "mine\n");
}

#[test]
fn list_steps_prints_the_steps_in_play_order_without_any_cluster() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/lib/m.rhai",
        "fn later() { step(\"in-module\", || {}); }\n",
    );
    p.write(
        "playbooks/steps.rhai",
        "import \"lib/m\" as m;\nlet c = cluster(\"nowhere\");\nstep(\"zeta\", || { c.apply(#{}); });\nif vars.len() > 0 {\n    step(\"alpha\", || {});\n}\nfor name in [\"x\"] { step(name, || {}); }\nm::later();\n",
    );
    // No KUBECONFIG, no cluster: listing touches none.
    p.test()
        .args(["play", "playbooks/steps.rhai", "--list-steps"])
        .stdout(
            r#"STEPS of playbooks/steps.rhai (in play order)
  1. zeta                 playbooks/steps.rhai:3
  2. alpha                playbooks/steps.rhai:5  (runs when its condition holds)
  3. (named at run time)  playbooks/steps.rhai:7
  4. in-module            playbooks/lib/m.rhai:1
"#,
        )
        .stderr("")
        .status(0)
        .run();
    let out = p
        .runner(&[
            "play",
            "playbooks/steps.rhai",
            "--list-steps",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["event"], "steps");
    assert_eq!(event["steps"][1]["name"], "alpha");
    assert_eq!(event["steps"][1]["conditional"], true);
    assert_eq!(event["steps"][2]["name"], serde_json::Value::Null);

    p.test()
        .args(["play", "playbooks/none.rhai", "--list-steps"])
        .stdout("")
        .stderr("  × playbook playbooks/none.rhai not found\n")
        .status(2)
        .run();
}

#[test]
fn sandbox_up_prints_an_absolute_kubeconfig_refuses_to_replace_a_running_one_and_stops_cleanly() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let p = Fixture::new().build();
    let mut up = crate::common::runner()
        .current_dir(p.dir())
        .args([
            "sandbox",
            "up",
            "--clusters",
            "one",
            "--kubeconfig",
            "sb.kubeconfig",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(Some(up.id()));
    let mut stdout = BufReader::new(up.stdout.take().unwrap());
    let mut said = String::new();
    while !said.ends_with("Press Ctrl-C to stop.\n") {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "up ended early: {said}"
        );
        said.push_str(&line);
    }
    let kubeconfig = std::path::absolute(p.dir().join("sb.kubeconfig")).unwrap();
    let url = regex::Regex::new(r"https://127\.0\.0\.1:\d+").unwrap();
    assert_eq!(
        url.replace_all(&said, "URL"),
        format!(
            "Sandbox clusters are up:\n  one              URL\n\nUse them with:\n  export KUBECONFIG={}\n  kubectl --context one get ns\n\nPress Ctrl-C to stop.\n",
            kubeconfig.display()
        )
    );
    let written = std::fs::read_to_string(&kubeconfig).unwrap();

    // A second sandbox may not take over the running one's kubeconfig.
    let second = p
        .runner(&[
            "sandbox",
            "up",
            "--clusters",
            "one",
            "--kubeconfig",
            "sb.kubeconfig",
        ])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let server = url.find(&said).unwrap().as_str();
    assert_eq!(
        String::from_utf8_lossy(&second.stderr).lines().next(),
        Some(
            format!(
                "  × {} belongs to sandbox clusters that are still running ({server} answers)",
                kubeconfig.display()
            )
            .as_str()
        )
    );
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), written);

    // SAFETY: kill(2) on the pid of the child this test started and has not reaped.
    unsafe {
        libc::kill(up.id() as i32, libc::SIGINT);
    }
    let status = up.wait().unwrap();
    std::mem::forget(guard);
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest,
        format!(
            "\nStopping the sandbox clusters.\nStopped; removed {}.\n",
            kubeconfig.display()
        )
    );
    assert!(
        !kubeconfig.exists(),
        "the kubeconfig of stopped clusters is left behind"
    );
}

/// Stops a child the test started if an assertion fails before the test stops it.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Every function `runner api` lists is called by at least one test: by a test's own playbook,
/// a playbook under playbooks/ that tests run, or the README's playbook blocks (tests/readme.rs).
#[test]
fn every_function_in_runner_api_is_used_by_a_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = Fixture::new().build();
    let json = p
        .runner(&["api", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let docs: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut corpus = String::new();
    let mut files = walk_all(&root.join("tests"));
    files.extend(walk_all(&root.join("playbooks")));
    files.push(root.join("README.md"));
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            corpus.push_str(&text);
        }
    }
    let unused: Vec<String> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .filter(|name| {
            let used_as = if name.starts_with('.') {
                // A property: `c.name`, `e.message`, read without parentheses.
                vec![
                    format!("{name} "),
                    format!("{name}}}"),
                    format!("{name})"),
                    format!("{name};"),
                    format!("{name},"),
                ]
            } else {
                vec![format!("{name}(")]
            };
            !used_as.iter().any(|u| corpus.contains(u.as_str()))
        })
        .collect();
    assert_eq!(unused, Vec::<String>::new(), "functions no test calls");
}

fn walk_all(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk_all(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A reader that went away (`runner api | head`) ends the output, not the command: no panic,
/// no "internal error", the command's own status. The socket's other end is closed before
/// runner starts, so its first write meets a broken pipe every time.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let p = Fixture::new().build();
    p.write("playbooks/ok.rhai", "step(\"a\", || { });\n");
    for args in [
        &["api"][..],
        &["api", "--json"],
        &["check", "playbooks/ok.rhai"],
        &["play", "--list-steps", "playbooks/ok.rhai"],
    ] {
        let (gone, stdout) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(gone);
        let out = p
            .runner(args)
            .stdout(std::os::fd::OwnedFd::from(stdout))
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), ""),
            "runner {args:?}"
        );
    }
}

/// The retry settings are documented where a user looks first: `runner play --help`, with
/// their environment variables and defaults.
#[test]
fn play_help_shows_the_retry_settings() {
    let out = crate::common::runner()
        .args(["play", "--help"])
        .env("NO_COLOR", "1")
        .env_remove("RUNNER_RETRIES")
        .env_remove("RUNNER_RETRY_BACKOFF")
        .env_remove("RUNNER_REQUEST_TIMEOUT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    let section = help
        .find("Requests to API servers:")
        .map(|at| &help[at..])
        .unwrap_or_default();
    assert_eq!(
        section,
        "Requests to API servers:
      --retries <N>
          How often a request that failed for a transient reason (HTTP 429 or 5xx, a lost
          connection, no answer in time) is tried again before the play fails
          
          [env: RUNNER_RETRIES=]
          [default: 7]

      --retry-backoff <MIN..MAX>
          The wait before the first retry and the longest wait: it doubles from MIN to MAX, with up
          to 50% jitter (a server's Retry-After is honoured up to MAX)
          
          [env: RUNNER_RETRY_BACKOFF=]
          [default: 100ms..2s]

      --request-timeout <DURATION>
          How long one try of a request may wait for the API server's answer before it is abandoned
          and, if safe, tried again (a watch's stream of events is not bounded)
          
          [env: RUNNER_REQUEST_TIMEOUT=]
          [default: 15s]
"
    );
}
