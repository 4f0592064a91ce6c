//! Running external programs (istioctl, helm, kubectl) from a play.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::error::{HostError, HostResult};

/// Lines of stderr an error shows.
const STDERR_TAIL_LINES: usize = 20;

#[derive(Clone, Debug, PartialEq)]
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

/// What a play knows that decides whether a program runs (see [`launch`]).
#[derive(Debug, Default)]
pub(crate) struct PlayView {
    pub(crate) dry_run: bool,
    /// The clusters `--limit` leaves out, as (playbook name, kubeconfig context).
    pub(crate) limited_out: Vec<(String, String)>,
    /// Files a dry run would write first, with the name the project shows for each.
    pub(crate) planned_files: Vec<(PathBuf, String)>,
    /// The kubeconfig this run's clusters come from (`--kubeconfig`, or the sandbox's).
    pub(crate) kubeconfig: Option<PathBuf>,
}

/// Whether a play runs a program, and with which options.
#[derive(Debug, PartialEq)]
pub(crate) enum Launch {
    Run(ExecOptions),
    /// Not run: the line the play reports instead.
    Skip(String),
}

/// A dry run prints the program instead of running it; a program aimed (`--context`) at a
/// cluster `--limit` leaves out is not run either, since it would change that cluster. A
/// program that runs gets `KUBECONFIG` set to the run's kubeconfig, so that tools like istioctl
/// reach the clusters this run uses, never some other default; the playbook's own env wins.
pub(crate) fn launch(
    program: &str,
    args: &[String],
    mut options: ExecOptions,
    play: &PlayView,
) -> Launch {
    if play.dry_run {
        return Launch::Skip(planned_command(program, args, &play.planned_files));
    }
    if let Some(cluster) = limited_out_context(args, &play.limited_out) {
        return Launch::Skip(format!(
            "not in --limit ({cluster}): {}",
            planned_command(program, args, &play.planned_files)
        ));
    }
    if let Some(kubeconfig) = &play.kubeconfig {
        // Set first: a later entry for the same variable (the playbook's) wins.
        options
            .env
            .insert(0, ("KUBECONFIG".into(), kubeconfig.display().to_string()));
    }
    Launch::Run(options)
}

/// The cluster outside `--limit` whose context the arguments name (`--context X`,
/// `--context=X`).
fn limited_out_context<'a>(
    args: &[String],
    limited_out: &'a [(String, String)],
) -> Option<&'a str> {
    let named: Vec<&str> = args
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a.strip_prefix("--context=") {
            Some(context) => Some(context),
            None if a == "--context" => args.get(i + 1).map(String::as_str),
            None => None,
        })
        .collect();
    limited_out
        .iter()
        .find(|(_, context)| named.contains(&context.as_str()))
        .map(|(cluster, _)| cluster.as_str())
}

/// What a dry run says instead of running a program; a file the plan would write first is
/// named as such, since it does not exist yet.
fn planned_command(program: &str, args: &[String], planned_files: &[(PathBuf, String)]) -> String {
    let pending: Vec<&str> = args
        .iter()
        .filter_map(|a| {
            planned_files
                .iter()
                .find(|(file, _)| file.as_path() == std::path::Path::new(a.as_str()))
                .map(|(_, shown)| shown.as_str())
        })
        .collect();
    let line = format!("would run: {}", command_line(program, args));
    match pending.as_slice() {
        [] => line,
        files => format!(
            "{line} (with {}, which the run writes first)",
            files.join(", ")
        ),
    }
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

    fn limited(pairs: &[(&str, &str)]) -> PlayView {
        PlayView {
            limited_out: pairs
                .iter()
                .map(|(cluster, context)| (cluster.to_string(), context.to_string()))
                .collect(),
            ..PlayView::default()
        }
    }

    #[test]
    fn a_dry_run_prints_the_command_and_names_files_the_plan_writes_first() {
        let play = PlayView {
            dry_run: true,
            planned_files: vec![(PathBuf::from("/p/out/mesh.yaml"), "out/mesh.yaml".into())],
            kubeconfig: Some(PathBuf::from("/k/config")),
            ..limited(&[("east", "ctx-east")])
        };
        assert_eq!(
            launch(
                "istioctl",
                &args(&["install", "-f", "/p/out/mesh.yaml"]),
                ExecOptions::default(),
                &play
            ),
            Launch::Skip(
                "would run: istioctl install -f /p/out/mesh.yaml (with out/mesh.yaml, which the \
                 run writes first)"
                    .into()
            )
        );
        assert_eq!(
            launch(
                "helm",
                &args(&["list", "--context", "ctx-east"]),
                ExecOptions::default(),
                &play
            ),
            Launch::Skip("would run: helm list --context ctx-east".into())
        );
    }

    #[test]
    fn a_program_aimed_at_a_cluster_outside_the_limit_is_not_run() {
        let play = limited(&[("east", "ctx-east"), ("west", "ctx-west")]);
        for aimed in [
            args(&["x", "--context", "ctx-west"]),
            args(&["x", "--context=ctx-west"]),
        ] {
            assert_eq!(
                launch("istioctl", &aimed, ExecOptions::default(), &play),
                Launch::Skip(format!(
                    "not in --limit (west): would run: istioctl {}",
                    aimed.join(" ")
                ))
            );
        }
        // Another context, a trailing --context with no value, or none: it runs.
        for free in [
            args(&["x", "--context", "ctx-main"]),
            args(&["x", "--context"]),
            args(&["ctx-west"]),
        ] {
            assert_eq!(
                launch("istioctl", &free, ExecOptions::default(), &play),
                Launch::Run(ExecOptions::default())
            );
        }
    }

    #[test]
    fn a_program_gets_the_runs_kubeconfig_before_the_playbooks_env() {
        let play = PlayView {
            kubeconfig: Some(PathBuf::from("/run/k/sandbox.kubeconfig")),
            ..PlayView::default()
        };
        let options = ExecOptions {
            env: vec![("A".into(), "1".into())],
            ..ExecOptions::default()
        };
        let Launch::Run(options) = launch("istioctl", &[], options, &play) else {
            panic!("not run");
        };
        assert_eq!(
            options.env,
            vec![
                (
                    "KUBECONFIG".to_string(),
                    "/run/k/sandbox.kubeconfig".to_string()
                ),
                ("A".to_string(), "1".to_string()),
            ]
        );
        assert_eq!(
            launch(
                "istioctl",
                &[],
                ExecOptions::default(),
                &PlayView::default()
            ),
            Launch::Run(ExecOptions::default()),
            "without a kubeconfig of its own, a run leaves KUBECONFIG as it is"
        );
    }

    #[tokio::test]
    async fn the_playbooks_own_kubeconfig_wins() {
        let play = PlayView {
            kubeconfig: Some(PathBuf::from("/run/k/sandbox.kubeconfig")),
            ..PlayView::default()
        };
        let script = args(&["-c", "printf %s \"$KUBECONFIG\""]);
        let run_with = |env: Vec<(String, String)>| {
            let options = ExecOptions {
                env,
                ..ExecOptions::default()
            };
            match launch("sh", &script, options, &play) {
                Launch::Run(options) => options,
                Launch::Skip(line) => panic!("skipped: {line}"),
            }
        };
        let injected = run("sh", &script, &run_with(vec![])).await.unwrap();
        assert_eq!(injected.stdout, "/run/k/sandbox.kubeconfig");
        let own = run_with(vec![("KUBECONFIG".into(), "/mine".into())]);
        assert_eq!(run("sh", &script, &own).await.unwrap().stdout, "/mine");
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
