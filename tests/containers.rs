//! The manifests' pods, run for real: the manifests rendered by kustomize
//! (`kubectl kustomize cluster/k8s`), and each pod's container started under the local
//! Docker engine as the kubelet would start it: its image, command, arguments,
//! environment (literal, from the pod's name, from the Secret, with `$(VAR)`
//! expanded), user and groups, read-only root filesystem, dropped capabilities, no
//! privilege escalation, volumes, memory and CPU limits, grace period; its probes run
//! by the test as the kubelet runs them, and its restarts done as the StatefulSet
//! would. The image is built from the binary Cargo built for these tests, on a base
//! made from Debian's packages (`cluster/image.sh`), so no registry is needed.
//!
//! What a cluster cannot have here is its own address per pod: every container runs on
//! the host's network (`--network host`, no bridge: traffic stays on loopback), so the
//! addresses are mapped. Each container port of each pod gets a free port of
//! 127.0.0.1; an environment value that listens on a container port (`0.0.0.0:8080`)
//! listens on its mapped port; a Service's `name:port` becomes the name and the mapped
//! port of the pod it selects, its name resolving to 127.0.0.1 (`--add-host`); the
//! StatefulSet's pods are told their peers' mapped mesh ports (`NANO_PEER_PORTS`) and
//! their own mesh address (`NANO_PEER_BIND`); Redis is given its port and address as
//! flags. Images no registry can give are replaced by ones made here from the same
//! base (`redis:7.2-alpine` by Debian's redis-server). Everything else is the
//! manifests' own.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nano_testing::http::{http_get, http_post};
use nano_testing::process::{assert_verified, propagate_csv, write_file};
use nano_testing::server::{assert_reference, logged};
use nano_testing::{cluster, process, server};
use serde_json::Value;

/// The image the manifests name for the service, built here from the test's binary.
const NANO_IMAGE: &str = "sedaro-nano:dev";
/// What the manifests' images become here: those no registry can give, made from the
/// same Debian base.
const REDIS_IMAGE: &str = "sedaro-nano-redis:bookworm";
const LOCAL_IMAGES: &[(&str, &str)] =
    &[(NANO_IMAGE, NANO_IMAGE), ("redis:7.2-alpine", REDIS_IMAGE)];

/// The checks share two cores: one cluster of containers at a time.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn one_cluster() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker client runs (.ci/deps installs docker.io)")
}

/// Runs `docker args`, asserting it succeeded; its stdout, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The engine answers, the base is made (once: its tag is kept), and the images are
/// built: the service's from exactly the binary under test, Redis's on the same base.
fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let info = docker(&["info", "--format", "{{.ServerVersion}} {{.Driver}}"]);
        assert!(
            info.status.success(),
            "no Docker engine answers: {} (.ci/deps installs docker.io and starts dockerd)",
            String::from_utf8_lossy(&info.stderr).trim()
        );
        let binary = env!("CARGO_BIN_EXE_sedaro-nano");
        for args in [vec!["nano", binary, NANO_IMAGE], vec!["redis", REDIS_IMAGE]] {
            let out = Command::new("bash")
                .arg("cluster/image.sh")
                .args(&args)
                .current_dir(root())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cluster/image.sh {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The image holds exactly the binary under test.
        let inside = docker_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sha256sum",
            NANO_IMAGE,
            "/usr/local/bin/sedaro-nano",
        ]);
        let here = Command::new("sha256sum").arg(binary).output().unwrap();
        let digest = |text: &str| text.split_whitespace().next().unwrap_or("").to_owned();
        assert_eq!(
            digest(&inside),
            digest(&String::from_utf8_lossy(&here.stdout)),
            "the image's binary is not the one under test"
        );
    });
}

/// The rendered manifests, as JSON documents.
struct Manifests {
    docs: Vec<Value>,
}

impl Manifests {
    fn rendered() -> Manifests {
        Manifests::from_yaml(&cluster::rendered_manifests())
    }

    /// YAML read by Python's yaml (which .ci/deps installs for the manifests' check).
    fn from_yaml(yaml: &str) -> Manifests {
        let out = process::piped(
            Command::new("python3").args([
                "-c",
                "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
            ]),
            yaml,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Manifests {
            docs: serde_json::from_slice(&out.stdout).unwrap(),
        }
    }

    fn find(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("the manifests have no {kind}/{name}"))
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs.iter().filter(move |d| d["kind"] == kind)
    }

