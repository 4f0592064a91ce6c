//! The line of every value of a vars file, and its duplicate keys, from YAML parser events.
//!
//! serde gives values without places; the event parser gives places without values. The file
//! is read by both: serde for the values, the events for lines and duplicate keys.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, Span, SpannedEventReceiver};

use super::origins::{show_path, Origin, Origins, Segment};
use crate::error::{HostError, HostResult};

enum Container {
    Mapping {
        path: Option<Vec<Segment>>,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<Option<String>>,
        seen: HashMap<String, usize>,
    },
    Sequence {
        path: Option<Vec<Segment>>,
        next: usize,
    },
}

struct Lines<'f> {
    file: &'f Path,
    stack: Vec<Container>,
    origins: Origins,
    duplicate: Option<HostError>,
}

impl Lines<'_> {
    /// The path of the node that starts now, moving its parent on to the next node.
    /// `None` for nodes that have no key path (complex keys and what is inside them).
    fn next_node(&mut self, key_text: Option<&str>, line: usize) -> NodeRole {
        let file = self.file;
        match self.stack.last_mut() {
            None => NodeRole::Value(Some(Vec::new())),
            Some(Container::Sequence { path, next }) => {
                let child = path.clone().map(|mut p| {
                    p.push(Segment::Index(*next));
                    p
                });
                *next += 1;
                NodeRole::Value(child)
            }
            Some(Container::Mapping { path, key, seen }) => match key.take() {
                None => {
                    let text = key_text.map(str::to_string);
                    if let (Some(text), Some(parent)) = (&text, path.as_ref()) {
                        if let Some(first) = seen.insert(text.clone(), line) {
                            let mut full = parent.clone();
                            full.push(Segment::Key(text.clone()));
                            return NodeRole::Duplicate(HostError::variables(format!(
                                "{}:{line}: {} is given twice, at lines {first} and {line}; keep one",
                                super::origins::shown(file),
                                show_path(&full)
                            )));
                        }
                    }
                    *key = Some(text);
                    NodeRole::Key
                }
                Some(text) => {
                    let child = match (path.clone(), text) {
                        (Some(mut p), Some(text)) => {
                            p.push(Segment::Key(text));
                            Some(p)
                        }
                        _ => None,
                    };
                    NodeRole::Value(child)
                }
            },
        }
    }

    fn record(&mut self, path: &Option<Vec<Segment>>, line: usize) {
        if let Some(path) = path {
            self.origins.insert(
                path.clone(),
                Origin::File {
                    path: self.file.to_path_buf(),
                    line,
                },
            );
        }
    }
}

enum NodeRole {
    Key,
    Value(Option<Vec<Segment>>),
    Duplicate(HostError),
}

impl<'input> SpannedEventReceiver<'input> for Lines<'_> {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if self.duplicate.is_some() {
            return;
        }
        let line = span.start.line();
        let (key_text, starts) = match &event {
            Event::Scalar(text, ..) => (Some(text.as_ref()), None),
            Event::Alias(_) => (None, None),
            Event::MappingStart(..) => (None, Some(true)),
            Event::SequenceStart(..) => (None, Some(false)),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                return;
            }
            _ => return,
        };
        let path = match self.next_node(key_text, line) {
            NodeRole::Duplicate(error) => {
                self.duplicate = Some(error);
                return;
            }
            // A complex key (a map or list used as a key) has no key path.
            NodeRole::Key => None,
            NodeRole::Value(path) => {
                self.record(&path, line);
                path
            }
        };
        match starts {
            Some(true) => self.stack.push(Container::Mapping {
                path,
                key: None,
                seen: HashMap::new(),
            }),
            Some(false) => self.stack.push(Container::Sequence { path, next: 0 }),
            None => {}
        }
    }
}

/// The line of each value in `text` (a vars file), by key path; a duplicate key is an error.
pub(super) fn lines_of(text: &str, file: &Path) -> HostResult<Origins> {
    let mut lines = Lines {
        file,
        stack: Vec::new(),
        origins: Origins::default(),
        duplicate: None,
    };
    let mut parser = Parser::new_from_str(text);
    // serde already read the file; a file it accepts but this parser does not only loses lines.
    let _ = parser.load(&mut lines, false);
    match lines.duplicate {
        Some(error) => Err(error),
        None => Ok(lines.origins),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_nested_values_and_list_items() {
        let text = "a: 1\nb:\n  c: [x, y]\n  d:\n    - name: n1\n    - name: n2\n";
        let origins = lines_of(text, Path::new("v.yaml")).unwrap();
        let key = |k: &str| Segment::Key(k.into());
        let line = |path: &[Segment]| match origins.find(path) {
            Some(Origin::File { line, .. }) => *line,
            other => panic!("{other:?}"),
        };
        assert_eq!(line(&[key("a")]), 1);
        assert_eq!(line(&[key("b"), key("c"), Segment::Index(1)]), 3);
        assert_eq!(
            line(&[key("b"), key("d"), Segment::Index(1), key("name")]),
            6
        );
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let text = "apps:\n  backend: 1\n  frontend: 2\n  backend: 3\n";
        let err = lines_of(text, Path::new("v.yaml")).unwrap_err();
        assert_eq!(
            err.message,
            "v.yaml:4: vars.apps.backend is given twice, at lines 2 and 4; keep one"
        );
    }
}
