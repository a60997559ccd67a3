//! The control socket `pnfsctl` talks to: one JSON request per line, one JSON answer per
//! line, over a unix socket (abstract by default, so each network namespace has its own).

use crate::daemon::ControlReq;
use serde_json::{json, Value};
use std::os::linux::net::SocketAddrExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Bound on concurrent control connections.
const MAX_CONNS: usize = 64;
/// Longest request line.
const MAX_LINE: usize = 64 * 1024;

fn std_addr(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    match name.strip_prefix('@') {
        Some(abs) => std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()),
        None => std::os::unix::net::SocketAddr::from_pathname(name),
    }
}

/// Bind the control socket.
pub fn bind(name: &str) -> std::io::Result<UnixListener> {
    if !name.starts_with('@') {
        let _ = std::fs::remove_file(name);
    }
    let l = std::os::unix::net::UnixListener::bind_addr(&std_addr(name)?)?;
    l.set_nonblocking(true)?;
    UnixListener::from_std(l)
}

/// Accept connections and forward their requests to the daemon's loop.
pub async fn serve(listener: UnixListener, to_daemon: mpsc::Sender<ControlReq>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let to_daemon = to_daemon.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, to_daemon).await {
                tracing::debug!("control connection: {e}");
            }
        });
    }
}

async fn connection(
    stream: UnixStream,
    to_daemon: mpsc::Sender<ControlReq>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r.take(MAX_LINE as u64 * 64)).lines();
    while let Some(line) = lines.next_line().await? {
        let answer = if line.len() > MAX_LINE {
            json!({ "error": "request too long" })
        } else {
            match serde_json::from_str::<Value>(&line) {
                Err(e) => json!({ "error": format!("bad request: {e}") }),
                Ok(req) => {
                    let (tx, rx) = oneshot::channel();
                    match to_daemon.try_send(ControlReq { req, reply: tx }) {
                        Err(_) => json!({ "error": "daemon busy" }),
                        Ok(()) => match tokio::time::timeout(Duration::from_secs(30), rx).await {
                            Ok(Ok(v)) => v,
                            Ok(Err(_)) => json!({ "error": "daemon stopped" }),
                            Err(_) => json!({ "error": "daemon did not answer within 30 s" }),
                        },
                    }
                }
            }
        };
        let mut s = answer.to_string();
        s.push('\n');
        w.write_all(s.as_bytes()).await?;
    }
    Ok(())
}

/// Client side: send one request and read its answer.
pub async fn call(name: &str, req: &Value, timeout: Duration) -> std::io::Result<Value> {
    let addr = std_addr(name)?;
    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    s.set_nonblocking(true)?;
    let s = UnixStream::from_std(s)?;
    let (r, mut w) = s.into_split();
    let mut line = req.to_string();
    line.push('\n');
    w.write_all(line.as_bytes()).await?;
    let mut lines = BufReader::new(r).lines();
    let fut = lines.next_line();
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(Some(l))) => serde_json::from_str(&l)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Ok(Ok(None)) => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "daemon closed the connection",
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "daemon did not answer",
        )),
    }
}
