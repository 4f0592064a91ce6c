//! Bounds on what a running script may consume beyond its operation count: processor time
//! and heap (see `bounds::SCRIPT_CPU_TIME` and `bounds::HEAP_BYTES`), checked from Rhai's
//! progress callback, which runs before every operation of every thread evaluating the play.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::bounds::{HEAP_BYTES, SCRIPT_CPU_TIME};
use crate::error::HostError;

/// Reading a thread's processor time is a system call, too slow for every operation; the
/// monotonic clock is read in user space. The processor time is read when this much time has
/// passed since the last reading, however few operations ran meanwhile (one operation on a
/// large value can take a long time).
const CLOCK_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy)]
struct Baseline {
    /// The run this thread last evaluated for.
    run: u64,
    /// The thread's processor time when it started to.
    cpu: Duration,
    /// When the processor time was last read.
    read_at: Instant,
}

thread_local! {
    static BASELINE: Cell<Option<Baseline>> = const { Cell::new(None) };
}

/// The error that stops the script, if it has overrun a bound. `run` identifies the play's
/// current run (watch mode runs the same threads again).
pub(crate) fn overrun(run: u64) -> Option<HostError> {
    let heap = crate::memory::heap_in_use();
    if heap > HEAP_BYTES {
        return Some(
            HostError::new(format!(
                "the playbook holds more than {} MiB of values and was stopped",
                HEAP_BYTES / (1024 * 1024)
            ))
            .with_hint("build smaller values, or drop what is no longer needed (a variable keeps its value until its block ends)"),
        );
    }
    let now = Instant::now();
    let baseline = match BASELINE.with(Cell::get) {
        Some(baseline) if baseline.run == run => {
            if now.duration_since(baseline.read_at) < CLOCK_EVERY {
                return None;
            }
            baseline
        }
        _ => {
            let fresh = Baseline {
                run,
                cpu: thread_cpu_time()?,
                read_at: now,
            };
            BASELINE.with(|b| b.set(Some(fresh)));
            return None;
        }
    };
    let used = thread_cpu_time()?;
    BASELINE.with(|b| {
        b.set(Some(Baseline {
            read_at: now,
            ..baseline
        }));
    });
    (used.saturating_sub(baseline.cpu) > SCRIPT_CPU_TIME).then(|| {
        HostError::new(format!(
            "the playbook computed for more than {} s and was stopped",
            SCRIPT_CPU_TIME.as_secs()
        ))
        .with_hint("look for a loop whose every turn copies or rebuilds a value that keeps growing")
    })
}

fn thread_cpu_time() -> Option<Duration> {
    // SAFETY: timespec is plain data that clock_gettime writes; the clock id is a constant.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a failed call leaves ts unread.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) } == 0;
    ok.then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
