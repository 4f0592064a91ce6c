//! Commands in pods: `GET`/`POST .../pods/{name}/exec` over WebSocket, with the Kubernetes
//! channel protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`): channel 0 stdin, 1 stdout,
//! 2 stderr, 3 the final `Status`; under v5 the client ends stdin with `[255, 0]`.
//!
//! Nothing runs Pods here, so by default exec answers as kube-apiserver answers for a pod that
//! no node runs, after the same checks in the same order (the pod, then its container, then
//! its node). Only `ExecMode::Host`, an explicit opt-in, runs anything: the command, as a
//! process of this host, in a scratch directory of the pod's own.
use super::core::ClusterCore;
use super::ops::{self, Target};
use super::status::ApiError;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{Method, Uri};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

/// How a sandbox answers `pods/exec`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExecMode {
    /// As kube-apiserver answers when no node runs the pod: `pod P does not have a host
    /// assigned` (400). Nothing runs.
    #[default]
    Refuse,
    /// Runs the command as a process of this host (not in any container): in a private scratch
    /// directory of the pod's own, removed when the sandbox stops, with PATH from the host and
    /// HOME, HOSTNAME and the container's literal `env` values from the pod; the process (not
    /// what it started in the background) is killed when the client goes away.
    Host,
}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
/// v5: `[CLOSE, channel]` says the client sends nothing more on `channel`.
const CLOSE: u8 = 255;

/// The subprotocols served, in the order of preference.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// The query of an exec request, as kube-apiserver reads `PodExecOptions`.
#[derive(Debug, Default, PartialEq)]
struct ExecParams {
    command: Vec<String>,
    container: String,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl ExecParams {
    fn parse(uri: &Uri) -> Result<ExecParams, ApiError> {
        let pairs: Vec<(String, String)> = match uri.query() {
            Some(q) => axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map(|q| q.0)
                .map_err(|e| ApiError::bad_request(format!("invalid query {q:?}: {e}")))?,
            None => Vec::new(),
        };
        let mut params = ExecParams::default();
        for (key, value) in pairs {
            let flag = || parse_bool(&key, &value);
            match key.as_str() {
                "command" => params.command.push(value),
                "container" => params.container = value,
                "stdin" => params.stdin = flag()?,
                "stdout" => params.stdout = flag()?,
                "stderr" => params.stderr = flag()?,
                "tty" => params.tty = flag()?,
                _ => {}
            }
        }
        Ok(params)
    }
}

/// Go's `strconv.ParseBool`, which the real server's query decoding uses.
fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value {value:?} for {key}: expected a boolean"
        ))),
    }
}

/// Answers an exec request (RBAC already checked): the real server's errors for a missing pod,
/// container or node, or under `ExecMode::Host` the upgrade to a session running the command.
pub(crate) fn answer(
    core: &ClusterCore,
    t: &Target,
    method: &Method,
    uri: &Uri,
    upgrade: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let params = ExecParams::parse(uri)?;
    let pod = ops::get(core, t)?;
    let name = t.name.as_deref().unwrap_or("");
    let container = container_of(&pod, name, &params.container)?;
    let Some(host) = &core.exec else {
        return Err(no_host(core, &pod, name));
    };
    if params.command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    if !(params.stdin || params.stdout || params.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if params.tty {
        return Err(ApiError::bad_request(
            "the sandbox runs exec commands without a terminal: leave out tty",
        ));
    }
    let Some(upgrade) = upgrade else {
        return Err(ApiError::bad_request(format!(
            "Upgrade request required: the sandbox serves exec over WebSocket ({})",
            PROTOCOLS.join(", ")
        )));
    };
    let upgrade = upgrade.protocols(PROTOCOLS);
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(str::to_string)
    else {
        return Err(ApiError::bad_request(format!(
            "unsupported WebSocket subprotocol: the sandbox serves {}",
            PROTOCOLS.join(", ")
        )));
    };
    let namespace = t.namespace.clone().unwrap_or_default();
    let run = HostRun {
        dir: host.pod_dir(&namespace, name),
        env: container_env(&container, name),
        params,
        close_signal: protocol == PROTOCOLS[0],
    };
    tracing::info!(target: "runner::sandbox", "{}: exec in pod {namespace}/{name}: {:?}", core.name, run.params.command);
    Ok(upgrade.on_upgrade(move |socket| session(socket, run)))
}

/// The container `requested` names, or the pod's only one; the real server's 400s otherwise.
fn container_of(pod: &Value, name: &str, requested: &str) -> Result<Value, ApiError> {
    let spec = &pod["spec"];
    let list = |field: &str| -> Vec<Value> { spec[field].as_array().cloned().unwrap_or_default() };
    let (init, main, ephemeral) = (
        list("initContainers"),
        list("containers"),
        list("ephemeralContainers"),
    );
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    if requested.is_empty() {
        return match main.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let all = [names(&init), names(&main), names(&ephemeral)].concat();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
        };
    }
    init.iter()
        .chain(&main)
        .chain(&ephemeral)
        .find(|c| c["name"] == requested)
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!("container {requested} is not valid for pod {name}"))
        })
}

