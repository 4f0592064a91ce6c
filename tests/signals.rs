//! SIGTERM takes the way out Ctrl-C takes: `--sandbox --watch` leaves no admin kubeconfig in
//! the temporary directory, and while it runs that kubeconfig is private (0700 dir, 0600 file).

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn sigterm_during_sandbox_watch_removes_the_admin_kubeconfig() {
    let project = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("playbooks")).unwrap();
    std::fs::write(
        project.path().join("playbooks/w.rhai"),
        "let c = cluster(\"a\");\nprint(exists(c, \"v1/Namespace\", \"default\"));\n",
    )
    .unwrap();
    let stderr_path = project.path().join("output");
    let mut child = crate::common::runner()
        .args(["play", "playbooks/w.rhai", "--sandbox", "--watch"])
        .current_dir(project.path())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stderr_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the event that says the first run is over and the watch began.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&stderr_path)
        .unwrap()
        .contains("watching 1 file(s)")
    {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the watch never started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dirs: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("runner-sandbox-")
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dirs[0]), 0o700);
    assert_eq!(mode(&dirs[0].join("sandbox.kubeconfig")), 0o600);

    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(std::fs::read_to_string(&stderr_path)
        .unwrap()
        .ends_with("watch stopped\n"));
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the temporary directory: {left:?}");
}
