#!/usr/bin/env python3
"""Writes the malformed-input corpus under tests/malformed/cases/ (run once; the files are
committed). Each case is a tiny project: playbooks/p.rhai, maybe a vars file, templates,
manifests or a kubeconfig, an `args` file (runner's arguments, one a line) and, for symbolic
links git should not carry, a `links` file (`LINK -> TARGET`, made by the test)."""
import os, shutil, json

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
shutil.rmtree(CASES, ignore_errors=True)
count = 0

def case(name, files, args=None, links=None):
    global count
    count += 1
    d = os.path.join(CASES, f"{count:03d}-{name}")
    os.makedirs(os.path.join(d, "playbooks"), exist_ok=True)
    os.makedirs(os.path.join(d, "templates"), exist_ok=True)
    for path, text in files.items():
        full = os.path.join(d, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(d, "args"), "w", encoding="utf-8") as f:
        f.write("\n".join(args or ["play", "playbooks/p.rhai"]) + "\n")
    if links:
        with open(os.path.join(d, "links"), "w") as f:
            f.write("".join(f"{l} -> {t}\n" for l, t in links))

def rep(n, text):
    """`text` n times, written compactly; tests/malformed.rs expands it."""
    return f"\u27ea{n}\u00d7{text}\u27eb"

def deep(open_, close, n, inner="1"):
    return rep(n, open_) + inner + rep(n, close)

# --- playbooks: syntax ------------------------------------------------------------------
syntax = {
    "unclosed-brace": "fn f() {\n  1\n",
    "unclosed-paren": "print((1 + 2);\n",
    "dangling-operator": "let x = 1 +;\n",
    "double-let": "let let = 1;\n",
    "bad-string": 'let s = "abc;\n',
    "bad-backtick": "let s = `abc;\n",
    "stray-close": "}\n",
    "reserved-word": "let fn = 3;\n",
    "missing-semicolon": "let a = 1\nlet b = 2;\n",
    "bad-map-literal": "let m = #{a 1};\n",
    "bad-array-literal": "let a = [1, 2,, 3];\n",
    "bad-number": "let n = 12abc;\n",
    "bad-char": "let c = 'ab';\n",
    "if-without-block": "if true print(1);\n",
    "for-without-in": "for x [1,2] { }\n",
    "unknown-operator": "let x = 1 <=> 2;\n",
    "fn-in-block": "{ fn inner() { 1 } }\n",
    "bad-import-syntax": "import as x;\n",
    "bad-switch": "switch 1 { 1 => }\n",
    "assign-to-literal": "1 = 2;\n",
    "deep-parens": deep("(", ")", 100000) + ";\n",
    "deep-map-literal": "let x = " + deep("#{a:", "}", 100000) + ";\n",
    "deep-array-literal": "let x = " + deep("[", "]", 100000) + ";\n",
    "deep-blocks": deep("{", "}", 50000, "") + "\n",
    "deep-ifs": rep(2000, "if true { ") + "1" + rep(2000, " }") + "\n",
    "deep-unary": "let x = " + rep(100000, "-") + "1;\n",
    "nul-byte": "let x = 1;\x00\n",
    "binary-junk": "\x01\x02\x03\x04 garbage\n",
    "lone-hash": "#\n",
    "unterminated-comment": "/* never closed\nlet x = 1;\n*/ */\n",
    "undefined-variable": "print(nothing_here);\n",
    "bad-closure": "let f = |x ;\n",
}
for name, text in syntax.items():
    case("playbook-" + name, {"playbooks/p.rhai": text})
    case("check-" + name, {"playbooks/p.rhai": text}, ["check", "playbooks/p.rhai"])

case("playbook-too-large", {"playbooks/p.rhai": rep(40000, "let v = 1;\n")})
case("check-too-large", {"playbooks/p.rhai": rep(30000, "print(1);\n")}, ["check", "playbooks/p.rhai"])

