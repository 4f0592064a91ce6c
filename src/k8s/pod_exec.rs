//! Commands in a pod, through `kubectl exec` with this cluster's credentials.

use std::io::Write;

use super::cluster::Cluster;
use super::Session;
use crate::error::{HostError, HostResult};
use crate::exec::{run_in_play, ExecOptions, ExecOutput};

impl Cluster {
    /// Runs `command` in a container like `kubectl exec`. The kubeconfig goes to a private
    /// temporary file (0600) for the duration of the command.
    pub async fn exec_pod(
        &self,
        session: &Session<'_>,
        namespace: &str,
        pod: &str,
        container: &str,
        command: &[String],
        options: &ExecOptions,
    ) -> HostResult<ExecOutput> {
        if command.is_empty() {
            return Err(HostError::new(format!(
                "{}: exec_pod in {namespace}/{pod} needs a command",
                self.name()
            )));
        }
        self.announce(session);
        let yaml = serde_yaml::to_string(self.kubeconfig()).map_err(|e| {
            HostError::new(format!(
                "cannot write the kubeconfig of {}: {e}",
                self.name()
            ))
        })?;
        let mut file = tempfile::Builder::new()
            .prefix("runner-kubeconfig-")
            .tempfile()
            .map_err(|e| {
                HostError::from_error(&e).context("cannot create a temporary kubeconfig")
            })?;
        file.write_all(yaml.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| {
                HostError::from_error(&e).context("cannot write a temporary kubeconfig")
            })?;
        let namespace = if namespace.is_empty() {
            self.namespace()
        } else {
            namespace
        };
        let mut args = vec![
            format!("--kubeconfig={}", file.path().display()),
            format!("--context={}", self.context()),
            "exec".to_string(),
            format!("--namespace={namespace}"),
            pod.to_string(),
        ];
        if !container.is_empty() {
            args.push(format!("--container={container}"));
        }
        if options.stdin.is_some() {
            args.push("--stdin".into());
        }
        args.push("--".into());
        args.extend(command.iter().cloned());
        let result =
            run_in_play(session.reporter, session.dry_run, "kubectl", &args, options).await;
        drop(file);
        result.map_err(|e| e.context(format!("{}: exec in pod {namespace}/{pod}", self.name())))
    }
}
