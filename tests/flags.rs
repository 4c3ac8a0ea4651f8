//! Every flag and environment variable of `serve` that changes behaviour, through the
//! binary: a table of rows, each a setting and what it visibly does. A row runs once
//! with flags and once with the environment variables (when the setting has them), one
//! `serve` process each, on a free port and a fresh log.
//!
//! Adding a flag: add a row to [`rows`] whose check fails when the flag is ignored
//! (with the default, the check must not pass).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nano_testing::cluster::{hostfile, private_ca, spawn_worker, RedisServer};
use nano_testing::http::{connect_from, free_address, http, http_get, http_post};
use nano_testing::process::{run, signal, Proc};
use nano_testing::server;
use nano_testing::server::{assert_reference, serve_with, until_ok};
use redis::Commands;
use serde_json::Value;

/// What every row may use: two private Redis servers (one plain, one TLS-only with a
/// password and a private CA).
struct Fixtures {
    redis: RedisServer,
    tls: RedisServer,
    ca: PathBuf,
    _tls_dir: tempfile::TempDir,
}

impl Fixtures {
    fn start() -> Fixtures {
        let tls_dir = tempfile::tempdir().unwrap();
        private_ca(tls_dir.path()).expect("openssl makes a private CA");
        Fixtures {
            redis: RedisServer::start(None).expect("redis-server starts"),
            tls: RedisServer::start_with(Some("tls-and-auth"), Some(tls_dir.path()))
                .expect("a TLS redis-server starts"),
            ca: tls_dir.path().join("ca.crt"),
            _tls_dir: tls_dir,
        }
    }

    fn flush(&self) {
        for server in [&self.redis, &self.tls] {
            let mut conn = server.client().unwrap().get_connection().unwrap();
            redis::cmd("FLUSHALL").query::<()>(&mut conn).unwrap();
        }
    }
}

/// A row's surroundings: the fixtures, its own directory, and processes it keeps
/// alive beside `serve` (a cluster's workers).
struct Ctx<'a> {
    fx: &'a Fixtures,
    dir: &'a Path,
    keep: RefCell<Vec<Proc>>,
}

/// One setting: its flag, its environment variable (if it has one) and its value.
struct Setting {
    flag: &'static str,
    env: Option<&'static str>,
    value: String,
}

fn set(flag: &'static str, env: Option<&'static str>, value: impl Into<String>) -> Setting {
    Setting {
        flag,
        env,
        value: value.into(),
    }
}

/// A started `serve`, for a row's check.
struct Served<'a> {
    ctx: &'a Ctx<'a>,
    settings: &'a [Setting],
    address: String,
    server: Option<Proc>,
}

impl Served<'_> {
    /// The value the row gave `flag`.
    fn value(&self, flag: &str) -> &str {
        &self.settings.iter().find(|s| s.flag == flag).unwrap().value
    }

    fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = http_get(&self.address, path).expect("serve answers");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get(path).1).unwrap()
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    fn pid(&self) -> u32 {
        self.server.as_ref().unwrap().0.id()
    }

    /// The log's directory (the row's `--data` when it sets one).
    fn data(&self) -> PathBuf {
        match self.settings.iter().find(|s| s.flag == "--data") {
            Some(s) => PathBuf::from(&s.value),
            None => self.ctx.dir.join("data"),
        }
    }

    /// SIGTERM, and waits for it to stop (the log is free for the CLI afterwards).
    fn stop(&mut self) {
        server::stop(self.server.take().unwrap());
    }

    /// SIGKILL.
    fn kill(&mut self) {
        drop(self.server.take());
    }
}

