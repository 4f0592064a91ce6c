//! Plain-text lines for a person reading a terminal or a CI log.

use std::time::Duration;

use console::style;

use super::{Action, Changes, Recap, StepStatus};

fn paint(
    text: String,
    color: bool,
    f: impl Fn(console::StyledObject<String>) -> console::StyledObject<String>,
) -> String {
    if color {
        f(style(text)).force_styling(true).to_string()
    } else {
        text
    }
}

pub(crate) fn play_header(playbook: &str, dry_run: bool, color: bool) -> String {
    let mode = if dry_run {
        " (dry run: nothing is written)"
    } else {
        ""
    };
    paint(
        format!("PLAY {playbook}{mode}"),
        color,
        console::StyledObject::bold,
    )
}

pub(crate) fn step_header(name: &str, depth: usize, color: bool) -> String {
    let indent = "  ".repeat(depth.saturating_sub(1));
    format!(
        "\n{indent}{}",
        paint(format!("STEP [{name}]"), color, console::StyledObject::bold)
    )
}

pub(crate) fn step_footer(
    status: &StepStatus,
    clusters: &[&String],
    changes: &Changes,
    duration: Duration,
    color: bool,
) -> String {
    let word = match status {
        StepStatus::Ok => paint("ok".into(), color, console::StyledObject::green),
        StepStatus::Changed => paint("changed".into(), color, console::StyledObject::yellow),
        StepStatus::Failed => paint("failed".into(), color, |s| s.red().bold()),
        StepStatus::Interrupted => paint("interrupted".into(), color, console::StyledObject::red),
    };
    let mut parts = vec![word];
    if !clusters.is_empty() {
        parts.push(
            clusters
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let counters = [
        ("created", changes.created),
        ("configured", changes.configured),
        ("unchanged", changes.unchanged),
        ("deleted", changes.deleted),
    ];
    parts.extend(
        (counters.iter())
            .filter(|(_, n)| *n > 0)
            .map(|(word, n)| format!("{word} {n}")),
    );
    parts.push(format_duration(duration));
    format!("  => {}", parts.join(" · "))
}

pub(crate) fn object_line(
    cluster: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    action: Action,
    dry_run: bool,
    color: bool,
) -> String {
    let object = match namespace {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    };
    let verb = if dry_run {
        format!("would be {}", action.as_str())
    } else {
        action.as_str().to_string()
    };
    let verb = paint(format!("{verb:<10}"), color, console::StyledObject::yellow);
    format!("  {cluster:<12} {verb} {object}")
}

/// An object `--limit` kept the play from changing.
pub(crate) fn skipped_object_line(
    cluster: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    action: Action,
    color: bool,
) -> String {
    let object = match namespace {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    };
    let verb = paint(
        format!("{:<10}", "skipped"),
        color,
        console::StyledObject::dim,
    );
    format!(
        "  {cluster:<12} {verb} {object} (not in --limit; would be {})",
        action.as_str()
    )
}

pub(crate) fn warning(message: &str, color: bool) -> String {
    format!(
        "  {} {message}",
        paint("warning:".into(), color, |s| s.yellow().bold())
    )
}

/// A warning about something only real clusters have (a loopback address): expected in a
/// rehearsal, and said so.
pub(crate) fn expected_warning(message: &str, color: bool) -> String {
    format!(
        "  {} {message}",
        paint(
            "warning (expected in a sandbox):".into(),
            color,
            console::StyledObject::dim
        )
    )
}

pub(crate) fn recap(recap: &Recap, skipped: u64, duration: Duration, color: bool) -> String {
    let mut out = format!(
        "\n{}",
        paint(
            format!("PLAY RECAP ({})", format_duration(duration)),
            color,
            console::StyledObject::bold
        )
    );
    let width = recap
        .hosts()
        .iter()
        .map(|h| h.host.len())
        .max()
        .unwrap_or(0)
        .max(8);
    for host in recap.hosts() {
        out.push_str(&format!(
            "\n{:<width$} : created={:<4} configured={:<4} unchanged={:<4} deleted={:<4} steps ok={:<3} failed={:<3} rescued={}",
            host.host,
            host.created,
            host.configured,
            host.unchanged,
            host.deleted,
            host.ok,
            host.failed,
            host.rescued
        ));
        if host.skipped > 0 {
            out.push_str(&format!(
                "  (not in --limit: {} object(s) skipped)",
                host.skipped
            ));
        }
    }
    if recap.hosts().is_empty() {
        out.push_str("\n(no steps ran)");
    }
    if skipped > 0 {
        out.push_str(&format!("\nskipped steps: {skipped}"));
    }
    if recap.total_changed() == 0
        && !recap.hosts().is_empty()
        && recap.hosts().iter().all(|h| h.failed == 0)
    {
        out.push_str("\nnothing changed");
    }
    out
}

pub(crate) fn format_duration(d: Duration) -> String {
    if d.as_secs() >= 60 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else if d.as_millis() >= 1000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}
