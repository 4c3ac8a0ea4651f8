//! A private `redis-server`, started on 127.0.0.1 and ready when [`RedisServer::start`]
//! returns: it has answered `PING` (over TLS and with the password, when it has them).
//! `local-cluster` runs one when it is given no Redis; the tests run theirs with the
//! same code.
//!
//! It keeps nothing on disk (`--save ""`, no AOF) and is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server has to answer `PING`.
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// Why a private Redis is not there.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    /// `redis-server` could not be run (most often: it is not installed).
    #[error("cannot run redis-server: {0}")]
    Spawn(#[source] std::io::Error),
    /// No free port to give it.
    #[error("no free port on 127.0.0.1 for redis-server: {0}")]
    Port(#[source] std::io::Error),
    /// The certificate authority of a TLS server could not be read.
    #[error("cannot read the certificate authority {path}: {source}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// It exited before answering.
    #[error("redis-server on port {port} exited before answering PING ({status})")]
    Exited {
        port: u16,
        status: std::process::ExitStatus,
    },
    /// It did not answer `PING` in time; the last error says what went wrong.
    #[error("redis-server on port {port} did not answer PING within {within:?} (last: {last})")]
    NotReady {
        port: u16,
        within: Duration,
        last: String,
    },
}

/// A `redis-server` of our own on 127.0.0.1.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port (the TLS port, for a TLS server).
    pub port: u16,
    password: Option<String>,
    /// A directory with `server.crt`, `server.key` and `ca.crt`: TLS only, when set.
    tls: Option<PathBuf>,
}

impl RedisServer {
    /// Starts one on a free port (with `requirepass` when a password is given) and
    /// waits until it answers `PING`.
    pub fn start(password: Option<&str>) -> Result<RedisServer, RedisServerError> {
        Self::start_with(password, None)
    }

    /// The same, speaking only TLS with `server.crt`, `server.key` and `ca.crt` from
    /// `tls`, when given.
    pub fn start_with(
        password: Option<&str>,
        tls: Option<&Path>,
    ) -> Result<RedisServer, RedisServerError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(RedisServerError::Port)?
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            password: password.map(str::to_owned),
            tls: tls.map(Path::to_path_buf),
        };
        server.restart()?;
        Ok(server)
    }

    /// The URL a client uses (`rediss://` for TLS; the password in it).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}/", self.port),
            None => format!("{scheme}://127.0.0.1:{}/", self.port),
        }
    }

    /// A client for it (trusting its CA, for TLS).
    pub fn client(&self) -> Result<redis::Client, RedisServerError> {
        let client = match &self.tls {
            None => redis::Client::open(self.url()),
            Some(dir) => {
                let path = dir.join("ca.crt");
                let ca =
                    std::fs::read(&path).map_err(|source| RedisServerError::Ca { path, source })?;
                redis::Client::build_with_tls(
                    self.url(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca),
                    },
                )
            }
        };
        client.map_err(|e| RedisServerError::NotReady {
            port: self.port,
            within: Duration::ZERO,
            last: e.to_string(),
        })
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: it keeps nothing on disk), and waits
    /// until it answers `PING`.
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.kill();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(dir) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-auth-clients", "no"])
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
            .map_err(RedisServerError::Spawn)?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until it answers `PING`, at most [`READY_WITHIN`].
    fn wait_ready(&mut self) -> Result<(), RedisServerError> {
        let client = self.client()?;
        let started = Instant::now();
        loop {
            let last = match client
                .get_connection_with_timeout(Duration::from_millis(500))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(RedisServerError::Exited {
                    port: self.port,
                    status,
                });
            }
            if started.elapsed() > READY_WITHIN {
                self.kill();
                return Err(RedisServerError::NotReady {
                    port: self.port,
                    within: READY_WITHIN,
                    last,
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes, in `dir`, a private certificate authority (`ca.crt`, `ca.key`) and a
/// certificate for 127.0.0.1 signed by it (`server.crt`, `server.key`), with `openssl`:
/// what [`RedisServer::start_with`] needs for TLS.
pub fn private_ca(dir: &Path) -> std::io::Result<()> {
    let run = |args: &[&str]| -> std::io::Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=nano-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_answers_with_its_password_and_refuses_without() {
        let server = RedisServer::start(Some("pw-for-tests")).expect("redis-server starts");
        let mut conn = server.client().unwrap().get_connection().unwrap();
        let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
        assert_eq!(pong, "PONG");
        let anonymous = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))
            .unwrap()
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        assert!(anonymous.is_err(), "requirepass is set");
    }
}
