//! A dry run's plan: one row per object (and local file) the run would change, shown first as
//! a table, then as much detail as `--diff` asks for.

use serde::Serialize;

use super::Action;

/// How much of a plan follows its summary table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffMode {
    /// The table only.
    None,
    /// The table, then each step's lines (objects, commands, files, warnings) without diffs.
    Summary,
    /// The table, the steps' lines and each changed object's diff (Secret data masked).
    Full,
}

impl DiffMode {
    /// Summary on a terminal (a person reads it now and can ask for more); full elsewhere (a
    /// CI log is read later by someone who cannot run it again with another flag).
    pub fn default_for(stdout_is_terminal: bool) -> Self {
        if stdout_is_terminal {
            DiffMode::Summary
        } else {
            DiffMode::Full
        }
    }
}

/// One object of the plan, with what the run would do to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PlanRow {
    pub cluster: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub action: Action,
}

impl PlanRow {
    fn same_object(&self, other: &PlanRow) -> bool {
        self.cluster == other.cluster
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

/// A line of a dry run's output, kept until the table is printed.
pub(super) enum Buffered {
    Line(String),
    Diff(String),
}

/// Every object once, in the order the plan first met it, with the first change the run would
/// make to it (an object created in one step and applied unchanged in another is created).
pub(super) fn collapse(events: &[PlanRow]) -> Vec<PlanRow> {
    let mut rows: Vec<PlanRow> = Vec::new();
    for event in events {
        match rows.iter_mut().find(|r| r.same_object(event)) {
            Some(row) if !row.action.is_change() => row.action = event.action,
            Some(_) => {}
            None => rows.push(event.clone()),
        }
    }
    rows
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Created => "create",
        Action::Configured => "change",
        Action::Deleted => "delete",
        Action::Unchanged => "none",
    }
}

/// The table a plan starts with: changed objects and local files, and the counts.
pub(super) fn table(rows: &[PlanRow], local: &[(String, Action)]) -> String {
    let changed: Vec<&PlanRow> = rows.iter().filter(|r| r.action.is_change()).collect();
    let count = |a: Action| changed.iter().filter(|r| r.action == a).count();
    let unchanged = rows.len() - changed.len();
    let mut out = if changed.is_empty() && local.is_empty() {
        format!("PLAN: no changes ({unchanged} objects unchanged)")
    } else {
        let mut head = format!(
            "PLAN: {} to create, {} to change, {} to delete ({unchanged} unchanged)",
            count(Action::Created),
            count(Action::Configured),
            count(Action::Deleted),
        );
        if !local.is_empty() {
            head.push_str(&format!("; {} local change(s)", local.len()));
        }
        head
    };
    let mut lines: Vec<[String; 4]> = changed
        .iter()
        .map(|r| {
            let place = match &r.namespace {
                Some(ns) if !ns.is_empty() => format!("{ns}/{}", r.name),
                _ => r.name.clone(),
            };
            [
                r.cluster.clone(),
                r.kind.clone(),
                place,
                verb(r.action).to_string(),
            ]
        })
        .collect();
    for (what, action) in local {
        lines.push([
            super::LOCAL_HOST.to_string(),
            "-".into(),
            what.clone(),
            verb(*action).to_string(),
        ]);
    }
    if lines.is_empty() {
        return out;
    }
    let header = [
        "CLUSTER".to_string(),
        "KIND".into(),
        "NAMESPACE/NAME".into(),
        "ACTION".into(),
    ];
    let mut widths = [0usize; 3];
    for line in std::iter::once(&header).chain(lines.iter()) {
        for (width, cell) in widths.iter_mut().zip(line.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in std::iter::once(&header).chain(lines.iter()) {
        out.push_str(&format!(
            "\n  {:<w0$}  {:<w1$}  {:<w2$}  {}",
            line[0],
            line[1],
            line[2],
            line[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, action: Action) -> PlanRow {
        PlanRow {
            cluster: "c1".into(),
            kind: "Service".into(),
            namespace: Some("ns".into()),
            name: name.into(),
            action,
        }
    }

    #[test]
    fn an_object_shows_once_with_its_first_change() {
        let rows = collapse(&[
            row("a", Action::Unchanged),
            row("b", Action::Created),
            row("a", Action::Configured),
            row("b", Action::Unchanged),
        ]);
        assert_eq!(
            rows,
            vec![row("a", Action::Configured), row("b", Action::Created)]
        );
    }

    #[test]
    fn the_table_lists_changes_and_counts_the_rest() {
        let text = table(
            &[row("a", Action::Unchanged), row("svc", Action::Created)],
            &[("file rendered/x.yaml".into(), Action::Created)],
        );
        assert_eq!(
            text,
            "PLAN: 1 to create, 0 to change, 0 to delete (1 unchanged); 1 local change(s)\n  \
             CLUSTER  KIND     NAMESPACE/NAME        ACTION\n  \
             c1       Service  ns/svc                create\n  \
             local    -        file rendered/x.yaml  create"
        );
        assert_eq!(
            table(&[row("a", Action::Unchanged)], &[]),
            "PLAN: no changes (1 objects unchanged)"
        );
    }
}