# --- playbooks: runtime -----------------------------------------------------------------
runtime = {
    "json-dump-deep": "let m = #{};\nfor i in 0..200 { m = #{a: m}; }\nprint(json::dump(m));\n",
    "yaml-dump-deep": "let m = [];\nfor i in 0..200 { m = [m]; }\nprint(yaml::dump(m));\n",
    "json-parse-deep": 'let t = "' + deep("[", "]", 5000) + '";\nprint(json::parse(t));\n',
    "yaml-parse-deep": 'let t = "a: ' + deep("[", "]", 100000) + '";\nprint(yaml::parse(t));\n',
    "yaml-parse-bad": 'print(yaml::parse("a: [1, 2"));\n',
    "json-parse-bad": 'print(json::parse("{\\"a\\": }"));\n',
    "parallel-results-too-big": 'let items = []; items.pad(100000, 0);\nlet r = parallel(items, |i| { let a = []; a.pad(100, 1); a });\n',
    "parallel-strings-too-big": 'let items = []; items.pad(2000, 0);\nlet r = parallel(items, |i| { let s = "x"; s.pad(20000, "y"); s });\n',
    "string-too-big": 'let s = "x"; s.pad(20000000, "y");\n',
    "array-too-big": "let a = []; a.pad(300000, 0);\n",
    "infinite-loop": "loop { }\n",
    "infinite-recursion": "fn f(x) { f(x + 1) }\nf(0);\n",
    "read-outside": 'print(read_file("../../../../etc/passwd"));\n',
    "read-absolute": 'print(read_file("/etc/passwd"));\n',
    "write-outside": 'write_file("../escape.txt", "x");\n',
    "write-absolute": 'write_file("/tmp/runner-malformed-escape.txt", "x");\n',
    "read-missing": 'print(read_file("nope.txt"));\n',
    "import-absolute": 'import "/etc/hostname" as m;\n',
    "import-parent": 'import "../../../../../etc/hostname" as m;\n',
    "import-missing": 'import "lib/nothing" as m;\n',
    "throw-string": 'throw "broken on purpose";\n',
    "index-out-of-range": "let a = [1];\nprint(a[5]);\n",
    "type-mismatch": 'let x = 1 + "a" * 2;\n',
    "template-missing": 'print(template("nope.j2"));\n',
}
for name, text in runtime.items():
    case("runtime-" + name, {"playbooks/p.rhai": text})

case("import-self", {"playbooks/p.rhai": 'import "p" as me;\n'})
case("import-cycle", {"playbooks/p.rhai": 'import "a" as a;\n', "playbooks/a.rhai": 'import "b" as b;\n', "playbooks/b.rhai": 'import "a" as a;\n'})
case("import-syntax-error", {"playbooks/p.rhai": 'import "m" as m;\n', "playbooks/m.rhai": "export const X = ;\n"})
case("import-too-large", {"playbooks/p.rhai": 'import "m" as m;\n', "playbooks/m.rhai": rep(30000, "print(1);\n")})
case("import-through-link", {"playbooks/p.rhai": 'import "m" as m;\n'}, links=[("playbooks/m.rhai", "/etc/hostname")])
case("write-through-dangling-link", {"playbooks/p.rhai": 'write_file("rendered/c1/x.yaml", "x");\n'}, links=[("rendered", "/nonexistent-runner-target/dir")])
case("read-through-link", {"playbooks/p.rhai": 'print(read_file("data.txt"));\n'}, links=[("data.txt", "/etc/passwd")])
case("link-loop", {"playbooks/p.rhai": 'print(read_file("a"));\n'}, links=[("a", "b"), ("b", "a")])
case("manifests-link-out", {"playbooks/p.rhai": 'print(read_manifests("manifests", #{}));\n', "manifests/a.yaml": "a: 1\n"}, links=[("manifests/b.yaml", "/etc/passwd")])

# --- templates ------------------------------------------------------------------------
templates = {
    "unclosed-tag": "{% if x %}\nhello\n",
    "unclosed-expr": "{{ x \n",
    "bad-filter": "{{ 1 | no_such_filter }}\n",
    "undefined": "{{ not_defined.at_all }}\n",
    "bad-endfor": "{% for x in [1] %}{% endif %}\n",
    "deep-array": "{{ " + deep("[", "]", 20000) + " }}\n",
    "deep-parens": "{{ " + deep("(", ")", 20000) + " }}\n",
    "nested-loops": "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}\n",
    "recursive-macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}\n",
    "self-include": '{% include "t.j2" %}\n',
    "include-missing": '{% include "missing.j2" %}\n',
    "bad-include-name": '{% include "../p.rhai" %}\n',
    "division-by-zero": "{{ 1 // 0 }}\n",
    "bad-call": "{{ range() }}\n",
    "unknown-test": "{% if 1 is frobnicated %}x{% endif %}\n",
    "bad-set": "{% set = 1 %}\n",
    "unclosed-comment": "{# never closed\n",
    "unclosed-raw": "{% raw %} never closed\n",
    "bad-string": "{{ 'abc }}\n",
    "big-range": "{{ range(1000000000) | length }}\n",
    "b64decode-bad": "{{ '!!!' | b64decode }}\n",
    "extends-missing": '{% extends "base.j2" %}\n',
    "bad-block": "{% block %}{% endblock %}\n",
    "deep-if": rep(2000, "{% if true %}") + "x" + rep(2000, "{% endif %}") + "\n",
    "string-bomb": "{{ 'x' * 10000000000 }}\n",
}
for name, text in templates.items():
    case("template-" + name, {"playbooks/p.rhai": 'print(template("t.j2"));\n', "templates/t.j2": text})
