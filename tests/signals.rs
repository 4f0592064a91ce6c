//! SIGTERM takes the way out Ctrl-C takes: `--sandbox --watch` leaves no admin kubeconfig in
//! the temporary directory, and while it runs that kubeconfig is private (0700 dir, 0600 file);
//! nor does a second Ctrl-C, which exits at once.

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

/// A second Ctrl-C exits at once, without destructors: the rehearsal's directory, with the admin
/// kubeconfig a program was given, goes all the same. The play is held where no cancellation
/// reaches it (reading a FIFO nobody writes), so the second signal always finds it running.
#[test]
fn a_second_ctrl_c_exits_at_once_and_still_removes_the_admin_kubeconfig() {
    let project = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("playbooks")).unwrap();
    std::fs::write(
        project.path().join("playbooks/hold.rhai"),
        "let c = cluster(\"a\");\nexec(\"true\", []);\nwrite_file(\"started\", \"\");\nread_file(\"pipe\");\n",
    )
    .unwrap();
    let fifo = std::ffi::CString::new(project.path().join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let stderr_path = project.path().join("stderr");
    let mut child = crate::common::runner()
        .args(["play", "playbooks/hold.rhai", "--sandbox"])
        .current_dir(project.path())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool, child: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                panic!(
                    "never {what}; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(
        "reached the FIFO",
        &|| project.path().join("started").exists(),
        &mut child,
    );
    let dirs: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let kubeconfig = std::fs::read_to_string(dirs[0].join("sandbox.kubeconfig")).unwrap();
    assert!(kubeconfig.contains("\"name\": \"a\""), "{kubeconfig}");

    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    wait_for(
        "said it is interrupting",
        &|| {
            std::fs::read_to_string(&stderr_path)
                .unwrap()
                .contains("runner: interrupting")
        },
        &mut child,
    );
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        std::fs::read_to_string(&stderr_path).unwrap(),
        "runner: interrupting: abandoning the current request (Ctrl-C again to exit at once)\n\
         runner: interrupted twice, exiting now\n"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the temporary directory: {left:?}");
}