/// Waits (bounded) until `key` is in the Redis `server`; its TTL in seconds.
fn cached_ttl(server: &RedisServer, key: &str) -> Option<i64> {
    let mut conn = server.client().unwrap().get_connection().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if conn.exists::<_, bool>(key).unwrap() {
            return Some(conn.ttl(key).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The catalog entry of `seed` in the log at `data` (read with `runs --json`).
fn logged(data: &Path, seed: u64) -> Option<Value> {
    let out = run(&["runs", "--json", "--data", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    runs.as_array()?.iter().find(|r| r["seed"] == seed).cloned()
}

/// Sends a GET for `path` and reads only the status line; the client then stalls.
fn stalled(address: &str, path: &str) -> (std::net::TcpStream, u16) {
    stalled_from(address, "127.0.0.1", path)
}

/// [`stalled`] from the loopback address `from`.
fn stalled_from(address: &str, from: &str, path: &str) -> (std::net::TcpStream, u16) {
    let mut stream = connect_from(address, from).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (stream, status)
}

/// What a row expects.
enum Expect {
    /// `serve` starts; the check shows what the setting does.
    Serves(fn(&mut Served)),
    /// `serve` refuses to start; the check reads what it said on stderr.
    Refuses(fn(&str)),
}

struct Row {
    name: &'static str,
    settings: fn(&Ctx) -> Vec<Setting>,
    expect: Expect,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "--listen: serves on the address given",
            settings: |_| vec![set("--listen", Some("NANO_LISTEN"), free_address())],
            expect: Expect::Serves(|s| {
                assert_eq!(s.address, s.value("--listen"));
                assert_eq!(s.get("/healthz").0, 200);
            }),
        },
        Row {
            name: "--data: runs are logged in the directory given",
            settings: |c| {
                let dir = c.dir.join("elsewhere");
                vec![set("--data", Some("NANO_DATA"), dir.to_str().unwrap())]
            },
            expect: Expect::Serves(|s| {
                until_ok(&s.address, "/api/propagate/300?seed=5");
                s.stop();
                let entry = logged(&s.data(), 5).expect("the run is in --data");
                assert_eq!(entry["iterations"], 300, "{entry}");
                assert!(!s.ctx.dir.join("data").exists());
            }),
        },
        Row {
            name: "--redis: finished runs land in Redis",
            settings: |c| vec![set("--redis", Some("REDIS_URL"), c.fx.redis.url())],
            expect: Expect::Serves(|s| {
                let ready = s.json("/readyz");
                assert_eq!(ready["cache"]["kind"], "redis", "{ready}");
                assert_eq!(ready["cache"]["status"], "ok", "{ready}");
                until_ok(&s.address, "/api/propagate/400?seed=6");
                let ttl = cached_ttl(&s.ctx.fx.redis, "nano:v1:run:6:400");
                assert!(ttl.is_some(), "the run is not in Redis");
            }),
        },
        Row {
            name: "--redis-ca: a TLS Redis with a private CA and a password caches runs",
            settings: |c| {
                vec![
                    set("--redis", Some("REDIS_URL"), c.fx.tls.url()),
                    set(
                        "--redis-ca",
                        Some("NANO_REDIS_CA"),
                        c.fx.ca.to_str().unwrap(),
                    ),
                ]
            },
            expect: Expect::Serves(|s| {
                assert!(s.value("--redis").starts_with("rediss://:tls-and-auth@"));
                let ready = s.json("/readyz");
                assert_eq!(ready["cache"]["kind"], "redis", "{ready}");
                assert_eq!(ready["cache"]["status"], "ok", "{ready}");
                until_ok(&s.address, "/api/propagate/700?seed=3");
                let ttl = cached_ttl(&s.ctx.fx.tls, "nano:v1:run:3:700");
                assert!(ttl.is_some(), "the run is not in the TLS Redis");
                until_ok(&s.address, "/api/propagate/700?seed=3");
                assert_eq!(s.metric("nano_cache_hits_total") as u64, 1, "read back");
            }),
        },
        Row {
            name: "without --redis-ca, /readyz says why the TLS Redis is not used",
            settings: |c| vec![set("--redis", Some("REDIS_URL"), c.fx.tls.url())],
            expect: Expect::Serves(|s| {
                let ready = s.json("/readyz");
                assert_eq!(ready["status"], "degraded", "{ready}");
                assert_eq!(ready["cache"]["status"], "degraded", "{ready}");
                let error = ready["cache"]["error"].as_str().unwrap();
                assert!(error.contains("certificate"), "{ready}");
                assert!(!error.contains("tls-and-auth"), "the password is not shown");
                until_ok(&s.address, "/api/propagate/700?seed=4");
                assert!(cached_ttl(&s.ctx.fx.tls, "nano:v1:run:4:700").is_none());
            }),
        },
        Row {
            name: "--redis-ca with a plain redis:// URL is refused",
            settings: |c| {
                vec![
                    set("--redis", Some("REDIS_URL"), c.fx.redis.url()),
                    set(
                        "--redis-ca",
                        Some("NANO_REDIS_CA"),
                        c.fx.ca.to_str().unwrap(),
                    ),
                ]
            },
            expect: Expect::Refuses(|said| assert!(said.contains("--redis-ca"), "{said}")),
        },
        Row {
            name: "--cache-ttl: Redis keeps a run that many seconds",
            settings: |c| {
                vec![
                    set("--redis", Some("REDIS_URL"), c.fx.redis.url()),
                    set("--cache-ttl", Some("NANO_CACHE_TTL"), "77"),
                ]
            },
            expect: Expect::Serves(|s| {
                until_ok(&s.address, "/api/propagate/400?seed=7");
                let ttl = cached_ttl(&s.ctx.fx.redis, "nano:v1:run:7:400").unwrap();
                assert!((1..=77).contains(&ttl), "ttl {ttl}");
            }),
        },
        Row {
            name: "--cache-mb 0: nothing is kept in process; reads come from the log",
            settings: |_| vec![set("--cache-mb", Some("NANO_CACHE_MB"), "0")],
            expect: Expect::Serves(|s| {
                let first = until_ok(&s.address, "/api/propagate/500?seed=8");
                let again = until_ok(&s.address, "/api/propagate/500?seed=8");
                assert!(first == again);
                assert_eq!(s.metric("nano_cache_hits_total") as u64, 0);
                assert!(s.metric("nano_log_served_total") >= 1.0);
            }),
        },
        Row {
            name: "--memory-mb: reads of the log share a quarter of the budget",
            settings: |_| vec![set("--memory-mb", Some("NANO_MEMORY_MB"), "256")],
            expect: Expect::Serves(|s| {
                let memory = &s.json("/readyz")["memory"];
                assert_eq!(memory["reads_capacity_bytes"], 64u64 << 20, "{memory}");
            }),
        },
        Row {
            name: "--max-log-gb: a run that would pass the quota gets 507 with the reason",
            settings: |_| vec![set("--max-log-gb", Some("NANO_MAX_LOG_GB"), "0.01")],
            expect: Expect::Serves(|s| {
                let (status, body) = s.get("/api/propagate/1000000?seed=5");
                assert_eq!(status, 507, "{body}");
                assert!(body.contains("quota"), "{body}");
                assert!(matches!(s.get("/api/propagate/1000?seed=5").0, 200 | 202));
            }),
        },
        Row {
            name: "--max-steps: a larger n is refused, naming n",
            settings: |_| vec![set("--max-steps", Some("NANO_MAX_STEPS"), "100")],
            expect: Expect::Serves(|s| {
                let (status, body) = s.get("/api/propagate/101");
                assert_eq!(status, 400, "{body}");
                assert!(body.contains("\"field\":\"n\""), "{body}");
                assert!(matches!(s.get("/api/propagate/100").0, 200 | 202));
            }),
        },
        Row {
            name: "--max-bodies: a scenario with more bodies is refused, naming them",
            settings: |_| vec![set("--max-bodies", Some("NANO_MAX_BODIES"), "2")],
            expect: Expect::Serves(|s| {
                let scenario = |bodies: usize| {
                    let bodies: Vec<Value> = (0..bodies)
                        .map(|i| serde_json::json!({"name": format!("sat-{i}"), "state": [7000, 0, 0, 0, 7.5, 0]}))
                        .collect();
                    serde_json::json!({
                        "scenario": {"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
                                     "output_step_s": 60, "bodies": bodies},
                        "steps": 10,
                    })
                    .to_string()
                };
                let refused = http_post(&s.address, "/api/runs", &scenario(3)).unwrap();
                let body = String::from_utf8_lossy(&refused.body);
                assert_eq!(refused.status, 400, "{body}");
                assert!(body.contains("\"field\":\"scenario.bodies\""), "{body}");
                assert!(body.contains("at most 2 bodies"), "{body}");
                let taken = http_post(&s.address, "/api/runs", &scenario(2)).unwrap();
                let body = String::from_utf8_lossy(&taken.body);
                assert!(matches!(taken.status, 200 | 202), "{} {body}", taken.status);
            }),
        },
        Row {
            name: "--max-jobs: past that many jobs in flight a new run gets 503",
            settings: |_| vec![set("--max-jobs", Some("NANO_MAX_JOBS"), "1")],
            expect: Expect::Serves(|s| {
                // A run far longer than the two requests take.
                assert_eq!(s.get("/api/propagate/10000000?seed=21").0, 202);
                let (status, body) = s.get("/api/propagate/10000000?seed=22");
                assert_eq!(status, 503, "{body}");
                assert_eq!(s.json("/readyz")["cluster"]["max_jobs"], 1);
                s.kill();
            }),
        },
        Row {
            name: "--max-versions: a manoeuvre past that many versions gets 409 naming the limit",
            settings: |_| vec![set("--max-versions", Some("NANO_MAX_VERSIONS"), "2")],
            expect: Expect::Serves(|s| {
                let request = r#"{"scenario": {"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
                    "output_step_s": 60, "bodies": [{"state": [7000, 0, 0, 0, 7.5, 0]}]}, "steps": 20}"#;
                let created = http_post(&s.address, "/api/runs", request).unwrap();
                assert!(
                    created.status < 300,
                    "{}",
                    String::from_utf8_lossy(&created.body)
                );
                let id = serde_json::from_slice::<Value>(&created.body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                server::until_all_complete(&s.address, std::slice::from_ref(&id));
                let path = format!("/api/runs/{id}/manoeuvres");
                let manoeuvre = r#"{"body": 0, "t": 60, "dv_kms": [0, 0.01, 0]}"#;
                for _ in 0..2 {
                    let made = http_post(&s.address, &path, manoeuvre).unwrap();
                    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
                }
                let refused = http_post(&s.address, &path, manoeuvre).unwrap();
                let body = String::from_utf8_lossy(&refused.body);
                assert_eq!(refused.status, 409, "{body}");
                assert!(body.contains("--max-versions 2"), "{body}");
            }),
        },
        Row {
            name: "--block: runs are logged in blocks of that many iterations",
            settings: |_| vec![set("--block", Some("NANO_BLOCK"), "100")],
            expect: Expect::Serves(|s| {
                until_ok(&s.address, "/api/propagate/1000?seed=9");
                s.stop();
                let out = run(&["verify", "--data", s.data().to_str().unwrap()]);
                let said = String::from_utf8_lossy(&out.stdout);
                assert!(said.contains("1 runs, 10 blocks"), "{said}");
            }),
        },
        Row {
            name: "--api-token: computation needs the bearer token",
            settings: |_| vec![set("--api-token", Some("NANO_API_TOKEN"), "t0ps3cret")],
            expect: Expect::Serves(|s| {
                assert_eq!(s.get("/api/propagate/50?seed=1").0, 401);
                let bearer = [("Authorization", "Bearer t0ps3cret")];
                let path = "/api/propagate/50?seed=1";
                let status = http(&s.address, "127.0.0.1", path, &bearer).unwrap().status;
                assert!(matches!(status, 200 | 202), "{status}");
            }),
        },
        Row {
            name: "--rate-limit: a client's new runs past the limit get 429",
            settings: |_| vec![set("--rate-limit", Some("NANO_RATE_LIMIT"), "2")],
            expect: Expect::Serves(|s| {
                for seed in [1, 2] {
                    let status = s.get(&format!("/api/propagate/50?seed={seed}")).0;
                    assert!(matches!(status, 200 | 202), "{status}");
                }
                assert_eq!(s.get("/api/propagate/50?seed=3").0, 429);
            }),
        },
        Row {
            name: "--trusted-proxies: X-Forwarded-For from that proxy names the client",
            settings: |_| {
                vec![
                    set(
                        "--trusted-proxies",
                        Some("NANO_TRUSTED_PROXIES"),
                        "127.0.0.0/8",
                    ),
                    set("--rate-limit", None, "1"),
                ]
            },
            expect: Expect::Serves(|s| {
                let ask = |seed: u64, client: &str| {
                    let path = format!("/api/propagate/50?seed={seed}");
                    let forwarded = [("X-Forwarded-For", client)];
                    http(&s.address, "127.0.0.1", &path, &forwarded)
                        .unwrap()
                        .status
                };
                assert_eq!(ask(1, "10.0.0.1"), 202);
                assert_eq!(ask(2, "10.0.0.1"), 429);
                assert_eq!(ask(3, "10.0.0.2"), 202, "another forwarded client");
            }),
        },
        Row {
            name: "--trusted-proxies: an entry that is no address is refused, naming it",
            settings: |_| {
                vec![set(
                    "--trusted-proxies",
                    Some("NANO_TRUSTED_PROXIES"),
                    "10.0.0.0/40",
                )]
            },
            expect: Expect::Refuses(|said| {
                assert!(
                    said.contains("--trusted-proxies") && said.contains("10.0.0.0/40"),
                    "{said}"
                )
            }),
        },
        Row {
            name: "--log-format: an unknown format is refused, naming the formats",
            settings: |_| vec![set("--log-format", Some("NANO_LOG_FORMAT"), "xml")],
            expect: Expect::Refuses(|said| {
                assert!(
                    said.contains("--log-format") && said.contains("json"),
                    "{said}"
                )
            }),
        },
        Row {
            // `always` and the default `batch` flush a run's blocks before they are
            // reported, so both pass this; what `never` may lose is not deterministic.
            name: "--sync always: a run reported complete survives SIGKILL",
            settings: |_| vec![set("--sync", Some("NANO_SYNC"), "always")],
            expect: Expect::Serves(|s| {
                until_ok(&s.address, "/api/propagate/3000?seed=10");
                s.kill();
                let entry = logged(&s.data(), 10).expect("the run is logged");
                assert_eq!(entry["iterations"], 3000, "{entry}");
            }),
        },
        Row {
            name: "--sync: an unknown mode is refused, naming the modes",
            settings: |_| vec![set("--sync", Some("NANO_SYNC"), "sometimes")],
            expect: Expect::Refuses(|said| {
                assert!(said.contains("--sync") && said.contains("always"), "{said}")
            }),
        },
        Row {
            name: "--workers: the dataflow runs on that many threads",
            settings: |_| vec![set("--workers", None, "24")],
            expect: Expect::Serves(|s| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
                let threads: usize = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Threads:"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                assert!(threads > 24, "{threads} threads");
            }),
        },
        Row {
            name: "--max-streams: streams beyond it get 503",
            settings: |_| vec![set("--max-streams", Some("NANO_MAX_STREAMS"), "1")],
            expect: Expect::Serves(|s| {
                let events = "/api/propagate/10000000/events?seed=1";
                let (_open, status) = stalled(&s.address, events);
                assert_eq!(status, 200);
                let (status, body) = s.get(events);
                assert_eq!(status, 503, "{body}");
                assert!(body.contains("too many streams"), "{body}");
            }),
        },
        Row {
            name: "--client-share: one client holds at most that share of the streams",
            settings: |_| {
                vec![
                    set("--client-share", Some("NANO_CLIENT_SHARE"), "50"),
                    set("--max-streams", Some("NANO_MAX_STREAMS"), "4"),
                ]
            },
            expect: Expect::Serves(|s| {
                let events = "/api/propagate/10000000/events?seed=1";
                let (_one, status) = stalled(&s.address, events);
                assert_eq!(status, 200);
                let (_two, status) = stalled(&s.address, events);
                assert_eq!(status, 200, "the second stream of 2 (50% of 4) was refused");
                let (status, body) = s.get(events);
                assert_eq!(status, 429, "{body}");
                assert!(body.contains("--client-share"), "{body}");
                let (_other, status) = stalled_from(&s.address, "127.0.0.2", events);
                assert_eq!(status, 200, "another client was refused");
            }),
        },
        Row {
            name: "--min-read-rate, --read-grace: a client reading slower is dropped",
            settings: |_| {
                vec![
                    set("--min-read-rate", Some("NANO_MIN_READ_RATE"), "50000000"),
                    set("--read-grace", Some("NANO_READ_GRACE"), "1"),
                ]
            },
            expect: Expect::Serves(|s| {
                let csv = "/api/propagate/300000?seed=2&format=csv";
                until_ok(&s.address, csv);
                let (mut open, status) = stalled(&s.address, csv);
                assert_eq!(status, 200);
                // About 1 MB a second for 4 s (under 50 MB/s, far over the default
                // 4 KB/s), then as fast as it can.
                let mut buffer = vec![0u8; 64 << 10];
                for _ in 0..64 {
                    if matches!(open.read(&mut buffer), Ok(0) | Err(_)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(60));
                }
                let mut rest = Vec::new();
                let _ = open.read_to_end(&mut rest);
                assert!(
                    !rest.ends_with(b"0\r\n\r\n"),
                    "the slow reader was sent the whole body"
                );
            }),
        },
        Row {
            name: "--header-timeout: a client that sends no request is disconnected",
            settings: |_| vec![set("--header-timeout", Some("NANO_HEADER_TIMEOUT"), "1")],
            expect: Expect::Serves(|s| {
                let mut idle = std::net::TcpStream::connect(&s.address).unwrap();
                idle.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
                idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut byte = [0u8; 1];
                match idle.read(&mut byte) {
                    Ok(0) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                    other => panic!("still connected 5 s later: {other:?}"),
                }
            }),
        },
        Row {
            name: "--max-connections: further clients wait until one closes",
            settings: |_| vec![set("--max-connections", Some("NANO_MAX_CONNECTIONS"), "1")],
            expect: Expect::Serves(|s| {
                let first = std::net::TcpStream::connect(&s.address).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                let (sender, answered) = std::sync::mpsc::channel();
                let address = s.address.clone();
                std::thread::spawn(move || {
                    let _ = sender.send(http_get(&address, "/healthz"));
                });
                assert!(
                    answered.recv_timeout(Duration::from_secs(3)).is_err(),
                    "a second connection was served while the first was open"
                );
                drop(first);
                let answer = answered.recv_timeout(Duration::from_secs(30)).unwrap();
                assert_eq!(answer.unwrap().0, 200);
            }),
        },
        Row {
            name: "--send-timeout: a client that stops reading a download is dropped",
            settings: |_| vec![set("--send-timeout", Some("NANO_SEND_TIMEOUT"), "1")],
            expect: Expect::Serves(|s| {
                let csv = "/api/propagate/300000?seed=2&format=csv";
                let full = until_ok(&s.address, csv).len();
                let (mut open, status) = stalled(&s.address, csv);
                assert_eq!(status, 200);
                std::thread::sleep(Duration::from_secs(4));
                let mut rest = Vec::new();
                let _ = open.read_to_end(&mut rest);
                assert!(rest.len() < full, "the whole body arrived after the stall");
            }),
        },
        Row {
            name: "--shutdown-grace: after SIGTERM, open responses get half of it",
            settings: |_| vec![set("--shutdown-grace", Some("NANO_SHUTDOWN_GRACE"), "30")],
            expect: Expect::Serves(|s| {
                let csv = "/api/propagate/300000?seed=2&format=csv";
                until_ok(&s.address, csv);
                let (_open, status) = stalled(&s.address, csv);
                assert_eq!(status, 200);
                signal(&s.pid().to_string(), "-TERM");
                std::thread::sleep(Duration::from_secs(5));
                let server = &mut s.server.as_mut().unwrap().0;
                assert!(
                    server.try_wait().unwrap().is_none(),
                    "serve stopped before its grace ran out"
                );
                s.kill();
            }),
        },
        Row {
            name: "--stall-after: a round outlasting it makes /readyz say the engine is stuck",
            settings: |_| vec![set("--stall-after", Some("NANO_STALL_AFTER"), "1")],
            expect: Expect::Serves(|s| {
                // One round of this run keeps its worker for minutes: each output step
                // of a town-sized Sun's orbit crosses some hundred orbits.
                let request = r#"{"scenario": {"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
                    "output_step_s": 0.002, "central_body": {"mu_km3_s2": 1e12, "radius_km": 1, "j2": 0},
                    "bodies": [{"name": "grind", "elements": {"a_km": 2, "e": 0}}]}, "steps": 1000000}"#;
                let created = http_post(&s.address, "/api/runs", request).unwrap();
                assert_eq!(
                    created.status,
                    202,
                    "{}",
                    String::from_utf8_lossy(&created.body)
                );
                let started = Instant::now();
                let ready = loop {
                    let (status, body) = s.get("/readyz");
                    if status == 503 {
                        break body;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "/readyz never said stuck: {body}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                };
                assert!(ready.contains("the bound is 1 s"), "{ready}");
                s.kill();
            }),
        },
        Row {
            name: "--blocking-threads: blocking work never takes more threads than that",
            settings: |_| {
                vec![set(
                    "--blocking-threads",
                    Some("NANO_BLOCKING_THREADS"),
                    "2",
                )]
            },
            expect: Expect::Serves(|s| {
                until_ok(&s.address, "/api/propagate/300000?seed=2");
                let threads = || {
                    std::fs::read_dir(format!("/proc/{}/task", s.pid()))
                        .unwrap()
                        .count()
                };
                let before = threads();
                // Two dozen reads of the log at once: each runs on a blocking thread.
                let readers: Vec<_> = (0..24)
                    .map(|i| {
                        let address = s.address.clone();
                        std::thread::spawn(move || {
                            http_get(
                                &address,
                                &format!("/api/propagate/{}?seed=2&points=10", 299_000 + i),
                            )
                        })
                    })
                    .collect();
                for reader in readers {
                    assert_eq!(reader.join().unwrap().unwrap().0, 200);
                }
                let after = threads();
                assert!(after <= before + 2, "{before} threads became {after}");
            }),
        },
        Row {
            name: "--hostfile: runs are computed by the cluster it names",
            settings: |c| {
                let hosts = hostfile(c.dir, 2);
                c.keep.borrow_mut().push(spawn_worker(&hosts, 1, 1));
                vec![
                    set("--hostfile", Some("NANO_HOSTFILE"), hosts.to_str().unwrap()),
                    set("--workers", None, "1"),
                ]
            },
            expect: Expect::Serves(|s| assert_reference(&s.address, 3000, 11)),
        },
        Row {
            name: "--process: serve is process 0 of its cluster",
            settings: |c| {
                let hosts = hostfile(c.dir, 2);
                vec![
                    set("--hostfile", Some("NANO_HOSTFILE"), hosts.to_str().unwrap()),
                    set("--process", Some("NANO_PROCESS"), "1"),
                ]
            },
            expect: Expect::Refuses(|said| assert!(said.contains("process 0"), "{said}")),
        },
        Row {
            name: "--peer-timeout: a missing peer stops the start after that many seconds",
            settings: |c| {
                let hosts = hostfile(c.dir, 2);
                vec![
                    set("--hostfile", Some("NANO_HOSTFILE"), hosts.to_str().unwrap()),
                    set("--peer-timeout", None, "1"),
                ]
            },
            expect: Expect::Refuses(|said| assert!(said.contains("process 1"), "{said}")),
        },
    ]
}

/// Which way a row's settings reach `serve`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    Flags,
    Environment,
}

