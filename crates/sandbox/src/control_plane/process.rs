//! A control-plane component: a child process in its own process group, its output in a log
//! file, killed with its whole group when stopped or dropped (also while a panic unwinds), and
//! by the kernel when this process dies without running destructors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use super::ControlPlaneError;

pub(super) struct Component {
    pub name: &'static str,
    cluster: String,
    child: tokio::process::Child,
    /// The child's pid, which is also its process group's id; None once it has been reaped.
    pid: Option<u32>,
    log: PathBuf,
}

impl Component {
    pub(super) fn spawn(
        cluster: &str,
        name: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Component, ControlPlaneError> {
        let io = |action: String| {
            let cluster = cluster.to_string();
            move |source| ControlPlaneError::Io {
                cluster,
                action,
                source,
            }
        };
        let out = std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("open {}", log.display())))?;
        let mut command = tokio::process::Command::new(binary);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group, so stopping it also stops anything it started; and a Ctrl-C in the
            // terminal reaches runner alone, which then stops the group in order.
            .process_group(0)
            .kill_on_drop(true);
        let child = spawn_dying_with_this_process(command)
            .map_err(io(format!("start {}", binary.display())))?;
        let pid = child.id();
        if let Some(pid) = pid {
            live().insert(pid);
        }
        Ok(Component {
            name,
            cluster: cluster.to_string(),
            child,
            pid,
            log,
        })
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// An error when the process has exited, naming how, with the end of its log.
    pub(super) fn check_running(&mut self) -> Result<(), ControlPlaneError> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                if let Some(pid) = self.pid.take() {
                    live().remove(&pid);
                }
                Err(ControlPlaneError::Exited {
                    cluster: self.cluster.clone(),
                    component: self.name,
                    status: status.to_string(),
                    log_tail: self.log_tail(),
                })
            }
            Ok(None) => Ok(()),
            Err(source) => Err(ControlPlaneError::Io {
                cluster: self.cluster.clone(),
                action: format!("check on {}", self.name),
                source,
            }),
        }
    }

    /// The last lines the component logged, for errors.
    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(15);
        lines[start..]
            .iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the process group and waits for the process to be reaped.
    pub(super) async fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            live().remove(&pid);
            kill_group(pid);
            let _ = self.child.wait().await;
        }
    }

    /// Kills the process group and reaps the process without an async context (Drop).
    fn stop_now(&mut self) {
        if let Some(pid) = self.pid.take() {
            live().remove(&pid);
            kill_group(pid);
            // SIGKILL cannot be ignored: the process is gone within milliseconds. Reaping it here
            // leaves no zombie behind for the rest of this process's life.
            for _ in 0..500 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A component to start on the spawning thread, in the caller's runtime.
struct SpawnRequest {
    command: tokio::process::Command,
    runtime: tokio::runtime::Handle,
    answer: SyncSender<std::io::Result<tokio::process::Child>>,
}

/// The thread every component is started from. The kernel kills a component when runner dies
/// (`kill -9` included, when no destructor runs), but its parent-death signal follows the
/// thread that started the child, not the process: this thread lives as long as the process,
/// whereas a runtime's blocking threads end when idle. None if the thread could not start.
static SPAWNER: LazyLock<Option<Mutex<Sender<SpawnRequest>>>> = LazyLock::new(|| {
    let (requests, received) = channel::<SpawnRequest>();
    std::thread::Builder::new()
        .name("control-plane-spawner".into())
        .spawn(move || {
            for mut request in received {
                let _runtime = request.runtime.enter();
                let _ = request.answer.send(request.command.spawn());
            }
        })
        .ok()
        .map(|_| Mutex::new(requests))
});

/// Starts `command` so that the kernel kills it when this process dies; on the calling thread,
/// without that, when there is no spawning thread or no runtime.
fn spawn_dying_with_this_process(
    mut command: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let (Some(spawner), Ok(runtime)) = (SPAWNER.as_ref(), tokio::runtime::Handle::try_current())
    else {
        return command.spawn();
    };
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: between fork and exec the closure calls only prctl, getppid and _exit, which are
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // This process died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (answer, answered) = sync_channel(1);
    let request = SpawnRequest {
        command,
        runtime,
        answer,
    };
    let sent = spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(request);
    let gone = || std::io::Error::other("the control-plane spawning thread is gone");
    sent.map_err(|_| gone())?;
    // A fork takes milliseconds; the caller is starting a control plane and waits anyway.
    answered.recv().unwrap_or_else(|_| Err(gone()))
}

/// The process groups of every component running in this process.
static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// The private directories of every control plane of this process.
static DIRECTORIES: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn directories() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    DIRECTORIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A control plane's temporary directory (0700), removed when dropped, or by `stop_all_now`.
pub(super) struct PrivateDir(tempfile::TempDir);

/// The file in a control plane's directory naming the process it belongs to.
const OWNER_FILE: &str = "owner.pid";

impl PrivateDir {
    pub(super) fn new(dir: tempfile::TempDir) -> PrivateDir {
        directories().insert(dir.path().to_path_buf());
        // Best effort: without it, a later sweep leaves this directory alone.
        let _ = std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string());
        PrivateDir(dir)
    }

    pub(super) fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        directories().remove(self.0.path());
        // The TempDir field removes the directory next.
    }
}

/// Removes the directories of control planes whose process is gone without removing them
/// (`kill -9`, a power cut): their etcd data and keys would otherwise stay in the temporary
/// directory for good. A directory without a readable owner, or whose owner runs, stays.
pub(super) fn sweep_abandoned(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<libc::pid_t>().ok());
        if owner.is_some_and(|pid| !process_exists(pid)) {
            tracing::debug!("removing {}: its runner is gone", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Kills every component's process group at once, reaps them and removes their directories,
/// for a program about to exit without running destructors (`std::process::exit`).
pub fn stop_all_now() {
    let pids = std::mem::take(&mut *live());
    for &pid in &pids {
        kill_group(pid);
    }
    for pid in pids {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        // SIGKILL cannot be ignored: each is gone within milliseconds. Bounded all the same.
        for _ in 0..500 {
            // SAFETY: waitpid(2) on a child of this process, with no status pointer.
            let reaped = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            // The pid (reaped now) or -1 (reaped already, by tokio's child handling).
            if reaped != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for dir in std::mem::take(&mut *directories()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn kill_group(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid) {
        // SAFETY: kill(2) takes plain integers; a negative pid names the process group that
        // `process_group(0)` made for this child, and only that group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