/// What kube-apiserver answers when it cannot reach a kubelet running the pod.
fn no_host(core: &ClusterCore, pod: &Value, name: &str) -> ApiError {
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return ApiError::bad_request(format!("pod {name} does not have a host assigned"));
    }
    let node_exists = core
        .lock()
        .store
        .get(&("/nodes".into(), String::new(), node.into()))
        .is_some();
    if node_exists {
        ApiError::internal(format!(
            "error dialing backend: the sandbox runs no kubelet on node {node}"
        ))
    } else {
        // The real server's own wording for a missing node, kind included.
        ApiError::not_found("", "pods", node)
    }
}

/// HOSTNAME as in a pod, then the container's literal `env` values (later ones win, as there).
fn container_env(container: &Value, pod: &str) -> Vec<(String, String)> {
    let mut env = vec![("HOSTNAME".to_string(), pod.to_string())];
    for var in container["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
            env.push((name.to_string(), value.to_string()));
        }
    }
    env
}

/// One command to run on the host for one exec session.
struct HostRun {
    dir: PathBuf,
    env: Vec<(String, String)>,
    params: ExecParams,
    /// v5: stdin ends with a close signal; under v4 only the connection's end ends it.
    close_signal: bool,
}

impl HostRun {
    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
        std::fs::create_dir_all(&self.dir)?;
        let piped = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        let mut command = tokio::process::Command::new(&self.params.command[0]);
        command
            .args(&self.params.command[1..])
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(piped(self.params.stdin))
            .stdout(piped(self.params.stdout))
            .stderr(piped(self.params.stderr))
            .kill_on_drop(true);
        command.spawn()
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

/// Runs the command and relays its streams until it exits (then the final `Status`) or the
/// client goes away (then the process is killed).
async fn session(socket: WebSocket, run: HostRun) {
    let (mut sink, mut incoming) = socket.split();
    let mut child = match run.spawn() {
        Ok(child) => child,
        Err(error) => {
            let status = start_failure(&run.params.command[0], &error);
            let _ = sink
                .send(frame(STATUS, status.to_string().as_bytes()))
                .await;
            let _ = sink.send(normal_closure()).await;
            return;
        }
    };
    // The real server opens each channel with an empty frame.
    for (channel, open) in [
        (STDOUT, run.params.stdout),
        (STDERR, run.params.stderr),
        (STATUS, true),
    ] {
        if open && sink.send(frame(channel, &[])).await.is_err() {
            return;
        }
    }
    let (frames, mut outgoing) = mpsc::channel::<Message>(8);
    let stdout = pump(child.stdout.take(), STDOUT, frames.clone());
    let stderr = pump(child.stderr.take(), STDERR, frames);
    let relay = async {
        while let Some(message) = outgoing.recv().await {
            sink.send(message).await?;
        }
        Ok::<_, axum::Error>(())
    };
    let mut stdin = child.stdin.take();
    let client_gone = async {
        while let Some(Ok(message)) = incoming.next().await {
            let bytes = match message {
                Message::Binary(bytes) => bytes,
                Message::Close(_) => break,
                _ => continue,
            };
            match bytes.as_ref() {
                [STDIN, data @ ..] => {
                    if let Some(pipe) = stdin.as_mut() {
                        if pipe.write_all(data).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                [CLOSE, STDIN] if run.close_signal => close(&mut stdin).await,
                _ => {}
            }
        }
    };
    let finished = async {
        let ((), (), relayed) = tokio::join!(stdout, stderr, relay);
        let exit = child.wait().await;
        (relayed, exit)
    };
    tokio::select! {
        (relayed, exit) = finished => {
            if relayed.is_err() {
                return;
            }
            let status = match exit {
                Ok(exit) => exit_status(&run.params.command, exit),
                Err(error) => start_failure(&run.params.command[0], &error),
            };
            if sink.send(frame(STATUS, status.to_string().as_bytes())).await.is_ok() {
                let _ = sink.send(normal_closure()).await;
            }
        }
        // The child is dropped on return, which kills it (kill_on_drop).
        () = client_gone => {}
    }
}

/// The end of a session, as the real server ends it: client-go takes a close without a code
/// (1005) for a broken stream.
fn normal_closure() -> Message {
    Message::Close(Some(CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    }))
}

async fn close(stdin: &mut Option<ChildStdin>) {
    if let Some(mut pipe) = stdin.take() {
        let _ = pipe.shutdown().await;
    }
}

/// Sends what `source` gives on `channel` until its end.
async fn pump(source: Option<impl AsyncRead + Unpin>, channel: u8, frames: mpsc::Sender<Message>) {
    let Some(mut source) = source else { return };
    let mut buffer = vec![0u8; 32 * 1024];
    while let Ok(n) = source.read(&mut buffer).await {
        if n == 0 || frames.send(frame(channel, &buffer[..n])).await.is_err() {
            return;
        }
    }
}

/// The `Status` a kubelet sends when the command has ended: Success, or NonZeroExitCode with
/// the code as the `ExitCode` cause (128 + the signal for a process a signal ended, as a
/// container runtime reports it).
fn exit_status(command: &[String], exit: std::process::ExitStatus) -> Value {
    use std::os::unix::process::ExitStatusExt;
    let code = exit
        .code()
        .or_else(|| exit.signal().map(|signal| 128 + signal))
        .unwrap_or(-1);
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: command '{}' exited with {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The `Status` for a command that could not start, worded as a container runtime words it.
fn start_failure(program: &str, error: &std::io::Error) -> Value {
    let why = if error.kind() == std::io::ErrorKind::NotFound {
        format!("exec: {program:?}: executable file not found in $PATH")
    } else {
        format!("exec: {program:?}: {error}")
    };
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("failed to exec in the sandbox host: {why}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": why}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(query: &str) -> Uri {
        format!("/api/v1/namespaces/default/pods/p/exec?{query}")
            .parse()
            .unwrap()
    }

    #[test]
    fn parameters_keep_every_command_word_in_order() {
        let params = ExecParams::parse(&uri(
            "command=sh&command=-c&command=echo%20a&stdout=true&stdin=1&container=app",
        ))
        .unwrap();
        assert_eq!(
            params,
            ExecParams {
                command: vec!["sh".into(), "-c".into(), "echo a".into()],
                container: "app".into(),
                stdin: true,
                stdout: true,
                stderr: false,
                tty: false,
            }
        );
        let err = ExecParams::parse(&uri("command=ls&stdout=yes")).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, "invalid value \"yes\" for stdout: expected a boolean")
        );
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn containers_are_chosen_as_the_real_server_chooses_them() {
        let one = pod(json!({"containers": [{"name": "app"}]}));
        assert_eq!(container_of(&one, "p", "").unwrap()["name"], "app");
        let many = pod(json!({
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "app"}, {"name": "side"}],
        }));
        assert_eq!(container_of(&many, "p", "init").unwrap()["name"], "init");
        let messages: Vec<String> = [
            container_of(&many, "p", ""),
            container_of(&many, "p", "nope"),
        ]
        .into_iter()
        .map(|r| r.unwrap_err().message)
        .collect();
        assert_eq!(
            messages,
            [
                "a container name must be specified for pod p, choose one of: [init app side]",
                "container nope is not valid for pod p",
            ]
        );
    }

    #[test]
    fn statuses_carry_the_exit_code_as_kubelet_sends_it() {
        use std::os::unix::process::ExitStatusExt;
        let command = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        assert_eq!(
            exit_status(&command, std::process::ExitStatus::from_raw(0)),
            json!({"metadata": {}, "status": "Success"})
        );
        let failed = exit_status(&command, std::process::ExitStatus::from_raw(3 << 8));
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(
            failed["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: command 'sh -c exit 3' exited with 3"
        );
        // SIGKILL (9): 137, as a container runtime reports it.
        let killed = exit_status(&command, std::process::ExitStatus::from_raw(9));
        assert_eq!(killed["details"]["causes"][0]["message"], "137");
    }

    #[test]
    fn env_is_the_containers_literal_values_after_hostname() {
        let container = json!({"env": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ]});
        assert_eq!(
            container_env(&container, "p"),
            [("HOSTNAME".into(), "p".into()), ("A".into(), "1".into())]
        );
    }
}
