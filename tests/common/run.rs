//! The built `runner` binary as a command whose every output is checked for secrets
//! (`common::leaks`) before a test sees it. Tests get it from `common::runner()` and use it as
//! they would a `std::process::Command`; `assert()` gives assert_cmd's assertions.

use std::ffi::OsStr;
use std::io::{self, BufRead as _, BufReader, Read, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use assert_cmd::assert::{Assert, OutputAssertExt as _};

use super::leaks;

/// The built `runner` binary, with the test process's environment, not yet started.
pub(crate) fn runner() -> Runner {
    Runner {
        cmd: Command::new(env!("CARGO_BIN_EXE_runner")),
    }
}

/// Records what a run printed: fails the calling test when it holds a secret.
pub(crate) fn record(output: &Output) {
    record_text("stdout", &String::from_utf8_lossy(&output.stdout));
    record_text("stderr", &String::from_utf8_lossy(&output.stderr));
}

/// Records text a test read from a running `runner` itself (a pipe it reads line by line).
pub(crate) fn record_text(stream: &str, text: &str) {
    leaks::check("runner", stream, text);
}

pub(crate) struct Runner {
    cmd: Command,
}

impl Runner {
    pub(crate) fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub(crate) fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub(crate) fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub(crate) fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    pub(crate) fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub(crate) fn env_clear(&mut self) -> &mut Self {
        self.cmd.env_clear();
        self
    }

    pub(crate) fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    pub(crate) fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stdin(cfg);
        self
    }

    pub(crate) fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stdout(cfg);
        self
    }

    pub(crate) fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stderr(cfg);
        self
    }

    /// Runs to the end, as `Command::output` does, and records what it printed.
    pub(crate) fn output(&mut self) -> io::Result<Output> {
        let output = self.cmd.output()?;
        record(&output);
        Ok(output)
    }

    /// Runs to the end, records what it printed, and hands it to assert_cmd's assertions.
    pub(crate) fn assert(&mut self) -> Assert {
        let output = self.output().expect("runner starts");
        output
            .assert()
            .append_context("command", format!("{:?}", self.cmd))
    }

    /// Starts it. What it prints on a piped stdout or stderr passes through a recorder that
    /// checks each line before the test can read it; a leak fails the test when it collects the
    /// output or drops the child.
    pub(crate) fn spawn(&mut self) -> io::Result<RunningRunner> {
        let mut child = self.cmd.spawn()?;
        let leaks = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            child.stdout = Some(ChildStdout::from(tee("stdout", out, &leaks)?));
        }
        if let Some(err) = child.stderr.take() {
            child.stderr = Some(ChildStderr::from(tee("stderr", err, &leaks)?));
        }
        Ok(RunningRunner {
            child: Some(child),
            leaks,
        })
    }
}

/// A stream carrying what `from` carries, line by line, each line checked for secrets first.
/// When the test closes its end, so does the recorder, and the runner sees a closed pipe as
/// before.
fn tee(
    stream: &'static str,
    from: impl Read + Send + 'static,
    leaks: &Arc<Mutex<Vec<String>>>,
) -> io::Result<OwnedFd> {
    // A socket pair rather than a pipe: std's pipe() is newer than the crate's rust-version.
    let (reader, mut writer) = UnixStream::pair()?;
    let leaks = Arc::clone(leaks);
    std::thread::spawn(move || {
        let mut from = BufReader::new(from);
        let mut line = Vec::new();
        loop {
            line.clear();
            match from.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let found = leaks::find(&String::from_utf8_lossy(&line));
            if !found.is_empty() {
                let mut all = leaks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                all.push(format!(
                    "runner printed secrets on {stream}: {}",
                    found.join("; ")
                ));
            }
            if writer.write_all(&line).is_err() {
                break;
            }
        }
    });
    Ok(OwnedFd::from(reader))
}

pub(crate) struct RunningRunner {
    /// Taken by `wait_with_output`.
    child: Option<Child>,
    leaks: Arc<Mutex<Vec<String>>>,
}

impl RunningRunner {
    pub(crate) fn wait_with_output(mut self) -> io::Result<Output> {
        let child = self.child.take().expect("not yet collected");
        let output = child.wait_with_output()?;
        self.assert_no_leak();
        record(&output);
        Ok(output)
    }

    /// `wait_with_output` for a child a test keeps in a struct.
    pub(crate) fn collect_output(&mut self) -> io::Result<Output> {
        let child = self.child.take().expect("not yet collected");
        let output = child.wait_with_output()?;
        self.assert_no_leak();
        record(&output);
        Ok(output)
    }

    /// `Child::kill`, and nothing once the output was collected.
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        match &mut self.child {
            Some(child) => child.kill(),
            None => Ok(()),
        }
    }

    /// `Child::wait`; once the output was collected, an error.
    pub(crate) fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        match &mut self.child {
            Some(child) => child.wait(),
            None => Err(io::Error::other("the output was already collected")),
        }
    }

    fn assert_no_leak(&self) {
        let leaks = self
            .leaks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    }
}

impl Drop for RunningRunner {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_leak();
        }
    }
}

impl std::ops::Deref for RunningRunner {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("not yet collected")
    }
}

impl std::ops::DerefMut for RunningRunner {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("not yet collected")
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead as _;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::super::Fixture;
    use super::*;

    const LEAK: &str = "print(\"-----BEGIN EC PRIVATE KEY-----\");\n";

    fn panic_message(failure: Box<dyn std::any::Any + Send>) -> String {
        failure
            .downcast_ref::<String>()
            .cloned()
            .expect("a formatted message")
    }

    #[test]
    fn a_run_that_prints_a_private_key_fails_its_test() {
        let p = Fixture::new().build();
        p.write("playbooks/leak.rhai", LEAK);
        let failure = catch_unwind(AssertUnwindSafe(|| {
            p.runner(&["play", "playbooks/leak.rhai"]).output()
        }))
        .expect_err("the leak fails the test");
        assert_eq!(
            panic_message(failure),
            "runner printed secrets on stdout: a PEM private key"
        );
    }

    #[test]
    fn a_running_runner_read_line_by_line_fails_its_test_when_dropped() {
        let p = Fixture::new().build();
        p.write("playbooks/leak.rhai", LEAK);
        let mut child = p
            .runner(&["play", "playbooks/leak.rhai"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        assert!(lines.iter().any(|l| l.contains("PRIVATE KEY")), "{lines:?}");
        assert!(child.wait().unwrap().success());
        let failure =
            catch_unwind(AssertUnwindSafe(move || drop(child))).expect_err("the leak fails");
        assert_eq!(
            panic_message(failure),
            "runner printed secrets on stdout: a PEM private key"
        );
    }
}
