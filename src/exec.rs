//! Running external programs (istioctl, helm, kubectl) from a play.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::error::{HostError, HostResult};
use crate::report::Reporter;

/// Lines of stderr an error shows.
const STDERR_TAIL_LINES: usize = 20;

#[derive(Clone, Debug)]
pub struct ExecOptions {
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub stdin: Option<String>,
    /// A non-zero exit is an error (default).
    pub check: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            env: Vec::new(),
            cwd: None,
            timeout: None,
            stdin: None,
            check: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    /// The exit code; -1 when a signal ended the program.
    pub code: i64,
}

/// The command as a shell would read it.
pub(crate) fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a program unless this is a dry run, in which case it is only printed.
pub(crate) async fn run_in_play(
    reporter: &Reporter,
    dry_run: bool,
    program: &str,
    args: &[String],
    options: &ExecOptions,
) -> HostResult<ExecOutput> {
    if dry_run {
        reporter.log(&format!("would run: {}", command_line(program, args)));
        return Ok(ExecOutput::default());
    }
    run(program, args, options).await
}

/// Runs a program to its end. Dropping the future (Ctrl-C) kills it.
pub(crate) async fn run(
    program: &str,
    args: &[String],
    options: &ExecOptions,
) -> HostResult<ExecOutput> {
    let shown = command_line(program, args);
    let path = which::which(program).map_err(|_| {
        HostError::new(format!("program {program:?} not found")).with_hint(format!(
            "install {program} or add the directory that holds it to PATH (PATH is {})",
            std::env::var("PATH").unwrap_or_default()
        ))
    })?;
    let mut command = tokio::process::Command::new(&path);
    command
        .args(args)
        .stdin(if options.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in &options.env {
        command.env(key, value);
    }
    if let Some(dir) = &options.cwd {
        command.current_dir(dir);
    }
    let mut child = command
        .spawn()
        .map_err(|e| HostError::from_error(&e).context(format!("cannot start `{shown}`")))?;
    if let (Some(input), Some(mut stdin)) = (options.stdin.clone(), child.stdin.take()) {
        // Written alongside the reads so a program that answers before reading all input cannot block us.
        tokio::spawn(async move {
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    let output = match options.timeout {
        Some(limit) => match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(output) => output,
            Err(_) => {
                return Err(HostError::new(format!(
                    "`{shown}` did not finish within {}s and was killed",
                    limit.as_secs_f64()
                )))
            }
        },
        None => child.wait_with_output().await,
    }
    .map_err(|e| HostError::from_error(&e).context(format!("running `{shown}`")))?;
    let result = ExecOutput {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().map(i64::from).unwrap_or(-1),
    };
    if options.check && !output.status.success() {
        let how = match output.status.code() {
            Some(code) => format!("exited with code {code}"),
            None => "was killed by a signal".to_string(),
        };
        let mut err = HostError::new(format!("`{shown}` {how}"));
        let stderr = tail(&result.stderr, STDERR_TAIL_LINES);
        if !stderr.is_empty() {
            err = err.with_cause(format!("stderr:\n{stderr}"));
        }
        return Err(err.with_hint("pass #{check: false} to exec to handle the exit code yourself"));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn command_lines_quote_what_needs_it() {
        assert_eq!(
            command_line("helm", &args(&["install", "a b", "it's"])),
            r"helm install 'a b' 'it'\''s'"
        );
    }

    #[tokio::test]
    async fn output_code_and_stdin() {
        let options = ExecOptions {
            stdin: Some("hello".into()),
            env: vec![("GREETING".into(), "hi".into())],
            ..Default::default()
        };
        let out = run(
            "sh",
            &args(&["-c", "cat; echo \" $GREETING\"; echo oops >&2"]),
            &options,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, "hello hi\n");
        assert_eq!(out.stderr, "oops\n");
        assert_eq!(out.code, 0);
    }

    #[tokio::test]
    async fn failure_shows_stderr_tail_unless_unchecked() {
        let script = args(&[
            "-c",
            "for i in $(seq 1 30); do echo line$i >&2; done; exit 3",
        ]);
        let err = run("sh", &script, &ExecOptions::default())
            .await
            .unwrap_err();
        let text = err.full_message();
        assert!(err.message.ends_with("exited with code 3"), "{text}");
        assert!(
            text.contains("line30") && !text.contains("line10\n"),
            "{text}"
        );
        let unchecked = ExecOptions {
            check: false,
            ..Default::default()
        };
        assert_eq!(run("sh", &script, &unchecked).await.unwrap().code, 3);
    }

    #[tokio::test]
    async fn missing_program_and_timeout() {
        let err = run("no-such-program-xyz", &[], &ExecOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.message, "program \"no-such-program-xyz\" not found");
        assert!(err.hint.unwrap().contains("PATH"));
        let quick = ExecOptions {
            timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        let err = run("sleep", &args(&["30"]), &quick).await.unwrap_err();
        assert!(
            err.message.contains("did not finish within 0.2s"),
            "{}",
            err.message
        );
    }
}