    /// A key of a Secret (its data, base64).
    fn secret(&self, name: &str, key: &str) -> String {
        let secret = self
            .of_kind("Secret")
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Secret {name}"));
        let encoded = secret["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("Secret {name} has no {key}"));
        String::from_utf8(base64(encoded)).unwrap()
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("{c} is not base64"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
            n.to_be_bytes()[1..c.len()].to_vec()
        })
        .collect()
}

/// A free port of 127.0.0.1 below the ephemeral range. The containers bind it a few
/// seconds after it is chosen; a port of the ephemeral range (what binding port 0
/// gives) could be taken in between by any outgoing connection on the machine. None of
/// `taken`, to which it is added.
fn free_port(taken: &mut std::collections::BTreeSet<u16>) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (20_000u16, ephemeral.max(20_001));
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0u32.. {
        let mut hasher = random.build_hasher();
        hasher.write_u32(attempt);
        let port = low + (hasher.finish() % u64::from(high - low)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && taken.insert(port) {
            return port;
        }
        assert!(attempt < 1000, "no free port from {low} to {high}");
    }
    unreachable!()
}

/// A probe as the kubelet runs it.
#[derive(Debug, Clone)]
struct Probe {
    /// `Some(path)` for httpGet, `None` for tcpSocket.
    path: Option<String>,
    port: u16,
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    failure_threshold: u32,
}

impl Probe {
    fn from(spec: &Value, ports: &BTreeMap<String, u16>) -> Option<Probe> {
        if spec.is_null() {
            return None;
        }
        let (path, port) = if spec["httpGet"].is_object() {
            (
                Some(spec["httpGet"]["path"].as_str().unwrap_or("/").to_owned()),
                &spec["httpGet"]["port"],
            )
        } else {
            (None, &spec["tcpSocket"]["port"])
        };
        let seconds = |field: &str, default: u64| {
            Duration::from_secs(spec[field].as_u64().unwrap_or(default))
        };
        Some(Probe {
            path,
            port: mapped(ports, port),
            initial_delay: seconds("initialDelaySeconds", 0),
            period: seconds("periodSeconds", 10),
            timeout: seconds("timeoutSeconds", 1),
            failure_threshold: spec["failureThreshold"].as_u64().unwrap_or(3) as u32,
        })
    }

    /// One probe: an HTTP status from 200 to 399, or a TCP connection, within the
    /// timeout.
    fn passes(&self) -> bool {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&address, self.timeout) else {
            return false;
        };
        let Some(path) = &self.path else {
            return true;
        };
        let _ = stream.set_read_timeout(Some(self.timeout));
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: kube-probe\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        if stream.read_exact(&mut head).is_err() {
            return false;
        }
        let status: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
        (200..400).contains(&status)
    }
}

/// The host port of a container port given by name or number.
fn mapped(ports: &BTreeMap<String, u16>, port: &Value) -> u16 {
    let key = match port {
        Value::String(name) => name.clone(),
        other => other.to_string(),
    };
    *ports
        .get(&key)
        .unwrap_or_else(|| panic!("the container has no port {key}"))
}

/// One pod's container, as `docker run` starts it.
struct Pod {
    /// The pod's name (`nano-0`, `redis-0`).
    name: String,
    /// The container's name in the engine.
    container: String,
    /// Everything after `docker run`.
    run: Vec<String>,
    /// Container ports, by name and by number, to their ports of 127.0.0.1.
    ports: BTreeMap<String, u16>,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    grace: u64,
    /// Host directories of the pod's volumes, by volume name.
    volumes: BTreeMap<String, PathBuf>,
    /// When its container last started (its liveness probe waits its initial delay).
    started: Option<Instant>,
}

/// The manifests' pods, started as containers.
struct Cluster {
    dir: tempfile::TempDir,
    pods: Vec<Pod>,
    /// Pods the liveness probes would have restarted: what the kubelet saw.
    liveness_failures: Arc<Mutex<Vec<String>>>,
    stop_probing: Arc<std::sync::atomic::AtomicBool>,
    prober: Option<std::thread::JoinHandle<()>>,
    /// What liveness probing needs of each pod while its container runs.
    probed: Arc<Mutex<BTreeMap<String, (Probe, Instant)>>>,
}

