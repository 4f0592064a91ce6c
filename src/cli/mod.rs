//! The command line: `runner play`, `check`, `api`, `completions`.

mod confirm;
mod kubeconfig_claim;
pub mod retry;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::bounds::DEFAULT_MAX_OPERATIONS;
use crate::context::{PlayContext, PlayOptions};
use crate::diagnostic::Failure;
use crate::engine;
use crate::error::HostError;
use crate::exit::{
    color, usage_error, EXIT_CHANGES_PLANNED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED,
};
use crate::k8s::KubeOptions;
use crate::play::{self, Outcome};
use crate::project::Project;
use crate::report::{OutputMode, Reporter};
use crate::vars;

#[derive(Parser, Debug)]
#[command(
    name = "runner",
    version,
    about = "Run Rhai playbooks that join Kubernetes clusters into an Istio primary-remote mesh",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr: -v requests and retries, -vv also the client's and the sandbox's
    /// debug logs (RUST_LOG=runner=debug works too; credentials are never logged)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a playbook against the clusters it names
    Play(PlayArgs),
    /// Compile a playbook and every module it imports; report each syntax error
    Check(CheckArgs),
    /// Print the reference of every function a playbook can call
    Api(ApiArgs),
    /// Local sandbox clusters: Kubernetes API servers on 127.0.0.1 for rehearsal and tests
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Start a project: an example playbook with its variables, schema and templates, a
    /// .gitignore and a README (never overwrites a file)
    Init {
        /// Where (default: the current directory)
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Start sandbox clusters, write a kubeconfig for them, and serve until Ctrl-C
    Up(sandbox::UpArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PlayArgs {
    /// The playbook to run (a .rhai file)
    pub playbook: PathBuf,
    /// Set a variable (later wins; dotted keys set nested values; VALUE is read as YAML)
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a YAML file (several allowed, later wins)
    #[arg(long = "vars", value_name = "FILE")]
    pub vars_files: Vec<PathBuf>,
    /// Write nothing anywhere: show what would change
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: how much of the plan follows its table (default: summary on a terminal,
    /// full otherwise)
    #[arg(long, value_enum, value_name = "MODE")]
    pub diff: Option<crate::report::DiffMode>,
    /// With --dry-run: exit 3 when the plan has changes, 0 when nothing would change
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Apply without asking "Apply these changes?" (asked only when stdin is a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Run against sandbox clusters started in-process for every cluster the playbook names
    /// (never your kubeconfig's clusters); prints what ended up in each
    #[arg(long, conflicts_with_all = ["kubeconfig", "contexts", "allow_contexts"])]
    pub sandbox: bool,
    /// With --sandbox: runner's built-in API server, or real Kubernetes control planes
    #[arg(long, value_enum, default_value_t = sandbox::ControlPlaneKind::Builtin, requires = "sandbox")]
    pub control_plane: sandbox::ControlPlaneKind,
    /// With --control-plane real: the directory holding etcd, kube-apiserver and
    /// kube-controller-manager [default: $KUBEBUILDER_ASSETS]
    #[arg(long, value_name = "DIR", requires = "sandbox")]
    pub assets: Option<PathBuf>,
    /// With --sandbox: answer some requests with injected faults, to rehearse against a flaky
    /// API server (e.g. 5xx=0.1,429=0.1,stall=0.01,seed=7; see `runner sandbox up --help`)
    #[arg(long, value_name = "SPEC", requires = "sandbox", value_parser = sandbox::parse_faults)]
    pub faults: Option<runner_sandbox::Faults>,
    /// Map a playbook cluster name to a kubeconfig context
    #[arg(long = "context", value_name = "NAME=CONTEXT")]
    pub contexts: Vec<String>,
    /// Only contexts matching this pattern may be changed (glob; repeatable)
    #[arg(long = "allow-context", value_name = "PATTERN")]
    pub allow_contexts: Vec<String>,
    /// Output format: human lines or one JSON event per line
    #[arg(long, value_enum, default_value_t = OutputMode::Human)]
    pub output: OutputMode,
    /// Templates directory (default: templates/ at the project root)
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Skip the steps before this one
    #[arg(long, value_name = "STEP")]
    pub start_at: Option<String>,
    /// Run only these steps (comma separated)
    #[arg(long, value_name = "STEP", value_delimiter = ',')]
    pub only: Vec<String>,
    /// List the playbook's steps in play order and exit, touching no cluster
    #[arg(long)]
    pub list_steps: bool,
    /// Change only these of the play's clusters (comma separated); writes to the others are
    /// skipped and reported as such (reads still reach every cluster)
    #[arg(long, value_name = "CLUSTERS", value_delimiter = ',')]
    pub limit: Vec<String>,
    /// After the run, watch every file it read and re-run on change
    #[arg(long)]
    pub watch: bool,
    /// Also watch this file or directory (with --watch; repeatable)
    #[arg(long = "watch-path", value_name = "PATH", requires = "watch")]
    pub watch_paths: Vec<PathBuf>,
    /// Delete orphans: objects this playbook's inventory records in a cluster the run uses that
    /// a complete run no longer renders (only those still labelled runner.dev/playbook)
    #[arg(long)]
    pub prune: bool,
    /// With --prune: orphaned namespaces too (and so everything in them)
    #[arg(long, requires = "prune")]
    pub prune_namespaces: bool,
    /// Stop a playbook after this many script operations (a runaway loop guard)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPERATIONS)]
    pub max_operations: u64,
    #[command(flatten, next_help_heading = "Requests to API servers")]
    pub retry: retry::RetryArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Playbooks to check
    #[arg(required = true)]
    pub playbooks: Vec<PathBuf>,
    /// Check with these variables files too (several allowed, later wins)
    #[arg(long = "vars", value_name = "FILE")]
    pub vars_files: Vec<PathBuf>,
    /// Check with this variable set (as for `runner play`)
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApiArgs {
    /// Only this function (for example `template` or `certs::root_ca`)
    pub name: Option<String>,
    /// Print the reference as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    crate::verbosity::init(cli.verbose);
    match cli.command {
        Command::Play(args) => play_command(args),
        Command::Check(args) => check_command(args),
        Command::Sandbox {
            command: SandboxCommand::Up(args),
        } => sandbox_up(args),
        Command::Api(args) => api_command(args),
        Command::Init { dir } => crate::init::command(&dir),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "runner", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// A panic is a bug in runner: say so in one line, without a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(std::string::ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "runner: internal error{place}: {message}\nThis is a bug in runner; please report it."
        );
    }));
}

pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Rhai compares, prints, clones and drops nested values recursively, and a script can
        // nest a map as deep as its operations limit allows. Address space is reserved, not
        // used: only pages a deep recursion touches cost memory.
        .thread_stack_size(crate::bounds::SCRIPT_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runner: cannot start the async runtime: {e}");
            std::process::exit(i32::from(EXIT_FAILED));
        }
    }
}

