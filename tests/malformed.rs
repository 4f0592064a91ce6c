//! The malformed-input corpus (tests/malformed/cases, written by tests/malformed/generate.py):
//! every case exits 1 or 2 with exactly one located error, pinned in
//! tests/malformed/expected.tsv; none aborts, none takes 60 s of processor time or 1 GiB (the
//! child's own rusage), and no output shows a kubeconfig's token or password.
//!
//! Time is judged by the child's processor time, which a busy machine does not change; wall
//! time only backs it up, killing a case that hangs (waits without computing) after
//! `HANG_BOUND`.
//!
//! `BLESS=1 cargo test --test main -- malformed::` rewrites the expectations (review the diff).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TIME_BOUND: Duration = Duration::from_secs(60);
/// Far above `TIME_BOUND`: on a machine shared by many builds a case that computes for its
/// whole (bounded) processor time can take minutes of wall time.
const HANG_BOUND: Duration = Duration::from_secs(600);
const MEMORY_BOUND_KB: i64 = 1024 * 1024;
/// Values the corpus's kubeconfigs hold as tokens and passwords: no output may show them.
const SECRETS: &[&str] = &["Zm9vLXNlY3JldC10b2tlbi1ERUFEQkVFRg", "hunter2"];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

/// Expands `⟪N×TEXT⟫` (TEXT repeated N times), which keeps deep and huge inputs small in git.
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('⟪') {
        out.push_str(&rest[..start]);
        let after = &rest[start + '⟪'.len_utf8()..];
        let times = after.find('×').expect("⟪N× in corpus file");
        let count: usize = after[..times].parse().expect("count in corpus file");
        let body = &after[times + '×'.len_utf8()..];
        let end = body.find('⟫').expect("⟫ in corpus file");
        out.push_str(&body[..end].repeat(count));
        rest = &body[end + '⟫'.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn copy_case(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "args" || name == "links" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_case(&entry.path(), &target);
        } else {
            let text = fs::read_to_string(entry.path()).unwrap();
            fs::write(&target, expand(&text)).unwrap();
        }
    }
}

struct Outcome {
    exit: i32,
    signal: i32,
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
    stdout: String,
    stderr: String,
}

