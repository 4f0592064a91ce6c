//! The certs:: functions through the binary: creation, reuse, dry run, and refusals.

use crate::common;

use common::fixture::same;
use common::Fixture;

const PLAY: &str = r#"
step("ca", || {
    let root = certs::ensure_root_ca("certs", #{ key_type: "ecdsa-p256" });
    for cluster in ["cluster-1", "cluster-2"] {
        let ca = certs::ensure_intermediate_ca(root, "certs", cluster, #{ key_type: "ecdsa-p256" });
        certs::verify_chain(ca.cert_chain_pem, root.cert_pem);
        let secret = certs::cacerts_secret(ca.dir);
        write_file(`out/${cluster}-keys`, `${secret.data.keys()}`);
    }
    let info = certs::inspect(root.cert_pem);
    write_file("out/root-subject", info.subject);
});
"#;

#[test]
fn a_play_creates_the_hierarchy_once_and_reuses_it() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  created    intermediate CA certs/cluster-1
  created    file out/cluster-1-keys
  created    intermediate CA certs/cluster-2
  created    file out/cluster-2-keys
  created    file out/root-subject
  => changed · local · created 6 · TIME

PLAY RECAP (TIME)
local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    let chain = p.read("certs/cluster-1/cert-chain.pem");
    assert!(p.read("out/cluster-1-keys").contains("ca-key.pem"));
    assert!(p.read("out/root-subject").contains("CN=Root CA"));

    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  => ok · unchanged 6 · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=6    deleted=0    steps ok=1   failed=0   rescued=0
nothing changed
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(
        p.read("certs/cluster-1/cert-chain.pem"),
        chain,
        "a second run reuses the files"
    );
}

#[test]
fn a_dry_run_writes_no_certificate() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    let tmp = tempfile::tempdir().unwrap();
    let out = p
        .runner(&[
            "play",
            "playbooks/ca.rhai",
            "--dry-run",
            "--diff",
            "summary",
        ])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Durations vary: everything else is exact.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("  => ") && !l.starts_with("PLAY RECAP"))
        .collect();
    assert_eq!(
        lines,
        [
            "PLAY playbooks/ca.rhai (dry run: nothing is written)",
            "PLAN: 0 to create, 0 to change, 0 to delete (0 unchanged); 6 local change(s)",
            "  CLUSTER  KIND  NAMESPACE/NAME                   ACTION",
            "  local    -     root CA certs/root-cert.pem      create",
            "  local    -     intermediate CA certs/cluster-1  create",
            "  local    -     file out/cluster-1-keys          create",
            "  local    -     intermediate CA certs/cluster-2  create",
            "  local    -     file out/cluster-2-keys          create",
            "  local    -     file out/root-subject            create",
            "",
            "STEP [ca]",
            "  would create root CA certs/root-cert.pem",
            "  would create intermediate CA certs/cluster-1",
            "  would write file out/cluster-1-keys",
            "  would create intermediate CA certs/cluster-2",
            "  would write file out/cluster-2-keys",
            "  would write file out/root-subject",
            "",
            "local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0",
        ],
        "{stdout}"
    );
    assert!(!p.exists("certs"), "dry run must not create the CA");
    assert!(!p.exists("out"), "dry run must not write files");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no key is copied to a temporary directory"
    );
}

#[test]
fn a_dry_run_plans_with_an_existing_ca_read_where_it_is() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  created    intermediate CA certs/cluster-1
  created    file out/cluster-1-keys
  created    intermediate CA certs/cluster-2
  created    file out/cluster-2-keys
  created    file out/root-subject
  => changed · local · created 6 · TIME

