//! Commands in a pod, through kube's `Api::exec`: a WebSocket to the API server with the
//! Kubernetes channel protocol, over this cluster's own client stack and credentials.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, AttachedProcess};
use kube::Api;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::cluster::Cluster;
use super::errors::{api_error, object_label};
use super::Session;
use crate::error::{ErrorKind, HostError, HostResult};
use crate::exec::{command_line, ExecOptions, ExecOutput};

/// Lines of stderr an error shows.
const STDERR_TAIL_LINES: usize = 20;

/// The annotation kubectl reads for the container an exec picks when none is named.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

impl Cluster {
    /// Runs `command` in a container of `pod`, as `kubectl exec` would: in `container`, or the
    /// pod's default one (its `kubectl.kubernetes.io/default-container`, else its first).
    pub async fn exec_pod(
        &self,
        session: &Session<'_>,
        namespace: &str,
        pod: &str,
        container: &str,
        command: &[String],
        options: &ExecOptions,
    ) -> HostResult<ExecOutput> {
        let namespace = if namespace.is_empty() {
            self.namespace()
        } else {
            namespace
        };
        let target = PodTarget {
            cluster: self.name(),
            namespace,
            pod,
        };
        let Some((program, args)) = command.split_first() else {
            return Err(HostError::new(format!(
                "{}: exec_pod in {namespace}/{pod} needs a command",
                self.name()
            )));
        };
        self.announce(session);
        let shown = command_line(program, args);
        if session.dry_run {
            let within = if container.is_empty() {
                String::new()
            } else {
                format!(", container {container}")
            };
            session.reporter.log(&format!(
                "would run in pod {namespace}/{pod}{within}: {shown}"
            ));
            return Ok(ExecOutput::default());
        }
        let run = self.run_in_pod(&target, container, command, options);
        let output = match options.timeout {
            Some(limit) => tokio::time::timeout(limit, run).await.map_err(|_| {
                target.error(format!(
                    "`{shown}` did not finish within {}s; runner closed its connection",
                    limit.as_secs_f64()
                ))
            })??,
            None => run.await?,
        };
        if options.check && output.code != 0 {
            let mut err = target.error(format!("`{shown}` exited with code {}", output.code));
            let stderr = tail(&output.stderr, STDERR_TAIL_LINES);
            if !stderr.is_empty() {
                err = err.with_cause(format!("stderr:\n{stderr}"));
            }
            return Err(
                err.with_hint("pass #{check: false} to exec_pod to handle the exit code yourself")
            );
        }
        Ok(output)
    }

    async fn run_in_pod(
        &self,
        target: &PodTarget<'_>,
        container: &str,
        command: &[String],
        options: &ExecOptions,
    ) -> HostResult<ExecOutput> {
        let client = self.upgrades.client().map_err(|e| {
            HostError::from_error(&e)
                .context(format!("{}: cannot create a client for exec", self.name()))
                .with_kind(ErrorKind::Cluster)
        })?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), target.namespace);
        let container = if container.is_empty() {
            let found = pods
                .get(target.pod)
                .await
                .map_err(|e| target.api_error("get", &e))?;
            default_container(&found)
        } else {
            Some(container.to_string())
        };
        let params = AttachParams {
            container,
            stdin: options.stdin.is_some(),
            stdout: true,
            stderr: true,
            tty: false,
            ..AttachParams::default()
        };
        let pods: Api<Pod> = Api::namespaced(client, target.namespace);
        let attached = pods
            .exec(target.pod, command.to_vec(), &params)
            .await
            .map_err(|e| target.api_error("exec in", &e))?;
        relay(target, attached, options.stdin.as_deref()).await
    }
}

/// Where a command runs, for its errors.
struct PodTarget<'a> {
    cluster: &'a str,
    namespace: &'a str,
    pod: &'a str,
}

impl PodTarget<'_> {
    fn object(&self) -> String {
        object_label("Pod", Some(self.namespace), self.pod)
    }

    /// `cluster-1: exec in pod default/web: <what>`.
    fn error(&self, what: String) -> HostError {
        HostError::new(what).context(format!(
            "{}: exec in pod {}/{}",
            self.cluster, self.namespace, self.pod
        ))
    }

    fn api_error(&self, verb: &str, error: &kube::Error) -> HostError {
        api_error(self.cluster, verb, &self.object(), error)
    }
}

/// The container `kubectl exec` picks when none is named.
fn default_container(pod: &Pod) -> Option<String> {
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice())?;
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER))
        .filter(|name| containers.iter().any(|c| &c.name == *name));
    annotated
        .cloned()
        .or_else(|| containers.first().map(|c| c.name.clone()))
}