/// Runs the binary and waits for it with wait4, so the rusage is the child's own.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know about
fn run(case: &Path, work: &Path) -> Outcome {
    let args: Vec<String> = fs::read_to_string(case.join("args"))
        .unwrap()
        .lines()
        .map(expand)
        .collect();
    let out_path = work.join(".stdout");
    let err_path = work.join(".stderr");
    let started = Instant::now();
    let child = crate::common::runner()
        .args(&args)
        .current_dir(work)
        .env_remove("KUBECONFIG")
        .env("HOME", work)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: rusage is plain data written by the kernel; pid is our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to locals that outlive the call; pid is our own child.
        let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        let _ = done_tx.send(());
        assert_eq!(waited, pid, "wait4");
        (status, usage)
    });
    if done_rx.recv_timeout(HANG_BOUND).is_err() {
        // SAFETY: kill of our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let (status, usage) = waiter.join().unwrap();
    let wall = started.elapsed();
    let cpu = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Outcome {
        exit: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        signal: if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        },
        wall,
        cpu: cpu(usage.ru_utime) + cpu(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// The error lines (`× …`) and the first place the report points at (`╭─[file:line:col]`).
fn errors_and_place(stderr: &str) -> (Vec<String>, String) {
    let errors = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("× "))
        .map(str::to_string)
        .collect();
    let place = stderr
        .lines()
        .find_map(|l| {
            let start = l.find("╭─[")? + "╭─[".len();
            let end = l[start..].find(']')? + start;
            Some(l[start..end].to_string())
        })
        .unwrap_or_else(|| "-".to_string());
    (errors, place)
}

/// A message is located when it names a line (`file:12`, `:12:3`, `line 12`), or, for what
/// is wrong with a whole input (its size, its kind, a missing file), the file or the `--var`.
fn located(message: &str) -> bool {
    let re =
        regex::Regex::new(r"(:\d+(:\d+)?\b)|(\bline \d+)|(\.(rhai|ya?ml|j2)\b)|(--var )").unwrap();
    re.is_match(message)
}

#[test]
fn every_malformed_input_fails_with_one_located_error_within_bounds() {
    let cases_dir = corpus().join("cases");
    let mut cases: Vec<PathBuf> = fs::read_dir(&cases_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());

    let scratch = tempfile::tempdir().unwrap();
    // Two at a time: the machine is shared, and the bounds are per process.
    let (tx, rx) = mpsc::channel();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(cases.clone()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (queue, tx, root) = (queue.clone(), tx.clone(), scratch.path().to_path_buf());
            std::thread::spawn(move || loop {
                let Some(case) = queue.lock().unwrap().pop() else {
                    break;
                };
                let name = case.file_name().unwrap().to_string_lossy().into_owned();
                let work = root.join(&name);
                fs::create_dir_all(&work).unwrap();
                copy_case(&case, &work);
                if let Ok(links) = fs::read_to_string(case.join("links")) {
                    for line in links.lines() {
                        let (link, target) = line.split_once(" -> ").unwrap();
                        let link = work.join(link);
                        fs::create_dir_all(link.parent().unwrap()).unwrap();
                        std::os::unix::fs::symlink(target, link).unwrap();
                    }
                }
                let outcome = run(&case, &work);
                tx.send((name, outcome)).unwrap();
            })
        })
        .collect();
    drop(tx);
    let results: BTreeMap<String, Outcome> = rx.iter().collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let expected_file = corpus().join("expected.tsv");
    let mut actual = String::from("# case\texit\terror\tplace\n");
    let mut failures = Vec::new();
    for (name, outcome) in &results {
        let case_dir = scratch.path().join(name).display().to_string();
        let (errors, place) = errors_and_place(&outcome.stderr.replace(&case_dir, "$CASE"));
        let message = errors
            .first()
            .map(|m| {
                m.chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<String>()
            })
            .unwrap_or_default();
        let (message, place) = settled(name, &message, &place);
        actual.push_str(&format!("{name}\t{}\t{message}\t{place}\n", outcome.exit));
        let mut fail = |why: String| failures.push(format!("{name}: {why}\n{}", outcome.stderr));
        if outcome.signal != 0 {
            fail(format!("killed by signal {}", outcome.signal));
        }
        if outcome.exit != 1 && outcome.exit != 2 {
            fail(format!("exit {} (expected 1 or 2)", outcome.exit));
        }
        if errors.len() != 1 {
            fail(format!("{} error lines (expected one)", errors.len()));
        }
        if place == "-" && !located(&message) {
            fail(format!("the error names no place: {message:?}"));
        }
        if outcome.cpu >= TIME_BOUND {
            fail(format!(
                "took {:?} ({:?} of CPU)",
                outcome.wall, outcome.cpu
            ));
        }
        if outcome.max_rss_kb >= MEMORY_BOUND_KB {
            fail(format!("used {} KiB", outcome.max_rss_kb));
        }
        for text in [&outcome.stdout, &outcome.stderr] {
            for bad in ["stack overflow", "panicked", "RUST_BACKTRACE"] {
                if text.contains(bad) {
                    fail(format!("output shows {bad:?}"));
                }
            }
            for secret in SECRETS {
                if text.contains(secret) {
                    fail("output shows a kubeconfig secret".to_string());
                }
            }
        }
    }
    if std::env::var_os("BLESS").is_some() {
        fs::write(&expected_file, &actual).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let expected = fs::read_to_string(&expected_file).unwrap_or_default();
    let scratch_shown = scratch.path().display().to_string();
    assert!(
        !actual.contains(&scratch_shown),
        "an expectation would pin the scratch directory"
    );
    for (want, got) in expected.lines().zip(actual.lines()) {
        assert_eq!(got, want, "tests/malformed/expected.tsv differs");
    }
    assert_eq!(expected.lines().count(), actual.lines().count());
}

/// What of a case's message and place does not depend on timing. A bound that stops work in
/// flight stops it wherever the work happened to be: `parallel` says how many calls had
/// returned (and how far the results had grown), and a processor-time or heap bound stops the
/// script at whichever operation of the line was running, so for those (`-resources-` cases)
/// the place keeps its file and line but not its column.
fn settled(name: &str, message: &str, place: &str) -> (String, String) {
    let counts = regex::Regex::new(r"(grew past|stopped after) \d+").unwrap();
    let message = counts.replace_all(message, "$1 N").into_owned();
    let place = match place.rsplit_once(':') {
        Some((file_line, _column)) if name.contains("-resources-") => file_line.to_string(),
        _ => place.to_string(),
    };
    (message, place)
}