impl Cluster {
    /// The pods of `manifests` (the StatefulSet's replicas and each Deployment's),
    /// created but not started; their containers are named after `check`.
    fn new(manifests: &Manifests, check: &str) -> Cluster {
        images();
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("sedaro-test-{}-{check}", std::process::id());
        // Each pod and its template, and the ports every container gets.
        let mut templates = Vec::new();
        let mut taken = std::collections::BTreeSet::new();
        for workload in manifests
            .of_kind("StatefulSet")
            .chain(manifests.of_kind("Deployment"))
        {
            let name = workload["metadata"]["name"].as_str().unwrap();
            let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
            for ordinal in 0..replicas {
                // A Deployment's pods have random names; a StatefulSet's, ordinals.
                let pod = format!("{name}-{ordinal}");
                let container = &workload["spec"]["template"]["spec"]["containers"];
                assert_eq!(
                    container.as_array().map(Vec::len),
                    Some(1),
                    "{name}: one container per pod"
                );
                let mut ports = BTreeMap::new();
                for port in container[0]["ports"].as_array().into_iter().flatten() {
                    let host = free_port(&mut taken);
                    ports.insert(port["containerPort"].to_string(), host);
                    if let Some(name) = port["name"].as_str() {
                        ports.insert(name.to_owned(), host);
                    }
                }
                templates.push((workload, pod, ports));
            }
        }
        let port_of = |pod: &str, port: &Value| {
            let (_, _, ports) = templates.iter().find(|(_, name, _)| name == pod).unwrap();
            mapped(ports, port)
        };
        // Services: `name:port` -> the mapped port of the first pod selected; the
        // headless Service's pods by their own names.
        let mut services = Vec::new();
        let mut hosts = Vec::new();
        for service in manifests.of_kind("Service") {
            let name = service["metadata"]["name"].as_str().unwrap();
            let selector = service["spec"]["selector"].as_object().unwrap();
            let selected: Vec<&String> = templates
                .iter()
                .filter(|(workload, pod, _)| {
                    let labels = &workload["spec"]["template"]["metadata"]["labels"];
                    selector.iter().all(|(key, value)| {
                        labels[key] == *value
                            || key == "statefulset.kubernetes.io/pod-name" && value == pod
                    })
                })
                .map(|(_, pod, _)| pod)
                .collect();
            assert!(!selected.is_empty(), "Service {name} selects no pod");
            if service["spec"]["clusterIP"] == "None" {
                for pod in &selected {
                    hosts.push(format!("{pod}.{name}"));
                }
                continue;
            }
            hosts.push(name.to_owned());
            for port in service["spec"]["ports"].as_array().unwrap() {
                let target = if port["targetPort"].is_null() {
                    &port["port"]
                } else {
                    &port["targetPort"]
                };
                services.push((
                    format!("{name}:{}", port["port"]),
                    format!("{name}:{}", port_of(selected[0], target)),
                ));
            }
        }

        let mut pods = Vec::new();
        for (workload, pod_name, ports) in &templates {
            let template = &workload["spec"]["template"]["spec"];
            let spec = &template["containers"][0];
            let image = spec["image"].as_str().unwrap();
            let local = LOCAL_IMAGES
                .iter()
                .find(|(named, _)| *named == image)
                .unwrap_or_else(|| panic!("no local image stands for {image}"))
                .1;
            let container = format!("{prefix}-{pod_name}");
            let mut run: Vec<String> = ["--name", &container, "--network", "host"]
                .map(String::from)
                .to_vec();
            for host in &hosts {
                run.push(format!("--add-host={host}:127.0.0.1"));
            }

            // The environment, in order, each value's $(VAR) from those before it.
            let mut env: Vec<(String, String)> = Vec::new();
            for var in spec["env"].as_array().into_iter().flatten() {
                let name = var["name"].as_str().unwrap().to_owned();
                let value = if let Some(value) = var["value"].as_str() {
                    expand(value, &env)
                } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
                    pod_name.clone()
                } else if let Some(key) = var["valueFrom"]["secretKeyRef"].as_object() {
                    manifests.secret(key["name"].as_str().unwrap(), key["key"].as_str().unwrap())
                } else {
                    panic!("{pod_name}: {name}'s source is not one this test knows")
                };
                env.push((name, value));
            }
            // Addresses mapped: listening on a container port, and Services.
            for (_, value) in env.iter_mut() {
                for (port, host) in ports {
                    *value =
                        value.replace(&format!("0.0.0.0:{port}"), &format!("127.0.0.1:{host}"));
                }
                for (from, to) in &services {
                    *value = value.replace(from, to);
                }
            }
            if workload["kind"] == "StatefulSet" {
                let mesh = &workload["spec"]["template"]["spec"]["containers"][0]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == "mesh")
                    .expect("the StatefulSet's pods have a mesh port")["containerPort"];
                let peers: Vec<String> = templates
                    .iter()
                    .filter(|(w, _, _)| std::ptr::eq(*w, *workload))
                    .map(|(_, pod, _)| port_of(pod, mesh).to_string())
                    .collect();
                env.push(("NANO_PEER_PORTS".into(), peers.join(",")));
                env.push(("NANO_PEER_BIND".into(), "127.0.0.1".into()));
            }
            for (name, value) in &env {
                run.push("--env".into());
                run.push(format!("{name}={value}"));
            }

