//! Limits on what a playbook, a vars file, a manifest or a template may ask of runner, so that
//! hostile or broken input fails with one located error instead of aborting, hanging or
//! exhausting memory.

use rhai::Dynamic;

/// Deepest nesting of maps and lists runner converts, parses or prints. serde_json and
/// serde_yaml stop parsing at 128; values built by a script are held to the same depth.
pub(crate) const MAX_NESTING: usize = 128;

/// Largest playbook or module source runner compiles. The flagship is under 40 KB; Rhai's
/// compile time grows with the square of the number of variables a script declares (10,000
/// `let`s take 3 s in a debug build), so a script of a million lines would never compile.
pub(crate) const MAX_SCRIPT_BYTES: usize = 256 * 1024;

/// Reads a playbook or module, refusing one larger than `MAX_SCRIPT_BYTES` before compiling.
pub(crate) fn read_script(file: &std::path::Path) -> Result<String, String> {
    let size = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    if size > MAX_SCRIPT_BYTES as u64 {
        return Err(format!(
            "{}: the script is {size} bytes, more than runner compiles ({MAX_SCRIPT_BYTES}); split it into modules",
            file.display()
        ));
    }
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

/// Template instructions one render may execute (minijinja fuel): far above any manifest,
/// far below a render that would run for minutes.
pub(crate) const TEMPLATE_FUEL: u64 = 5_000_000;

/// Nesting of template calls (includes, macros, recursive loops).
pub(crate) const TEMPLATE_RECURSION: usize = 64;

/// Rhai operations a play may run, unless `--max-operations` says otherwise: the guard against
/// a runaway loop.
pub(crate) const DEFAULT_MAX_OPERATIONS: u64 = 20_000_000;

/// Stack of the threads that run scripts (see `cli::runtime`).
pub(crate) const SCRIPT_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Processor time one thread may spend running a play's script code and the host functions it
/// calls, not counting what it waits for (API servers, programs, rollouts). Far more than a
/// playbook's own computing needs; a script that computes for this long is stuck in a loop whose
/// cost grows faster than its operation count (copying ever larger values), which
/// `--max-operations` cannot see. Processor time rather than wall-clock time, so that a busy
/// machine does not fail a play that waits for nothing.
pub(crate) const SCRIPT_CPU_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Heap the whole process may hold while a script runs (`memory::heap_in_use`). Below 1 GiB
/// with room for the allocator's own overhead and the threads' stacks.
pub(crate) const HEAP_BYTES: usize = 640 * 1024 * 1024;

/// Where, in a text, flow nesting first went deeper than the limit (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: nested deeper than {MAX_NESTING} levels",
            self.line, self.column
        )
    }
}

/// Checks the flow nesting (`{`/`[`) of a YAML or JSON text before a parser sees it.
///
/// libyaml (under serde_yaml) scans every open flow level for each token, so a text nested
/// 100,000 deep takes minutes before serde_yaml's own recursion limit is reached. Quoted
/// strings and comments are skipped; block nesting needs indentation proportional to depth
/// and cannot be deep in a text of bounded size.
pub(crate) fn check_flow_nesting(text: &str) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut column = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut in_comment = false;
    let mut previous = '\n';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            in_comment = false;
            previous = c;
            // A YAML single-quoted or double-quoted scalar may span lines; keep the quote.
            continue;
        }
        if in_comment {
            continue;
        }
        match quote {
            Some('"') => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quote = None;
                }
            }
            Some(_) => {
                if c == '\'' {
                    quote = None;
                }
            }
            None => match c {
                '#' if previous.is_whitespace() => in_comment = true,
                '"' | '\'' if depth > 0 || previous.is_whitespace() || previous == ':' => {
                    quote = Some(c);
                }
                '{' | '[' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(TooDeep { line, column });
                    }
                }
                '}' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        previous = c;
    }
    Ok(())
}

/// The line and column of the first control character YAML forbids (all but tab, CR, LF), which
/// serde_yaml reports by byte offset only.
pub(crate) fn first_control_char(text: &str) -> Option<(usize, usize, char)> {
    let mut line = 1;
    let mut column = 0;
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        } else if c.is_control() && c != '\t' && c != '\r' {
            return Some((line, column, c));
        }
    }
    None
}

/// Whether a script value nests maps and arrays no deeper than `limit`. Stops descending at
/// the limit, so the check itself cannot exhaust the stack.
pub(crate) fn dynamic_within(value: &Dynamic, limit: usize) -> bool {
    if value.is_map() {
        if limit == 0 {
            return false;
        }
        if let Some(map) = value.read_lock::<rhai::Map>() {
            return map.values().all(|v| dynamic_within(v, limit - 1));
        }
    } else if value.is_array() {
        if limit == 0 {
            return false;
        }
        if let Some(array) = value.read_lock::<rhai::Array>() {
            return array.iter().all(|v| dynamic_within(v, limit - 1));
        }
    }
    true
}

/// What a value holds, counted as Rhai counts it against its limits: array items, map
/// entries and string bytes, nested ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DataSize {
    pub array_items: usize,
    pub map_entries: usize,
    pub string_bytes: usize,
}

impl DataSize {
    /// Recursive like Rhai's own size check; scripts run on threads with a deep stack.
    pub(crate) fn of(value: &Dynamic) -> DataSize {
        let mut size = DataSize::default();
        size.walk(value);
        size
    }

    fn walk(&mut self, value: &Dynamic) {
        if let Some(map) = value.read_lock::<rhai::Map>() {
            self.map_entries += map.len();
            map.values().for_each(|v| self.walk(v));
        } else if let Some(array) = value.read_lock::<rhai::Array>() {
            self.array_items += array.len();
            array.iter().for_each(|v| self.walk(v));
        } else if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
            self.string_bytes += text.len();
        }
    }

    pub(crate) fn add(&mut self, other: DataSize) {
        self.array_items = self.array_items.saturating_add(other.array_items);
        self.map_entries = self.map_entries.saturating_add(other.map_entries);
        self.string_bytes = self.string_bytes.saturating_add(other.string_bytes);
    }

    /// The first of the engine's limits this size goes over, named as a user would.
    pub(crate) fn exceeded(&self, engine: &rhai::Engine) -> Option<String> {
        let over = |value: usize, max: usize| max > 0 && value > max;
        if over(self.array_items, engine.max_array_size()) {
            Some(format!(
                "{} array items (limit {})",
                self.array_items,
                engine.max_array_size()
            ))
        } else if over(self.map_entries, engine.max_map_size()) {
            Some(format!(
                "{} map entries (limit {})",
                self.map_entries,
                engine.max_map_size()
            ))
        } else if over(self.string_bytes, engine.max_string_size()) {
            Some(format!(
                "{} bytes of text (limit {})",
                self.string_bytes,
                engine.max_string_size()
            ))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_is_counted_outside_quotes_and_comments() {
        let deep = format!("a: {}1{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            check_flow_nesting(&deep),
            Err(TooDeep {
                line: 1,
                column: 4 + MAX_NESTING
            })
        );
        let quoted = format!(
            "a: \"{}\"\nb: '{}' # {}",
            "[".repeat(200),
            "{".repeat(200),
            "[".repeat(200)
        );
        assert_eq!(check_flow_nesting(&quoted), Ok(()));
        assert_eq!(check_flow_nesting("a: {b: [1, 2], c: {d: 3}}\n"), Ok(()));
    }
}