/// The defaults a playbook ships beside itself: `NAME.vars.yaml` next to `NAME.rhai`.
pub fn defaults_file(playbook: &Path) -> Option<PathBuf> {
    vars::defaults_file(playbook)
}

fn parse_contexts(pairs: &[String]) -> Result<Vec<(String, String)>, HostError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, context)) if !name.is_empty() && !context.is_empty() => {
                Ok((name.to_string(), context.to_string()))
            }
            _ => Err(HostError::new(format!(
                "invalid --context {pair:?}: expected NAME=CONTEXT, for example --context cluster-1=prod-east"
            ))),
        })
        .collect()
}

/// Everything a play needs before it starts; errors here are usage errors.
pub fn prepare(
    args: &PlayArgs,
    rt: &tokio::runtime::Runtime,
    rehearsal: Option<&Arc<crate::rehearsal::Rehearsal>>,
) -> Result<Arc<PlayContext>, HostError> {
    if !args.playbook.exists() {
        return Err(
            HostError::new(format!("playbook {} not found", args.playbook.display())).with_hint(
                "pass the path of a .rhai playbook, for example playbooks/primary-remote.rhai",
            ),
        );
    }
    let project = Project::discover(&args.playbook, args.templates.as_deref())?;
    let vars = load_vars(args)?;
    let options = PlayOptions {
        dry_run: args.dry_run,
        only: args.only.clone(),
        start_at: args.start_at.clone(),
        limit: args.limit.clone(),
        max_operations: args.max_operations,
        kube: KubeOptions {
            // On sandboxes, never the user's clusters: only the sandbox kubeconfig.
            kubeconfig: match rehearsal {
                Some(r) => Some(r.kubeconfig_path().to_path_buf()),
                None => args.kubeconfig.clone(),
            },
            contexts: parse_contexts(&args.contexts)?,
            allow_contexts: args.allow_contexts.clone(),
            retry: args.retry.policy(),
        },
        prune: args.prune,
        prune_namespaces: args.prune_namespaces,
    };
    let reporter = Reporter::new(args.output);
    reporter.set_limit(&args.limit);
    if let Some(mode) = args.diff {
        reporter.set_diff_mode(mode);
    }
    let ctx = PlayContext::new(rt.handle().clone(), reporter, project, options, vars);
    if let Some(rehearsal) = rehearsal {
        ctx.clusters.set_provisioner(rehearsal.provisioner());
        let writer = rehearsal.clone();
        ctx.set_kubeconfig_writer(Box::new(move || writer.write_kubeconfig()));
        ctx.set_sandbox(true);
    }
    Ok(ctx)
}