            // Security: the pod's context, the container's over it.
            let pod_security = &template["securityContext"];
            let security = &spec["securityContext"];
            let field = |name: &str| {
                if security[name].is_null() {
                    &pod_security[name]
                } else {
                    &security[name]
                }
            };
            if let Some(user) = field("runAsUser").as_u64() {
                let group = field("runAsGroup").as_u64().unwrap_or(user);
                run.push(format!("--user={user}:{group}"));
            }
            if field("runAsNonRoot") == true {
                assert_ne!(
                    field("runAsUser").as_u64(),
                    Some(0),
                    "{pod_name}: runAsNonRoot with user 0"
                );
                assert!(
                    field("runAsUser").is_u64(),
                    "{pod_name}: runAsNonRoot needs runAsUser here (the kubelet would read the image's user)"
                );
            }
            let fs_group = pod_security["fsGroup"].as_u64();
            if let Some(group) = fs_group {
                run.push(format!("--group-add={group}"));
            }
            if security["readOnlyRootFilesystem"] == true {
                run.push("--read-only".into());
            }
            if security["allowPrivilegeEscalation"] == false {
                run.push("--security-opt=no-new-privileges".into());
            }
            for cap in security["capabilities"]["drop"]
                .as_array()
                .into_iter()
                .flatten()
            {
                run.push(format!("--cap-drop={}", cap.as_str().unwrap()));
            }
            for cap in security["capabilities"]["add"]
                .as_array()
                .into_iter()
                .flatten()
            {
                run.push(format!("--cap-add={}", cap.as_str().unwrap()));
            }
            assert!(
                security["privileged"] != true,
                "{pod_name}: privileged containers are not run here"
            );
            assert!(
                matches!(
                    field("seccompProfile")["type"].as_str(),
                    None | Some("RuntimeDefault")
                ),
                "{pod_name}: only the runtime's default seccomp profile is run here"
            );

            // Resources: limits are the cgroup's; requests the CPU shares and the
            // memory reservation.
            let resources = &spec["resources"];
            if let Some(memory) = resources["limits"]["memory"].as_str() {
                let bytes = quantity(memory);
                run.push(format!("--memory={bytes}"));
                run.push(format!("--memory-swap={bytes}"));
            }
            if let Some(cpu) = resources["limits"]["cpu"].as_str() {
                run.push(format!("--cpus={}", cpu_cores(cpu)));
            }
            if let Some(cpu) = resources["requests"]["cpu"].as_str() {
                run.push(format!(
                    "--cpu-shares={}",
                    (cpu_cores(cpu) * 1024.0).round() as u64
                ));
            }
            if let Some(memory) = resources["requests"]["memory"].as_str() {
                run.push(format!("--memory-reservation={}", quantity(memory)));
            }

