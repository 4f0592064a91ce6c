//! What the API server warned about an object it was sent (its `Warning` headers): shown under
//! the object, and in JSON as a warning event naming the object.

use serde_json::json;

use super::{human, OutputMode, Reporter};

impl Reporter {
    pub fn server_warning(
        &self,
        cluster: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        message: &str,
    ) {
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "warning",
                "step": self.current_step(),
                "from": "api-server",
                "cluster": cluster,
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "message": message,
            })),
            OutputMode::Human => {
                let object = match namespace {
                    Some(namespace) => format!("{kind} {namespace}/{name}"),
                    None => format!("{kind} {name}"),
                };
                self.line(&human::warning(
                    &format!("{cluster}: {object}: the API server warns: {message}"),
                    self.color,
                ));
            }
        }
    }
}
