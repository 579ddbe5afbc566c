//! A Ballista cluster on loopback (feature `ballista`): a scheduler and
//! two executors started with `akbuf cluster`, the same queries as one
//! process gives, the buffers the executors read, and a query whose
//! executor is killed while its tasks run.
#![cfg(feature = "ballista")]

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn akbuf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_akbuf"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A scheduler and its executors, killed when dropped.
struct Cluster {
    url: String,
    scheduler: Child,
    executors: Vec<Child>,
    traces: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// Starts a scheduler and `n` executors (each tracing its reads to a
    /// file), and waits (bounded) until a query runs on them.
    fn start(n: usize, scan_delay_ms: Option<u64>, probe: &Path) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheduler = akbuf()
            .args(["cluster", "scheduler", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--executor-timeout", "6"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut executors = Vec::new();
        let mut traces = Vec::new();
        for i in 0..n {
            let trace = dir.path().join(format!("executor{i}.trace"));
            let work = dir.path().join(format!("work{i}"));
            std::fs::create_dir(&work).unwrap();
            let mut cmd = akbuf();
            cmd.args(["cluster", "executor", "--scheduler"])
                .arg(format!("localhost:{port}"))
                .args(["--port", &free_port().to_string()])
                .args(["--grpc-port", &free_port().to_string()])
                .args(["--vcores", "2", "--heartbeat", "1", "--trace", "--work-dir"])
                .arg(&work)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&trace).unwrap());
            if let Some(ms) = scan_delay_ms {
                cmd.args(["--scan-delay-ms", &ms.to_string()]);
            }
            executors.push(cmd.spawn().unwrap());
            traces.push(trace);
        }
        let cluster = Cluster {
            url: format!("df://localhost:{port}"),
            scheduler,
            executors,
            traces,
            _dir: dir,
        };
        // Ready once a query that reads no buffer runs (bounded: 90 s).
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = cluster.sql(probe, "SELECT count(*) AS n FROM t", 20.0);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        cluster
    }

    fn sql(&self, path: &Path, query: &str, timeout_s: f64) -> Output {
        akbuf()
            .arg("sql")
            .arg("--table")
            .arg(format!("t={}", path.display()))
            .args([
                query,
                "--format",
                "json",
                "--cluster",
                &self.url,
                "--timeout",
            ])
            .arg(timeout_s.to_string())
            .output()
            .unwrap()
    }

    /// The keys the executors read (their `--trace` lines).
    fn read_keys(&self) -> BTreeSet<String> {
        self.traces
            .iter()
            .flat_map(|t| {
                std::fs::read_to_string(t)
                    .unwrap()
                    .lines()
                    .filter_map(|l| l.strip_prefix("read ").map(|r| r.to_string()))
                    .filter_map(|r| r.split(' ').next().map(String::from))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn local(path: &Path, query: &str) -> Output {
    akbuf()
        .arg("sql")
        .arg("--table")
        .arg(format!("t={}", path.display()))
        .args([query, "--format", "json"])
        .output()
        .unwrap()
}

fn rows(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "akbuf sql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Equal, floats to 1e-9 relative (partial sums meet in another order).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

const QUERIES: &[&str] = &[
    r#"SELECT sum(CAST(pt AS DOUBLE)) AS s FROM (SELECT unnest("jets.pt") AS pt FROM t)"#,
    "SELECT run, count(*) AS n FROM t GROUP BY run ORDER BY run",
    "SELECT count(*) AS n FROM t WHERE met > 20",
    "SELECT met FROM t ORDER BY met DESC LIMIT 5",
    r#"SELECT run, max(cardinality("jets.pt")) AS most FROM t GROUP BY run ORDER BY run"#,
];

/// `events` cut in `n`-row partitions, and in two containers.
fn datasets(tmp: &Path) -> Vec<PathBuf> {
    let events = root().join("data/events");
    let parts = tmp.join("parts");
    let both = tmp.join("both");
    std::fs::create_dir(&both).unwrap();
    let copy = |args: &[&str]| {
        let st = akbuf().arg("copy").args(args).status().unwrap();
        assert!(st.success());
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    copy(&[&s(&events), &s(&parts), "--partition-rows", "100"]);
    copy(&[&s(&events), &s(&both.join("a")), "--rows", "0:400"]);
    copy(&[&s(&events), &s(&both.join("b")), "--rows", "400:"]);
    vec![
        events,
        root().join("tests/fixtures/partitioned/events_unequal"),
        parts,
        both,
    ]
}

/// Every query, on a single, two partitioned and a multi-container
/// table, gives the cluster's rows as one process gives them; the first
/// query (the sum of `jets.pt` over ten partitions) makes the executors
/// read exactly the jets offsets and the pt data of every partition.
#[test]
fn a_cluster_gives_one_process_results_and_reads_only_touched_buffers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = datasets(tmp.path());
    let parts = &data[2];
    let cluster = Cluster::start(2, None, parts);

    let out = cluster.sql(parts, QUERIES[0], 120.0);
    assert!(same(
        &Value::Array(rows(&out)),
        &Value::Array(rows(&local(parts, QUERIES[0])))
    ));
    let read = cluster.read_keys();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(parts.join("metadata.json")).unwrap())
            .unwrap();
    let n = meta["length"].as_array().unwrap().len();
    assert_eq!(n, 10);
    // The jets list's offsets and the pt leaf's data, per partition.
    let keys: BTreeSet<String> = common::jets_pt_keys(&akbuf::open(parts).unwrap())
        .into_iter()
        .collect();
    assert_eq!(keys.len(), 2 * n, "{keys:?}");
    assert_eq!(read, keys);

    for path in &data {
        for q in QUERIES {
            let here = rows(&local(path, q));
            let there = rows(&cluster.sql(path, q, 120.0));
            assert!(
                same(&Value::Array(there.clone()), &Value::Array(here.clone())),
                "{} {q}: cluster {there:?} != one process {here:?}",
                path.display()
            );
        }
    }
}

/// An executor killed while its tasks run: the query ends, either with
/// the right rows (its tasks ran again on the other executor) or with an
/// error (exit 1, one line); it never hangs.
#[test]
fn a_killed_executor_fails_the_query_cleanly_or_its_tasks_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = datasets(tmp.path());
    let parts = &data[2];
    let mut cluster = Cluster::start(2, Some(1500), parts);
    let want = rows(&local(parts, QUERIES[1]));
    let mut query = akbuf()
        .arg("sql")
        .arg("--table")
        .arg(format!("t={}", parts.display()))
        .args([QUERIES[1], "--format", "json", "--cluster", &cluster.url])
        .args(["--timeout", "240"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    cluster.executors[0].kill().unwrap();
    cluster.executors[0].wait().unwrap();
    // A hang detector, not a timing claim: the client gives up at 240 s.
    let deadline = Instant::now() + Duration::from_secs(300);
    while query.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = query.kill();
            panic!("the query hung after its executor was killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = query.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let got = rows(&out);
        assert!(
            same(&Value::Array(got.clone()), &Value::Array(want.clone())),
            "{got:?} != {want:?}"
        );
        eprintln!("the killed executor's tasks ran again on the other one");
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("akbuf: error: "), "{stderr}");
        assert!(!stderr.contains("--timeout"), "the query hung: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        eprintln!("the query failed cleanly: {stderr}");
    }
}