case("template-link-passwd", {"playbooks/p.rhai": 'print(template("t.j2"));\n'}, links=[("templates/t.j2", "/etc/passwd")])
case("template-link-dangling", {"playbooks/p.rhai": 'print(template("t.j2"));\n'}, links=[("templates/t.j2", "/nonexistent-runner-target/t.j2")])
case("template-include-link", {"playbooks/p.rhai": 'print(template("t.j2"));\n', "templates/t.j2": '{% include "inc.j2" %}\n'}, links=[("templates/inc.j2", "/etc/hostname")])

# --- vars files -----------------------------------------------------------------------
vars_files = {
    "unclosed-flow": "a: [1, 2\n",
    "unclosed-map": "a: {b: 1\n",
    "bad-indent": "a:\n  b: 1\n c: 2\n",
    "tab-indent": "a:\n\tb: 1\n",
    "duplicate-key": "a: 1\na: 2\n",
    "duplicate-nested": "a:\n  b: 1\n  b: 2\n",
    "top-level-list": "- 1\n- 2\n",
    "top-level-scalar": "just text\n",
    "deep-flow-map": "a: " + deep("{b: ", "}", 100000) + "\n",
    "deep-flow-seq": "a: " + deep("[", "]", 100000) + "\n",
    "deep-json": deep('{"a":', "}", 100000) + "\n",
    "deep-block": "".join("  " * i + "k:\n" for i in range(200)) + "  " * 200 + "k: 1\n",
    "bad-anchor": "a: *nothing\n",
    "unclosed-quote": 'a: "abc\n',
    "bad-escape": 'a: "\\q"\n',
    "colon-mess": "a: b: c\n",
    "bad-tag": "a: !!int abc\n",
    "multi-document": "a: 1\n---\nb: 2\n",
    "invalid-utf8-ish": "a: \"\\xff\\xfe\"\nb: [\n",
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
    "complex-key": "? [a, b]\n: 1\nc: [\n",
    "directive": "%YAML 9.9\n---\na: 1\n",
    "stray-dash": "a: 1\n- b\n",
}
for name, text in vars_files.items():
    case("vars-" + name, {"playbooks/p.rhai": "print(vars);\n", "v.yaml": text}, ["play", "playbooks/p.rhai", "--vars", "v.yaml"])
case("vars-missing-file", {"playbooks/p.rhai": "print(vars);\n"}, ["play", "playbooks/p.rhai", "--vars", "absent.yaml"])
case("vars-defaults-bad", {"playbooks/p.rhai": "print(vars);\n", "playbooks/p.vars.yaml": "a: [\n"})
case("vars-schema-bad-yaml", {"playbooks/p.rhai": "print(vars);\n", "playbooks/p.vars.schema.yaml": "type: [\n"})
case("vars-schema-violation", {"playbooks/p.rhai": "print(vars);\n", "playbooks/p.vars.schema.yaml": "type: object\nproperties:\n  n: {type: integer}\n", "v.yaml": "n: text\n"}, ["play", "playbooks/p.rhai", "--vars", "v.yaml"])

# --- --var values ---------------------------------------------------------------------
var_values = {
    "no-equals": "novalue",
    "empty-key": "=1",
    "empty-part": "a..b=1",
    "bad-key": "a b=1",
    "no-value": "a=",
    "bad-yaml": "a=[1, 2",
    "bad-yaml-map": "a={b: 1",
    "comment-only": "a=# nothing",
    "deep-json": "a=" + deep('{"a":', "}", 20000),
    "deep-flow": "a=" + deep("[", "]", 30000),
    "index-on-map": "a=1",
    "unclosed-quote": "a='abc",
    "tab": "a=\tb: [1\t",
    "bad-tag": "a=!!int abc",
}
for name, text in var_values.items():
    args = ["play", "playbooks/p.rhai", "--var", text]
    files = {"playbooks/p.rhai": "print(vars);\n"}
    if name == "index-on-map":
        args = ["play", "playbooks/p.rhai", "--var", "a=1", "--var", "a.b=2"]
    case("var-" + name, files, args)