PLAY RECAP (TIME)
local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    let tmp = tempfile::tempdir().unwrap();
    p.test()
        .masking_timings()
        .args([
        "play",
        "playbooks/ca.rhai",
        "--dry-run",
        "--detailed-exitcode",
    ])
        .env("TMPDIR", tmp.path())
        .stdout(r#"PLAY playbooks/ca.rhai (dry run: nothing is written)
PLAN: no changes (0 objects unchanged)

STEP [ca]
  => ok · unchanged 6 · TIME

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=6    deleted=0    steps ok=1   failed=0   rescued=0
nothing changed
"#)
        .stderr("")
        .status(0)
        .run();
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_foreign_root_is_refused_and_nothing_is_overwritten() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  created    intermediate CA certs/cluster-1
  created    file out/cluster-1-keys
  created    intermediate CA certs/cluster-2
  created    file out/cluster-2-keys
  created    file out/root-subject
  => changed · local · created 6 · TIME

PLAY RECAP (TIME)
local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    let before = p.read("certs/cluster-1/ca-cert.pem");
    std::fs::remove_file(p.dir().join("certs/root-cert.pem")).unwrap();
    std::fs::remove_file(p.dir().join("certs/root-key.pem")).unwrap();
    let refused = p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  => failed · local · created 1 · TIME

PLAY RECAP (TIME)
local    : created=1    configured=0    unchanged=0    deleted=0    steps ok=0   failed=1   rescued=0
"#)
        .status(1)
        .run();
    // The root this run made in place of the removed one, named by its fingerprint.
    let new_root = common::checks::fingerprint(&p.path("certs/root-cert.pem"));
    same(
        "stderr",
        &refused
            .stderr
            .replace(&p.dir().display().to_string(), "<project>")
            .replace(&new_root, "<new root>"),
        r#"  × step [ca] failed: cluster "cluster-1": <project>/certs/cluster-1/ca-cert.pem was not issued by the mesh root (signature check failed (signature verification error); its issuer is "O=Istio, CN=Root CA"). The mesh root is <project>/certs/root-cert.pem ("O=Istio, CN=Root CA", SHA-256 <new root>). The files in <project>/certs/cluster-1 belong to another CA and were left untouched: replacing them would break mTLS between this cluster and the mesh. Move that directory away deliberately, or use the root CA they were made with
   ╭─[playbooks/ca.rhai:2:1]
 1 │ 
 2 │ step("ca", || {
   · ──┬─
   ·   ╰── in step [ca]
 3 │     let root = certs::ensure_root_ca("certs", #{ key_type: "ecdsa-p256" });
   ╰────
"#,
    );
    assert_eq!(p.read("certs/cluster-1/ca-cert.pem"), before);
}

#[test]
fn an_unknown_option_is_named() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/o.rhai",
        "certs::ensure_root_ca(\"certs\", #{ keytype: \"rsa-2048\" });",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/o.rhai"])
        .stdout(r#"PLAY playbooks/o.rhai

PLAY RECAP (TIME)
(no steps ran)
"#)
        .stderr(r#"  × certs::ensure_root_ca: unknown option "keytype" (options: key_type, validity_days, organization, common_name, country, state, locality, expiry_warn_days, lock_wait_secs)
"#)
        .status(1)
        .run();
    assert!(!p.exists("certs/root-key.pem"));
}

#[test]
fn a_planned_rotation_moves_and_writes_nothing() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  created    intermediate CA certs/cluster-1
  created    file out/cluster-1-keys
  created    intermediate CA certs/cluster-2
  created    file out/cluster-2-keys
  created    file out/root-subject
  => changed · local · created 6 · TIME

PLAY RECAP (TIME)
local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    let before = p.read("certs/cluster-1/ca-cert.pem");
    p.write(
        "playbooks/rotate.rhai",
        r#"
        let root = certs::ensure_root_ca("certs", #{ key_type: "ecdsa-p256" });
        let ca = certs::rotate_intermediate(root, "certs", "cluster-1", #{ key_type: "ecdsa-p256" });
        certs::verify_chain(ca.cert_chain_pem, root.cert_pem);
        let secret = certs::cacerts_secret(ca.dir);
        print(`status=${ca.status} keys=${secret.data.keys()}`);
        "#,
    );
    let tmp = tempfile::tempdir().unwrap();
    p.test()
        .masking_timings()
        .args(["play", "playbooks/rotate.rhai", "--dry-run", "--detailed-exitcode"])
        .env("TMPDIR", tmp.path())
        .stdout(r#"PLAY playbooks/rotate.rhai (dry run: nothing is written)
PLAN: 0 to create, 0 to change, 0 to delete (0 unchanged); 1 local change(s)
  CLUSTER  KIND  NAMESPACE/NAME                   ACTION
  local    -     intermediate CA certs/cluster-1  change
  would rotate intermediate CA certs/cluster-1
  status=rotated keys=["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]

PLAY RECAP (TIME)
local    : created=0    configured=1    unchanged=1    deleted=0    steps ok=0   failed=0   rescued=0
"#)
        .stderr("")
        .status(3)
        .run();
    assert_eq!(p.read("certs/cluster-1/ca-cert.pem"), before);
    let entries: Vec<String> = std::fs::read_dir(p.dir().join("certs/cluster-1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 4, "no backup folder: {entries:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn check_cacerts_names_a_bad_option_and_refuses_an_unsafe_directory() {
    let p = Fixture::new().build();
    p.write(
        "playbooks/o.rhai",
        "certs::check_cacerts(\"c1\", \"\", \"certs\", \"c1\", (), #{ rotate: true });",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/o.rhai"])
        .stdout(
            r#"PLAY playbooks/o.rhai

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr("  × certs::check_cacerts: unknown option \"rotate\" (options: rotation)\n")
        .status(1)
        .run();
    p.write(
        "playbooks/d.rhai",
        "certs::check_cacerts(\"c1\", \"\", \"certs\", \"../c1\", (), #{});",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/d.rhai"])
        .stdout(
            r#"PLAY playbooks/d.rhai

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr(
            r#"  × invalid cluster name "../c1": only letters, digits, '-', '_' and '.' are allowed
"#,
        )
        .status(1)
        .run();
    p.write(
        "playbooks/a.rhai",
        "let v = certs::check_cacerts(\"c1\", \"\", \"certs\", \"c1\", (), #{}); print(`${v.action} ${v.live} ${v.notes}`);",
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/a.rhai"])
        .stdout(
            r#"PLAY playbooks/a.rhai
  apply  []

PLAY RECAP (TIME)
(no steps ran)
"#,
        )
        .stderr("")
        .status(0)
        .run();
}

/// The reading functions: a certificate file inspected in place, two roots compared, documents
/// printed as a YAML stream, and an error's debug form.
#[test]
fn certificates_are_read_compared_and_printed() {
    let p = Fixture::new().build();
    p.write("playbooks/ca.rhai", PLAY);
    p.test()
        .masking_timings()
        .args(["play", "playbooks/ca.rhai"])
        .stdout(r#"PLAY playbooks/ca.rhai

STEP [ca]
  created    root CA certs/root-cert.pem
  created    intermediate CA certs/cluster-1
  created    file out/cluster-1-keys
  created    intermediate CA certs/cluster-2
  created    file out/cluster-2-keys
  created    file out/root-subject
  => changed · local · created 6 · TIME

PLAY RECAP (TIME)
local    : created=6    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0
"#)
        .stderr("")
        .status(0)
        .run();
    p.write(
        "playbooks/read.rhai",
        r#"
        let root = certs::ensure_root_ca("certs");
        let file = certs::inspect_file("certs/root-cert.pem");
        print(`file: ${file.subject} ca=${file.is_ca}`);
        let same = certs::compare_roots(root.cert_pem, read_file("certs/cluster-1/root-cert.pem"));
        print(`same root: ${same.same}`);
        let stream = yaml::dump_all([#{ a: 1 }, #{ b: "two" }]);
        print(`stream: ${stream.split("\n")}`);
        try { certs::verify_chain("not a chain", root.cert_pem); } catch (e) { print(`debug: ${e.to_debug().len() > 0}`); }
        "#,
    );
    p.test()
        .masking_timings()
        .args(["play", "playbooks/read.rhai"])
        .stdout(r#"PLAY playbooks/read.rhai
  warning: the existing root CA key is ecdsa-256; the key_type option (rsa-4096) only applies to new CAs
  file: O=Istio, CN=Root CA ca=true
  same root: true
  stream: ["---", "a: 1", "---", "b: two", ""]
  debug: true

PLAY RECAP (TIME)
local    : created=0    configured=0    unchanged=1    deleted=0    steps ok=0   failed=0   rescued=0
nothing changed
"#)
        .stderr("")
        .status(0)
        .run();
}