/// Feeds stdin, collects stdout and stderr, and reads the exit code from the final `Status`.
async fn relay(
    target: &PodTarget<'_>,
    mut attached: AttachedProcess,
    stdin: Option<&str>,
) -> HostResult<ExecOutput> {
    let (Some(stdout), Some(stderr), Some(status)) =
        (attached.stdout(), attached.stderr(), attached.take_status())
    else {
        return Err(HostError::of(
            ErrorKind::Internal,
            "exec without its stdout, stderr or status",
        ));
    };
    let input = attached
        .stdin()
        .zip(stdin)
        .map(|(mut pipe, text)| async move {
            // Shutting it down sends the end of stdin (v5.channel.k8s.io's close signal).
            let _ = pipe.write_all(text.as_bytes()).await;
            let _ = pipe.shutdown().await;
        });
    let feed = async {
        if let Some(input) = input {
            input.await;
        }
    };
    let (stdout, stderr, status, ()) =
        tokio::join!(read_all(stdout), read_all(stderr), status, feed);
    let ended = attached.join().await;
    let code = match status {
        Some(status) => exit_code(target, &status)?,
        None => {
            let why = match ended {
                Err(e) => HostError::from_error(&e),
                Ok(()) => HostError::new("the connection closed"),
            };
            return Err(why
                .context(format!(
                    "{}: exec in pod {}/{}: no exit status arrived",
                    target.cluster, target.namespace, target.pod
                ))
                .with_kind(ErrorKind::Cluster));
        }
    };
    Ok(ExecOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        code,
    })
}

async fn read_all(mut source: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut bytes = Vec::new();
    // A broken stream ends the output; the status (or its absence) says how the command ended.
    let _ = source.read_to_end(&mut bytes).await;
    bytes
}

/// 0 for Success, the `ExitCode` cause of NonZeroExitCode; any other failure (the command did
/// not start, the container is gone) is the API server's error.
fn exit_code(target: &PodTarget<'_>, status: &Status) -> HostResult<i64> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let reason = status.reason.clone().unwrap_or_default();
    if reason == "NonZeroExitCode" {
        let code = (status.details.as_ref())
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|c| c.message.as_deref()?.parse().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    // A failure on the status channel carries no HTTP code of its own when a kubelet sent it.
    let code = status
        .code
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c != 0)
        .unwrap_or(500);
    let failure = kube::core::Status::failure(status.message.as_deref().unwrap_or(""), &reason)
        .with_code(code);
    Err(target.api_error("exec in", &kube::Error::Api(Box::new(failure))))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    const TARGET: PodTarget<'static> = PodTarget {
        cluster: "c1",
        namespace: "default",
        pod: "web",
    };

    fn status(reason: &str, causes: Vec<StatusCause>) -> Status {
        Status {
            status: Some("Failure".into()),
            reason: Some(reason.into()),
            message: Some("command terminated with non-zero exit code".into()),
            details: Some(StatusDetails {
                causes: Some(causes),
                ..StatusDetails::default()
            }),
            ..Status::default()
        }
    }

    #[test]
    fn the_exit_code_comes_from_the_status_channel() {
        let success = Status {
            status: Some("Success".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(&TARGET, &success).unwrap(), 0);
        let exited = status(
            "NonZeroExitCode",
            vec![StatusCause {
                reason: Some("ExitCode".into()),
                message: Some("3".into()),
                field: None,
            }],
        );
        assert_eq!(exit_code(&TARGET, &exited).unwrap(), 3);
    }

    #[test]
    fn other_failures_are_the_api_servers_errors() {
        let mut failed = status("InternalError", Vec::new());
        failed.message = Some("failed to exec in container".into());
        let err = exit_code(&TARGET, &failed).unwrap_err();
        assert_eq!(
            err.full_message(),
            "c1: cannot exec in Pod default/web: failed to exec in container (reason InternalError, HTTP 500)"
        );
        assert_eq!(err.kind.name(), "api-status");
    }

    #[test]
    fn the_default_container_is_kubectls() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "istio-proxy"}, {"name": "app"}]},
        }))
        .unwrap();
        assert_eq!(default_container(&pod).as_deref(), Some("istio-proxy"));
        let mut annotated = pod.clone();
        annotated.metadata.annotations = Some(
            [(DEFAULT_CONTAINER.to_string(), "app".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(default_container(&annotated).as_deref(), Some("app"));
    }
}