# --- manifests (parsed by the play; no cluster needed) --------------------------------
manifests = {
    "unclosed-flow": "apiVersion: v1\nkind: ConfigMap\ndata: {a: 1\n",
    "bad-indent": "apiVersion: v1\nkind: ConfigMap\n metadata: {}\n",
    "deep-flow": "apiVersion: v1\nkind: ConfigMap\ndata: " + deep("{a: ", "}", 100000) + "\n",
    "deep-seq": "items: " + deep("[", "]", 100000) + "\n",
    "deep-json": deep('{"a":', "}", 50000) + "\n",
    "duplicate-doc-error": "a: 1\n---\nb: [\n",
    "tab": "apiVersion: v1\n\tkind: x\n",
    "bad-anchor": "a: *missing\n",
    "unclosed-quote": "a: 'x\n",
    "scalar-garbage": "a: b: c\n",
    "stray-dash": "kind: List\n- a\n",
    "deep-block": "".join("  " * i + "k:\n" for i in range(200)) + "  " * 200 + "k: 1\n",
}
for name, text in manifests.items():
    case("manifest-" + name, {"playbooks/p.rhai": 'print(yaml::parse(read_file("m.yaml")));\n', "m.yaml": text})
    case("manifests-dir-" + name, {"playbooks/p.rhai": 'print(yaml::parse(read_manifests("manifests", #{})));\n', "manifests/m.yaml": text})

# --- kubeconfigs ----------------------------------------------------------------------
SECRET = "Zm9vLXNlY3JldC10b2tlbi1ERUFEQkVFRg"
good_head = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
kubeconfigs = {
    "token-unclosed-flow": good_head + f"users:\n- name: u\n  user:\n    token: [{SECRET}\n    password: hunter2-{SECRET}\n",
    "password-wrong-type": good_head + f"users:\n- name: u\n  user:\n    token: {SECRET}\n    password: [hunter2-{SECRET}]\n",
    "token-map": good_head + f"users:\n- name: u\n  user:\n    token: {{value: {SECRET}}}\n",
    "clusters-not-list": f"apiVersion: v1\nkind: Config\nclusters: {SECRET}\n",
    "bad-indent": good_head + f"users:\n- name: u\n  user:\n    token: {SECRET}\n   password: {SECRET}\n",
    "tab": good_head + f"users:\n- name: u\n\tuser: {{token: {SECRET}}}\n",
    "deep": good_head + "users: " + deep("[", "]", 100000) + "\n",
    "duplicate-key": good_head + f"users:\n- name: u\n  user:\n    token: {SECRET}\n    token: {SECRET}x\n",
    "unclosed-quote": good_head + f'users:\n- name: u\n  user:\n    token: "{SECRET}\n',
    "binary": "\x01\x02" + SECRET + "\n",
    "context-missing": good_head.replace("current-context: x", "current-context: nope") + f"users:\n- name: u\n  user:\n    token: {SECRET}\n",
    "client-key-bad": good_head + f"users:\n- name: u\n  user:\n    client-key-data: {SECRET}!!\n    client-certificate-data: {SECRET}\n",
}
for name, text in kubeconfigs.items():
    case("kubeconfig-" + name, {"playbooks/p.rhai": 'let c = cluster("x");\nprint(exists(c, "v1/Namespace", "a"));\n', "kc.yaml": text}, ["play", "playbooks/p.rhai", "--kubeconfig", "kc.yaml", "--yes"])

# --- resources: cost that grows faster than the operation count -------------------------
resources = {
    # Each turn copies the whole map into a deeper one: quadratic, yet few operations.
    "cpu-nested-map-loop": "let m = #{};\nfor i in 0..1000000 {\n    m = #{ inner: m, i: i };\n}\n",
    # Each turn copies a map that keeps growing.
    "cpu-copy-growing-map": "let m = #{};\nfor i in 0..150000 {\n    m[`k${i}`] = #{ a: #{ b: i } };\n    let copy = m;\n}\n",
    # Each value is within Rhai's limits; together they are gigabytes.
    "memory-many-large-strings": "let a0 = \"\";\na0.pad(16000000, \"x\");\n" + "".join(f"let a{i} = a0 + \"{i}\";\n" for i in range(1, 150)),
}
for name, text in resources.items():
    case("resources-" + name, {"playbooks/p.rhai": text})

print(count)
