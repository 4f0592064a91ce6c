//! Which top-level steps run under `--only` and `--start-at`.

/// What the play has met so far; one per run (watch mode starts it anew each run).
#[derive(Debug, Default)]
pub struct StepSelection {
    pub started: bool,
    /// In the order they were met.
    pub seen: SeenSteps,
}

/// Step names in the order they were first met (a play has tens of steps: a list is enough).
#[derive(Debug, Default)]
pub struct SeenSteps(Vec<String>);

impl SeenSteps {
    pub fn insert(&mut self, name: String) {
        if !self.0.contains(&name) {
            self.0.push(name);
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl StepSelection {
    /// Whether the step `name` runs; `Err` holds why it is skipped. A step inside another step
    /// always runs with it: only top-level steps are selected.
    pub fn select(
        &mut self,
        name: &str,
        nested: bool,
        only: &[String],
        start_at: Option<&str>,
    ) -> Result<(), &'static str> {
        self.seen.insert(name.to_string());
        if nested {
            return Ok(());
        }
        if let Some(start) = start_at {
            if !self.started {
                if start != name {
                    return Err("before --start-at");
                }
                self.started = true;
            }
        }
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            return Err("not in --only");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &[(&str, bool)], only: &[&str], start_at: Option<&str>) -> Vec<String> {
        let only: Vec<String> = only.iter().map(std::string::ToString::to_string).collect();
        let mut selection = StepSelection::default();
        steps
            .iter()
            .map(
                |(name, nested)| match selection.select(name, *nested, &only, start_at) {
                    Ok(()) => format!("{name}: runs"),
                    Err(reason) => format!("{name}: {reason}"),
                },
            )
            .collect()
    }

    #[test]
    fn every_step_runs_without_a_selection() {
        assert_eq!(
            run(&[("a", false), ("b", false)], &[], None),
            ["a: runs", "b: runs"]
        );
    }

    #[test]
    fn start_at_skips_the_steps_before_it_and_runs_the_rest() {
        assert_eq!(
            run(&[("a", false), ("b", false), ("a", false)], &[], Some("b")),
            ["a: before --start-at", "b: runs", "a: runs"]
        );
    }

    #[test]
    fn only_runs_the_named_steps_and_their_nested_ones() {
        assert_eq!(
            run(&[("a", false), ("inner", true), ("b", false)], &["b"], None),
            ["a: not in --only", "inner: runs", "b: runs"]
        );
    }

    #[test]
    fn both_combine_and_every_name_is_seen() {
        let only = vec!["c".to_string()];
        let mut selection = StepSelection::default();
        for name in ["a", "b", "c"] {
            let _ = selection.select(name, false, &only, Some("b"));
        }
        assert_eq!(selection.seen.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(selection.started);
    }
}