/// Variables in layers: the playbook's defaults file, then --vars files, then --var; checked
/// against the playbook's schema when it has one.
pub fn load_vars(args: &PlayArgs) -> Result<serde_json::Value, HostError> {
    vars::for_playbook(&args.playbook, &args.vars_files, &args.vars).map(|v| v.value)
}

fn play_command(args: PlayArgs) -> ExitCode {
    if args.list_steps {
        if !args.playbook.exists() {
            return usage_error(HostError::new(format!(
                "playbook {} not found",
                args.playbook.display()
            )));
        }
        return crate::check::list_steps(&args.playbook, args.output, color());
    }
    let rt = runtime();
    let rehearsal = if args.sandbox {
        match rehearsal_backend(&args)
            .and_then(|backend| crate::rehearsal::Rehearsal::new(rt.handle().clone(), backend))
        {
            Ok(r) => Some(r),
            Err(e) => return usage_error(e),
        }
    } else {
        None
    };
    let ctx = match prepare(&args, &rt, rehearsal.as_ref()) {
        Ok(ctx) => ctx,
        Err(e) => return usage_error(e),
    };
    if confirm::wanted(&args) {
        if let Err(code) = confirm::plan_and_ask(&args, &rt) {
            rt.shutdown_background();
            return code;
        }
    }
    let engine = engine::build(&ctx);
    let code = if args.watch {
        let inputs = crate::watch::WatchInputs {
            playbook: args.playbook.clone(),
            vars_files: args.vars_files.clone(),
            assignments: args.vars.clone(),
            watch_paths: args.watch_paths.clone(),
        };
        crate::watch::run(inputs, ctx.clone(), engine, &rt).unwrap_or_else(usage_error)
    } else {
        let outcome = rt.block_on(run_interruptible(ctx.clone(), engine));
        if let Some(rehearsal) = &rehearsal {
            rehearsal.report_inventory(&ctx.reporter);
        }
        let changes = args.detailed_exitcode
            && matches!(outcome, Outcome::Success(_))
            && ctx.reporter.changes_planned();
        match finish(outcome) {
            _ if changes => ExitCode::from(EXIT_CHANGES_PLANNED),
            code => code,
        }
    };
    if let Some(rehearsal) = rehearsal {
        rehearsal.shutdown();
    }
    drop(ctx);
    // What is left (idle connections, stopped sandboxes' tasks, idle pool threads) ends with the
    // process; waiting for every thread to wind down only delays the exit.
    rt.shutdown_background();
    code
}

