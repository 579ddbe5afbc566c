//! Real servers on loopback for the remote tests and benches: nginx
//! serving a folder (its access log read back to count requests and
//! bytes), moto's S3 server, and a TCP proxy that delays every request
//! (or answers the first ones with 503). Every wait is bounded; every
//! server is stopped when its handle drops.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether a missing server fails the test (CI sets AKBUF_REQUIRE_SERVERS=1)
/// or skips it with a message.
pub fn required() -> bool {
    std::env::var("AKBUF_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits (at most 10 s) until something listens on `port`.
fn wait_for(port: u16, child: &mut Child, what: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on port {port} within 10 s");
}

/// One request in nginx's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    /// The Range header, `-` when none.
    pub range: String,
}

/// nginx serving `www` on a loopback port, range requests on.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub www: PathBuf,
}

impl Nginx {
    /// Starts nginx, or `None` (with a message) if it is not installed and
    /// the servers are not required.
    pub fn start() -> Option<Nginx> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(bin) = bin else {
            assert!(!required(), "nginx is not installed");
            eprintln!("skipped: nginx is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap().keep();
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format counted '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log {d}/access.log counted;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    keepalive_requests 100000;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location / {{ }}
    }}
}}
"#,
            www = www.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        wait_for(port, &mut child, "nginx");
        Some(Nginx {
            child,
            port,
            dir,
            www,
        })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many log lines there are now (a mark for [`Nginx::since`]).
    pub fn mark(&self) -> usize {
        // nginx writes a line as the response ends: the requests already
        // answered must be counted before, not after, the mark.
        std::thread::sleep(Duration::from_millis(50));
        self.log().len()
    }

    /// The requests logged after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Logged> {
        // nginx writes a line as the response ends: give the last one a moment.
        std::thread::sleep(Duration::from_millis(50));
        self.log().into_iter().skip(mark).collect()
    }

    fn log(&self) -> Vec<Logged> {
        let Ok(f) = std::fs::File::open(self.dir.join("access.log")) else {
            return Vec::new();
        };
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                let mut it = l.splitn(5, ' ');
                Some(Logged {
                    method: it.next()?.to_string(),
                    path: it.next()?.to_string(),
                    status: it.next()?.parse().ok()?,
                    bytes: it.next()?.parse().ok()?,
                    range: it.next()?.trim_matches('"').to_string(),
                })
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// moto's S3 server on a loopback port, with one bucket.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts `moto_server` from the repository's `.venv`, or `None`.
    pub fn start(bucket: &str) -> Option<Moto> {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
        if !bin.exists() {
            assert!(!required(), "moto_server is not installed in .venv");
            eprintln!("skipped: moto_server is not installed in .venv");
            return None;
        }
        let port = free_port();
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        wait_for(port, &mut child, "moto_server");
        let moto = Moto { child, port };
        let status = moto.request("PUT", &format!("/{bucket}"));
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        Some(moto)
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The settings for object_store (and the environment for the CLI).
    pub fn config(&self) -> Vec<(String, String)> {
        vec![
            ("aws_endpoint".into(), self.endpoint()),
            ("aws_access_key_id".into(), "testing".into()),
            ("aws_secret_access_key".into(), "testing".into()),
            ("aws_region".into(), "us-east-1".into()),
            ("aws_allow_http".into(), "true".into()),
        ]
    }

    /// One plain request; the status line.
    pub fn request(&self, method: &str, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(s).read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on loopback before `upstream`: every chunk from the client
/// (a request) is held `delay` before it goes on, and the first `fail`
/// requests are answered `503 Service Unavailable` by the proxy itself.
pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests answered 503 so far.
    pub failed: Arc<AtomicUsize>,
    /// The request line of every request passed on.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start(upstream: u16, delay: Duration, fail: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, failed2, log2) = (Arc::clone(&stop), Arc::clone(&failed), Arc::clone(&log));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let failed = Arc::clone(&failed2);
                        let log = Arc::clone(&log2);
                        std::thread::spawn(move || {
                            serve(client, upstream, delay, fail, &failed, log)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            port,
            stop,
            failed,
            log,
        }
    }

    /// The request lines passed on so far (`GET /path?query HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

type Log = Arc<std::sync::Mutex<Vec<String>>>;

fn serve(
    mut client: TcpStream,
    upstream: u16,
    delay: Duration,
    fail: usize,
    failed: &AtomicUsize,
    log: Log,
) {
    let _ = client.set_nodelay(true);
    if failed.load(Ordering::SeqCst) < fail {
        // Read the request head, answer 503, close.
        let mut head = Vec::new();
        let mut byte = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match client.read(&mut byte) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&byte[..n]),
            }
        }
        if failed.fetch_add(1, Ordering::SeqCst) < fail {
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        // Past the failures meanwhile: pass this request on.
        let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        std::thread::sleep(delay);
        note(&log, &head);
        let _ = server.write_all(&head);
        pump(client, server, delay, log);
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    pump(client, server, delay, log);
}

/// Logs the request line of a chunk that starts a request.
fn note(log: &Log, chunk: &[u8]) {
    let line = chunk.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let text = String::from_utf8_lossy(line);
    let method = text.split(' ').next().unwrap_or("");
    if !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && text.ends_with("HTTP/1.1")
    {
        log.lock().unwrap().push(text.into_owned());
    }
}

/// Copies both ways until either side closes; client bytes are delayed.
fn pump(client: TcpStream, server: TcpStream, delay: Duration, log: Log) {
    let _ = server.set_nodelay(true);
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    std::thread::sleep(delay);
                    note(&log, &buf[..n]);
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match s_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// Copies a directory container into `www/name`.
pub fn serve_copy(src: &Path, www: &Path, name: &str) -> PathBuf {
    let dst = www.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}
