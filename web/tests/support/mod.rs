//! Fixtures shared by the service's tests: a service over a fresh log, requests
//! without sockets, a private redis-server, the golden runs.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_store::{Log, LogOptions};
use nano_web::{AppState, Cache, Limits};
use tower::ServiceExt;

pub struct Service {
    pub state: AppState,
    _engine: Engine,
    _dir: tempfile::TempDir,
}

pub fn service(cache: Cache) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        network: None,
        block: 500,
        log: Some(log.clone()),
    })
    .unwrap();
    let state = AppState::new(engine.handle(), log, cache, Limits::default());
    Service {
        state,
        _engine: engine,
        _dir: dir,
    }
}

pub async fn get(app: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        to_bytes(body, usize::MAX).await.unwrap().to_vec(),
    )
}

/// GETs `uri` until it answers 200 (202 meanwhile); returns the body.
pub async fn until_ready(app: &Router, uri: &str) -> Vec<u8> {
    for _ in 0..2000 {
        let (status, _, body) = get(app, uri).await;
        match status {
            StatusCode::OK => return body,
            StatusCode::ACCEPTED => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("{uri}: {other} {}", String::from_utf8_lossy(&body)),
        }
    }
    panic!("{uri} was not ready within 20 s");
}

pub fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/golden")
            .join(name),
    )
    .unwrap()
}

/// A private redis-server on a port of its own, killed when dropped. Never a server
/// the test did not start.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    password: Option<String>,
    /// A directory with `server.crt`, `server.key` and `ca.crt`: TLS only, when set.
    tls: Option<std::path::PathBuf>,
}

impl RedisServer {
    /// Starts one on a free port (with `requirepass` when a password is given).
    pub fn start(password: Option<&str>) -> RedisServer {
        Self::start_with(password, None)
    }

    /// Starts one that speaks only TLS, with `server.crt`, `server.key` and `ca.crt`
    /// from `tls`, when given.
    pub fn start_with(password: Option<&str>, tls: Option<&Path>) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            password: password.map(str::to_owned),
            tls: tls.map(Path::to_path_buf),
        };
        server.restart();
        server
    }

    /// The URL a client uses.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// Kills it (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(dir) => command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &self.port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.crt")),
        };
        if let Some(p) = &self.password {
            command.args(["--requirepass", p]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