/// Starts `serve` for one row in one form and checks it; `Err` with what failed, and
/// `None` for the environment form of a row whose settings have no variables.
fn run_row(fx: &Fixtures, row: &Row, form: Form) -> Option<Result<(), String>> {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Ctx {
        fx,
        dir: dir.path(),
        keep: RefCell::default(),
    };
    fx.flush();
    let settings = (row.settings)(&ctx);
    if form == Form::Environment && settings.iter().all(|s| s.env.is_none()) {
        return None;
    }
    let data = dir.path().join("data");
    let mut args: Vec<String> = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    for (flag, value) in [
        ("--listen", "127.0.0.1:0"),
        ("--data", data.to_str().unwrap()),
        ("--workers", "2"),
    ] {
        if !settings.iter().any(|s| s.flag == flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    for s in &settings {
        match (form, s.env) {
            (Form::Environment, Some(var)) => env.push((var.to_owned(), s.value.clone())),
            _ => args.extend([s.flag.to_owned(), s.value.clone()]),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = serve_with(&args, &env);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        match (started, &row.expect) {
            (Ok((server, address)), Expect::Serves(check)) => {
                let mut served = Served {
                    ctx: &ctx,
                    settings: &settings,
                    address,
                    server: Some(server),
                };
                check(&mut served);
            }
            (Err(said), Expect::Refuses(check)) => check(&said),
            (Ok(_), Expect::Refuses(_)) => panic!("serve started; it should have refused"),
            (Err(said), Expect::Serves(_)) => panic!("serve did not start: {said}"),
        }
    }));
    Some(outcome.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }))
}

#[test]
fn every_serve_flag_and_variable_does_what_it_says() {
    let fx = Fixtures::start();
    let mut failures = Vec::new();
    for row in rows() {
        for form in [Form::Flags, Form::Environment] {
            if let Some(Err(e)) = run_row(&fx, &row, form) {
                failures.push(format!("{} ({form:?}): {e}", row.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