/// What `--sandbox` rehearses on; real control planes' binaries are found before the play starts.
fn rehearsal_backend(args: &PlayArgs) -> Result<crate::rehearsal::RehearsalBackend, HostError> {
    use sandbox::{check_assets_flag, ControlPlaneKind};
    check_assets_flag(args.assets.as_deref(), args.control_plane)?;
    if args.faults.is_some() && args.control_plane == ControlPlaneKind::Real {
        return Err(HostError::new(
            "--faults works with the built-in sandbox only, not with --control-plane real",
        )
        .with_hint("drop --faults, or leave out --control-plane real"));
    }
    Ok(match args.control_plane {
        ControlPlaneKind::Builtin => crate::rehearsal::RehearsalBackend::Builtin {
            faults: args.faults.clone(),
        },
        ControlPlaneKind::Real => crate::rehearsal::RehearsalBackend::Real {
            assets: runner_sandbox::control_plane::find_assets(args.assets.as_deref())
                .map_err(|e| HostError::from(&e))?,
        },
    })
}

/// Runs the play on a blocking thread; Ctrl-C cancels it (a second Ctrl-C exits at once).
pub async fn run_interruptible(ctx: Arc<PlayContext>, engine: Arc<rhai::Engine>) -> Outcome {
    let runner_ctx = ctx.clone();
    let task = play::run_on_blocking_thread(runner_ctx, engine);
    tokio::pin!(task);
    let mut interrupts = 0;
    loop {
        tokio::select! {
            outcome = &mut task => return outcome,
            () = crate::signals::interrupted() => {
                interrupts += 1;
                if interrupts > 1 {
                    eprintln!("runner: interrupted twice, exiting now");
                    // Exiting skips destructors: real control planes are stopped, and the rehearsal's
                    // admin kubeconfig removed, here instead.
                    runner_sandbox::control_plane::stop_all_now();
                    crate::rehearsal::remove_dirs_now();
                    std::process::exit(i32::from(interrupted_exit_code()));
                }
                eprintln!("runner: interrupting: abandoning the current request (Ctrl-C again to exit at once)");
                ctx.cancel();
            }
        }
    }
}

/// 130 after Ctrl-C, 143 after SIGTERM: either way the play was abandoned the same way.
fn interrupted_exit_code() -> u8 {
    if crate::signals::terminated() {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    }
}

/// Prints the outcome's report and returns the exit code.
pub fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Success(_) => ExitCode::SUCCESS,
        Outcome::Failed(failure) => {
            eprint!("{}", failure.render(color()));
            ExitCode::from(crate::exit::code_of(&failure.kind))
        }
        Outcome::Interrupted(failure) => {
            let step = failure
                .step()
                .map(|s| format!(" in step [{s}]"))
                .unwrap_or_default();
            eprintln!("runner: interrupted{step}");
            ExitCode::from(interrupted_exit_code())
        }
    }
}

fn sandbox_up(args: sandbox::UpArgs) -> ExitCode {
    let rt = runtime();
    match rt.block_on(sandbox::up(args, sandbox::stop_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let failure = Failure::from_host(e);
            eprint!("{}", failure.render(color()));
            ExitCode::from(crate::exit::code_of(&failure.kind))
        }
    }
}

fn check_command(args: CheckArgs) -> ExitCode {
    crate::check::command(&args.playbooks, &args.vars_files, &args.vars, color())
}

fn api_command(args: ApiArgs) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread().build();
    let Ok(rt) = rt else {
        return ExitCode::from(EXIT_FAILED);
    };
    let ctx = PlayContext::new(
        rt.handle().clone(),
        Reporter::new(OutputMode::Human),
        Project::detached(),
        PlayOptions::default(),
        serde_json::Value::Object(Default::default()),
    );
    let engine = engine::build(&ctx);
    let mut reference = crate::api_reference::collect(&engine);
    if let Some(name) = &args.name {
        let all: Vec<String> = reference.iter().map(|d| d.name.clone()).collect();
        reference.retain(|d| &d.name == name);
        if reference.is_empty() {
            let hint = crate::vars::schema::closest(name, all.iter().map(String::as_str))
                .map(|c| format!("; did you mean {c}?"))
                .unwrap_or_default();
            return usage_error(HostError::new(format!(
                "no function named {name}{hint} (runner api lists every function)"
            )));
        }
    }
    if args.json {
        crate::stdout::line(serde_json::to_string_pretty(&reference).unwrap_or_default());
    } else {
        if args.name.is_none() {
            crate::stdout::text(crate::api_reference::CONVENTION);
        }
        crate::stdout::text(crate::api_reference::render(&reference));
    }
    ExitCode::SUCCESS
}