            // Volumes: the claim's and each emptyDir, host directories of the pod.
            let mut volumes = BTreeMap::new();
            for mount in spec["volumeMounts"].as_array().into_iter().flatten() {
                let name = mount["name"].as_str().unwrap();
                let claimed = workload["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["metadata"]["name"] == name);
                let declared = template["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|v| v["name"] == name);
                assert!(
                    claimed || declared.is_some_and(|v| v["emptyDir"].is_object()),
                    "{pod_name}: volume {name} is neither a claim nor an emptyDir"
                );
                let host = dir.path().join(format!("{name}-{pod_name}"));
                std::fs::create_dir(&host).unwrap();
                // The kubelet gives a volume to the pod's fsGroup (setgid, group
                // writable); without one, an emptyDir is open to all.
                match fs_group {
                    Some(group) => {
                        chown(&host, 0, group as u32);
                        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o2775))
                            .unwrap();
                    }
                    None => std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777))
                        .unwrap(),
                }
                run.push(format!(
                    "--mount=type=bind,src={},dst={}{}",
                    host.display(),
                    mount["mountPath"].as_str().unwrap(),
                    if mount["readOnly"] == true {
                        ",readonly"
                    } else {
                        ""
                    }
                ));
                volumes.insert(name.to_owned(), host);
            }
            let grace = template["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            run.push(format!("--stop-timeout={grace}"));

            // The command replaces the image's entrypoint; the arguments its command.
            let env_of = |text: &str| expand(text, &env);
            let command: Vec<String> = spec["command"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| env_of(c.as_str().unwrap()))
                .collect();
            if let Some(entrypoint) = command.first() {
                run.push(format!("--entrypoint={entrypoint}"));
            }
            run.push(local.to_owned());
            run.extend(command.iter().skip(1).cloned());
            run.extend(
                spec["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| env_of(a.as_str().unwrap())),
            );
            if local == REDIS_IMAGE {
                // Redis listens where its port is mapped.
                let port = spec["ports"][0]["containerPort"].to_string();
                run.extend([
                    "--port".into(),
                    ports[&port].to_string(),
                    "--bind".into(),
                    "127.0.0.1".into(),
                ]);
            }
            pods.push(Pod {
                name: pod_name.clone(),
                container,
                run,
                readiness: Probe::from(&spec["readinessProbe"], ports),
                liveness: Probe::from(&spec["livenessProbe"], ports),
                ports: ports.clone(),
                grace,
                volumes,
                started: None,
            });
        }
        let mut cluster = Cluster {
            dir,
            pods,
            liveness_failures: Arc::default(),
            stop_probing: Arc::default(),
            prober: None,
            probed: Arc::default(),
        };
        cluster.prober = Some(cluster.liveness_prober());
        cluster
    }

    /// The kubelet's liveness probing of every running container: a pod whose probe
    /// fails `failureThreshold` times in a row would be restarted, which is recorded.
    fn liveness_prober(&self) -> std::thread::JoinHandle<()> {
        let probed = Arc::clone(&self.probed);
        let failures = Arc::clone(&self.liveness_failures);
        let stop = Arc::clone(&self.stop_probing);
        std::thread::spawn(move || {
            // Each pod's start, next probe and failures in a row.
            let mut state: BTreeMap<String, (Instant, Instant, u32)> = BTreeMap::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let now = Instant::now();
                let pods = probed.lock().unwrap().clone();
                for (pod, (probe, started)) in pods {
                    let first = (started, started + probe.initial_delay, 0);
                    let (start, next, failed) = state.entry(pod.clone()).or_insert(first);
                    if *start != started {
                        (*start, *next, *failed) = first;
                    }
                    if now < *next {
                        continue;
                    }
                    *next = now + probe.period;
                    if probe.passes() {
                        *failed = 0;
                    } else {
                        *failed += 1;
                        if *failed == probe.failure_threshold {
                            failures.lock().unwrap().push(format!(
                                "{pod}: the liveness probe failed {failed} times in a row: the kubelet would restart it"
                            ));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    }

    fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    fn pod_mut(&mut self, name: &str) -> &mut Pod {
        self.pods
            .iter_mut()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// Starts `pod`'s container: created the first time, started again after.
    fn start(&mut self, name: &str) {
        let pod = self.pod(name);
        let out = if pod.started.is_none() {
            let mut args = vec!["run", "--detach"];
            args.extend(pod.run.iter().map(String::as_str));
            docker(&args)
        } else {
            docker(&["start", &pod.container])
        };
        assert!(
            out.status.success(),
            "{name} did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let now = Instant::now();
        let pod = self.pod_mut(name);
        pod.started = Some(now);
        if let Some(probe) = pod.liveness.clone() {
            let name = pod.name.clone();
            self.probed.lock().unwrap().insert(name, (probe, now));
        }
    }

    /// The container is gone from the liveness probes' sight (stopped or killed on
    /// purpose).
    fn unprobed(&self, name: &str) {
        self.probed.lock().unwrap().remove(name);
    }

    /// Waits until `pod`'s readiness probe passes, probing as the kubelet does
    /// (after the initial delay, once a period).
    fn until_ready(&self, name: &str, within: Duration) {
        let pod = self.pod(name);
        let probe = pod
            .readiness
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no readiness probe"));
        let started = Instant::now();
        std::thread::sleep(probe.initial_delay);
        while !probe.passes() {
            assert!(
                started.elapsed() < within && self.running(name),
                "{name} was not ready within {within:?} ({}):\n{}",
                if self.running(name) {
                    "running"
                } else {
                    "exited"
                },
                self.logs(name)
            );
            std::thread::sleep(probe.period);
        }
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        docker_ok(&["inspect", "--format", format, &self.pod(name).container])
    }

    fn running(&self, name: &str) -> bool {
        self.inspect(name, "{{.State.Running}}") == "true"
    }

    /// The container's last lines of output, for a failure's message.
    fn logs(&self, name: &str) -> String {
        let out = docker(&["logs", "--tail", "30", &self.pod(name).container]);
        format!(
            "--- {name}'s last output:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Asserts that `pod`'s container runs; else the failure says how it ended.
    fn assert_running(&self, name: &str) {
        let state = self.inspect(
            name,
            "{{.State.Running}} OOMKilled={{.State.OOMKilled}} exit={{.State.ExitCode}}",
        );
        assert!(
            state.starts_with("true"),
            "{name} stopped ({state})\n{}",
            self.logs(name)
        );
    }

    /// GETs `path` from the web until it answers 200, while every nano container runs.
    fn until_served(&self, path: &str) -> Vec<u8> {
        let started = Instant::now();
        loop {
            if let Some((200, body)) = http_get(&self.web(), path) {
                return body;
            }
            for name in NANO {
                self.assert_running(name);
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "{path} not served within 5 minutes"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `pod`'s container has exited; its exit code.
    fn until_exited(&self, name: &str, within: Duration) -> i64 {
        let started = Instant::now();
        while self.running(name) {
            assert!(
                started.elapsed() < within,
                "{name} still runs after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.inspect(name, "{{.State.ExitCode}}").parse().unwrap()
    }

    /// The web's address (the pod the NodePort Service selects).
    fn web(&self) -> String {
        format!("127.0.0.1:{}", self.pod("nano-0").ports["http"])
    }

    /// The pods the liveness probes would have restarted.
    fn assert_live(&self) {
        let failures = self.liveness_failures.lock().unwrap();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// A host directory of `pod`'s volume.
    fn volume(&self, pod: &str, volume: &str) -> &Path {
        &self.pod(pod).volumes[volume]
    }

    /// Starts every pod in `order` and waits until each is ready.
    fn up(&mut self, order: &[&str]) {
        for name in order {
            self.start(name);
        }
        for name in order {
            self.until_ready(name, Duration::from_secs(90));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_probing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(prober) = self.prober.take() {
            let _ = prober.join();
        }
        let containers: Vec<&str> = self.pods.iter().map(|p| p.container.as_str()).collect();
        let mut args = vec!["rm", "--force", "--volumes"];
        args.extend(containers);
        let _ = docker(&args);
    }
}

/// `$(NAME)` replaced by the value of an earlier variable, as Kubernetes expands
/// environment values, commands and arguments (an unknown name stays as written).
fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in env {
        out = out.replace(&format!("$({name})"), value);
    }
    out
}

/// A memory quantity (`1Gi`, `320Mi`, `500M`) in bytes.
fn quantity(text: &str) -> u64 {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (unit, factor) in units {
        if let Some(number) = text.strip_suffix(unit) {
            return number.parse::<u64>().unwrap() * factor;
        }
    }
    text.parse().unwrap()
}

/// A CPU quantity (`2`, `500m`) in cores.
fn cpu_cores(text: &str) -> f64 {
    match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => text.parse().unwrap(),
    }
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// The nano pods, then Redis: the manifests' own names.
const NANO: [&str; 3] = ["nano-0", "nano-1", "nano-2"];
const REDIS: &str = "redis-0";

/// A Walker shell cheap to propagate, as a constellation run.
fn shell() -> String {
    r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
        "integrator": {"method": "rk4", "step_s": 60}, "output_step_s": 60,
        "walker": {"i_deg": 53, "total": 40, "planes": 5, "phasing": 1, "altitude_km": 550}}"#
        .to_owned()
}

/// Asks for a long nano run and waits until its first blocks are in the log.
fn under_way(address: &str, n: u64, seed: u64) {
    let (status, _) = http_get(address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
    assert_eq!(status, 202);
    let started = Instant::now();
    loop {
        let done = logged(address, seed);
        assert!(done < n, "the run finished before it could be interrupted");
        if done > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing logged"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One cluster at a time, of the manifests as rendered, named after `check`: its pods
/// started (Redis, then the StatefulSet's in order) and ready.
fn up(check: &str) -> (std::sync::MutexGuard<'static, ()>, Manifests, Cluster) {
    let one = one_cluster();
    let manifests = Manifests::rendered();
    let mut cluster = Cluster::new(&manifests, check);
    cluster.up(&[REDIS, "nano-0", "nano-1", "nano-2"]);
    (one, manifests, cluster)
}

#[test]
fn the_pods_come_up_in_any_start_order_and_serve_the_clis_bytes() {
    let _one = one_cluster();
    let manifests = Manifests::rendered();
    let mut cluster = Cluster::new(&manifests, "order");
    // The web first, then a worker, Redis, the other worker: each waits for the rest.
    for name in ["nano-0", "nano-2", REDIS, "nano-1"] {
        cluster.start(name);
        std::thread::sleep(Duration::from_secs(1));
    }
    for name in [REDIS, "nano-0", "nano-1", "nano-2"] {
        cluster.until_ready(name, Duration::from_secs(90));
    }
    let address = cluster.web();
    let (status, body) = http_get(&address, "/readyz").unwrap();
    let ready: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["cache"]["kind"], "redis", "{ready}");
    assert_eq!(ready["cache"]["status"], "ok", "{ready}");

    // A nano run: the CLI's bytes.
    let served = cluster.until_served("/api/propagate/20000?seed=5");
    let cli = process::stdout_of(&["propagate", "--steps", "20000", "--seed", "5"]);
    assert!(
        served == cli,
        "the cluster's nano run differs from the CLI's"
    );
    // A constellation run: the CLI's bytes.
    let request = format!(r#"{{"scenario": {}, "steps": 600}}"#, shell());
    let created = http_post(&address, "/api/runs", &request).unwrap();
    let body: Value = serde_json::from_slice(&created.body).unwrap();
    assert!(created.status < 300, "{body}");
    let id = body["id"].as_str().unwrap();
    let served = cluster.until_served(&format!("/api/runs/{id}?format=csv"));
    let scenario = write_file(cluster.dir.path(), "shell.json", &shell());
    let cli = propagate_csv(&scenario, "600", &[]);
    assert!(
        served == cli,
        "the cluster's constellation run differs from the CLI's"
    );
    for name in NANO {
        cluster.assert_running(name);
    }
    cluster.assert_live();
}

#[test]
fn a_killed_worker_container_stops_the_cluster_and_the_restarted_pods_complete_the_run() {
    let (_one, _, mut cluster) = up("kill");
    let address = cluster.web();
    let (n, seed) = (1_000_000u64, 321u64);
    under_way(&address, n, seed);
    docker_ok(&["kill", &cluster.pod("nano-2").container]);
    cluster.unprobed("nano-2");
    // Fail-stop: the others exit on their own, with a failure, promptly.
    for name in ["nano-0", "nano-1"] {
        let code = cluster.until_exited(name, Duration::from_secs(10));
        cluster.unprobed(name);
        assert_ne!(code, 0, "{name} exited successfully after losing a peer");
    }
    assert_eq!(cluster.inspect("nano-2", "{{.State.ExitCode}}"), "137");
    // Restarted as the StatefulSet's kubelet restarts them (same pods, same volumes),
    // in any order; the run resumes from its log and equals a fresh one.
    cluster.up(&["nano-1", "nano-2", "nano-0"]);
    cluster.until_served(&format!("/api/propagate/{n}?seed={seed}&points=10"));
    assert_reference(&address, n, seed);
    cluster.assert_live();
}

#[test]
fn the_web_container_stops_on_sigterm_within_its_grace_period_and_its_log_verifies() {
    let (_one, _, cluster) = up("term");
    let address = cluster.web();
    under_way(&address, 2_000_000, 99);
    // `docker stop` is the kubelet's: SIGTERM to PID 1, SIGKILL after the grace period.
    let pod = cluster.pod("nano-0");
    let grace = pod.grace;
    let asked = Instant::now();
    cluster.unprobed("nano-0");
    docker_ok(&["stop", "--time", &grace.to_string(), &pod.container]);
    let took = asked.elapsed();
    let code = cluster.inspect("nano-0", "{{.State.ExitCode}}");
    assert_eq!(
        code,
        "0",
        "the web exited with {code} after SIGTERM (137: killed after the grace period of {grace} s)\n{}",
        cluster.logs("nano-0")
    );
    assert!(took < Duration::from_secs(grace));
    eprintln!("nano-0 stopped on SIGTERM in {took:?} (grace {grace} s)");
    // The log on its volume: every checksum, and its catalog against its records.
    assert_verified(&cluster.volume("nano-0", "data").join("log"));
}

#[test]
fn under_the_pods_memory_limit_the_web_survives_the_memory_workload() {
    let (_one, manifests, cluster) = up("memory");
    let address = cluster.web();
    // tests/memory.rs's workload: a run computed, then whole CSV downloads (each
    // about as large as the limit), page series and cached requests at once.
    let (n, seed) = (5_000_000u64, 21u64);
    cluster.until_served(&format!("/api/propagate/{n}?seed={seed}&points=10"));
    let cached = format!("/api/propagate/2000?seed={seed}");
    assert_eq!(http_get(&address, &cached).unwrap().0, 200);
    let csv = format!("/api/propagate/{n}?seed={seed}&format=csv");
    let series = format!("/api/propagate/{n}?seed={seed}&points=5000");
    let (readers, hits) = server::reads_at_once(&address, &csv, &series, &cached);
    let limit = quantity(
        manifests.find("StatefulSet", "nano")["spec"]["template"]["spec"]["containers"][0]
            ["resources"]["limits"]["memory"]
            .as_str()
            .unwrap(),
    );
    // The limit is the container's cgroup's, and nothing was killed under it.
    for name in NANO {
        assert_eq!(
            cluster.inspect(name, "{{.HostConfig.Memory}}"),
            limit.to_string()
        );
        cluster.assert_running(name);
        assert_eq!(cluster.inspect(name, "{{.State.OOMKilled}}"), "false");
    }
    let mut sizes = Vec::new();
    for reader in readers {
        let (status, head, body) = reader.expect("a download was cut off");
        assert_eq!(status, 200, "{head}");
        sizes.push(body);
    }
    for hit in hits {
        assert_eq!(hit.expect("a cached request was cut off").0, 200);
    }
    // Every CSV download is the whole run, and together more than the limit.
    assert!(sizes[..3].iter().all(|&s| s == sizes[0]));
    assert!(3 * sizes[0] > limit, "downloads of {} bytes", sizes[0]);
    let id = cluster.inspect("nano-0", "{{.Id}}");
    let peak = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes"
    ))
    .unwrap_or_default();
    eprintln!(
        "nano-0 under its {} MiB limit: 3 downloads of {} MB, cgroup peak {} MiB (page cache included)",
        limit >> 20,
        sizes[0] >> 20,
        peak.trim().parse::<u64>().unwrap_or(0) >> 20
    );
    cluster.assert_live();
}

#[test]
fn the_pods_run_as_10001_on_a_read_only_root_and_write_only_to_their_volumes() {
    let (_one, _, cluster) = up("root");
    cluster.until_served("/api/propagate/100000?seed=3&points=10");
    for name in NANO {
        // The process itself, seen from the host: uid and gid 10001, every one.
        let pid = cluster.inspect(name, "{{.State.Pid}}");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        for id in ["Uid:", "Gid:"] {
            let line = status.lines().find(|l| l.starts_with(id)).unwrap();
            assert!(
                line.split_whitespace().skip(1).all(|v| v == "10001"),
                "{name}: {line}"
            );
        }
        // Nothing written to the container's own filesystem, which is read-only...
        let diff = docker_ok(&["diff", &cluster.pod(name).container]);
        assert!(diff.is_empty(), "{name} wrote outside its volumes:\n{diff}");
        assert_eq!(
            cluster.inspect(name, "{{.HostConfig.ReadonlyRootfs}}"),
            "true"
        );
    }
    // ... and the log is on the volume, the process's.
    let log = cluster.volume("nano-0", "data").join("log");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&log).unwrap());
    assert_eq!(owner, 10001);
    let hosts = cluster.volume("nano-1", "tmp").join("sedaro-nano.hosts");
    assert!(
        hosts.exists(),
        "the hostfile is not on the pod's /tmp volume"
    );
    cluster.assert_live();
}
