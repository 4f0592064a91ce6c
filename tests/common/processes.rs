//! Waiting for a process to end, for tests of what outlives (or must not outlive) runner.

use std::time::{Duration, Instant};

/// Whether process `pid` ends (or is a zombie no one has reaped yet) before `deadline`.
pub(crate) fn gone_by(pid: u32, deadline: Instant) -> bool {
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // The state follows the parenthesised command name.
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
