//! A misbehaving HTTP server on loopback, for the remote tests: it serves
//! objects from memory as a static server would (ranges, HEAD, ETag,
//! Last-Modified), except for the one way it is told to lie. Every request
//! is recorded; each connection is closed after its answer; every wait is
//! bounded and the server stops when its handle drops.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server misbehaves.
#[derive(Clone, Debug, PartialEq)]
pub enum Trick {
    /// Answers as a static server does.
    Honest,
    /// A ranged GET is answered `206` with the right `Content-Range` but
    /// the whole object as its body.
    LongBody,
    /// Every answer says `Content-Encoding: gzip`, whatever was asked.
    Gzip,
    /// The object changes after the first request for it: later answers
    /// carry another ETag (and Last-Modified) and other bytes.
    NewVersion { etags: bool },
    /// Reads the request and never answers.
    Stall,
    /// Every request is answered with this status.
    Status(u16),
    /// `Content-Range` names other bytes than the ones asked for.
    WrongRange,
    /// A ranged GET is answered `200` with the whole object, as a server
    /// that does not know ranges does.
    IgnoreRange,
    /// A ranged GET is answered `206` with the right `Content-Range` but a
    /// body (and `Content-Length`) one byte short.
    ShortBody,
    /// `Content-Length` announces more bytes than the body holds; the
    /// connection closes after the body.
    LyingLength,
    /// The first `n` requests for each path are answered `503`, the next
    /// ones honestly.
    Flaky(usize),
    /// Every request is redirected (`302`) to itself.
    RedirectLoop,
    /// A `200` HTML page, whatever was asked.
    Html,
    /// The object is this many bytes (`{"form": ` and then spaces), made
    /// while it is sent and never held: a server offering far too much.
    Huge(u64),
    /// The head and half the body, then nothing (bounded).
    StallBody,
    /// A weak ETag (`W/"v1"`): a request with `If-Match` is answered
    /// `412`, as the strong comparison `If-Match` asks for never matches
    /// a weak tag.
    WeakETag,
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub accept_encoding: Option<String>,
}

/// The server: objects by path (`/events/metadata.json`), one trick.
pub struct Hostile {
    pub port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    sent: Arc<AtomicU64>,
}

struct State {
    /// Body bytes written by `Trick::Huge`.
    sent: Arc<AtomicU64>,
    objects: HashMap<String, Vec<u8>>,
    trick: Trick,
    /// Paths asked for so far (for `NewVersion`).
    asked: Mutex<HashMap<String, usize>>,
    /// Paths the trick applies to (all when empty).
    only: Vec<String>,
}

impl Hostile {
    /// Serves `objects` (path → bytes), playing `trick` on the paths that
    /// end with one of `only` (every path when `only` is empty).
    pub fn start(objects: HashMap<String, Vec<u8>>, trick: Trick, only: &[&str]) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let state = Arc::new(State {
            sent: Arc::clone(&sent),
            objects,
            trick,
            asked: Mutex::new(HashMap::new()),
            only: only.iter().map(|s| s.to_string()).collect(),
        });
        let (stop2, seen2) = (Arc::clone(&stop), Arc::clone(&seen));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let (state, seen, stop) =
                            (Arc::clone(&state), Arc::clone(&seen2), Arc::clone(&stop2));
                        std::thread::spawn(move || serve(client, &state, &seen, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Hostile {
            port,
            stop,
            seen,
            sent,
        }
    }

    /// Serves every file of the directory container `dir` under `/name/`.
    pub fn serve_dir(dir: &std::path::Path, name: &str, trick: Trick, only: &[&str]) -> Hostile {
        let mut objects = HashMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let key = e.file_name().to_string_lossy().to_string();
            objects.insert(format!("/{name}/{key}"), std::fs::read(e.path()).unwrap());
        }
        Hostile::start(objects, trick, only)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The body bytes a `Trick::Huge` object has sent so far.
    pub fn huge_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut client: TcpStream, state: &State, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
        if head.len() > 1 << 16 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        range: headers.get("range").cloned(),
        accept_encoding: headers.get("accept-encoding").cloned(),
    });
    let tricked = state.only.is_empty() || state.only.iter().any(|o| path.ends_with(o.as_str()));
    let trick = if tricked {
        state.trick.clone()
    } else {
        Trick::Honest
    };
    if let Trick::Huge(size) = trick {
        serve_huge(
            &mut client,
            &method,
            headers.get("range"),
            size,
            state,
            stop,
        );
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if trick == Trick::WeakETag && headers.contains_key("if-match") {
        let _ = client.write_all(
            b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let answer = respond(state, &trick, &method, &path, headers.get("range"));
    match answer {
        None => hold(stop),
        Some((mut head, body)) => {
            if trick == Trick::LyingLength {
                let said = format!("Content-Length: {}\r\n", body.len());
                let lie = format!("Content-Length: {}\r\n", body.len() + 100);
                head = head.replacen(&said, &lie, 1);
            }
            let _ = client.write_all(head.as_bytes());
            if method != "HEAD" {
                if trick == Trick::StallBody {
                    let _ = client.write_all(&body[..body.len() / 2]);
                    let _ = client.flush();
                    hold(stop);
                } else {
                    let _ = client.write_all(&body);
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Holds the connection without a byte (bounded: 30 s, or until the
/// server stops).
fn hold(stop: &AtomicBool) {
    for _ in 0..3000 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `Trick::Huge`: a `size`-byte object made while it is sent, until the
/// client hangs up (or the server stops).
fn serve_huge(
    client: &mut TcpStream,
    method: &str,
    range: Option<&String>,
    size: u64,
    state: &State,
    stop: &AtomicBool,
) {
    let total = usize::try_from(size).unwrap();
    let (status, extra, (a, b)) = match range.and_then(|r| parse_range(r, total)) {
        Some((a, b)) => (
            "206 Partial Content",
            format!("Content-Range: bytes {a}-{b}/{total}\r\n"),
            (a, b),
        ),
        None => ("200 OK", String::new(), (0, total - 1)),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\nETag: \"huge\"\r\nAccept-Ranges: bytes\r\n{extra}\r\n",
        b - a + 1
    );
    if client.write_all(head.as_bytes()).is_err() || method == "HEAD" {
        return;
    }
    let start = b"{\"form\": ";
    let mut chunk = vec![b' '; 1 << 16];
    let mut at = a;
    while at <= b && !stop.load(Ordering::Relaxed) {
        let n = chunk.len().min(b - at + 1);
        for (i, c) in chunk[..n].iter_mut().enumerate() {
            *c = start.get(at + i).copied().unwrap_or(b' ');
        }
        if client.write_all(&chunk[..n]).is_err() {
            return;
        }
        state.sent.fetch_add(n as u64, Ordering::Relaxed);
        at += n;
    }
}

/// The answer's head and body, `None` to stall.
fn respond(
    state: &State,
    trick: &Trick,
    method: &str,
    path: &str,
    range: Option<&String>,
) -> Option<(String, Vec<u8>)> {
    let plain = |status: &str, extra: &str, body: Vec<u8>| {
        Some((
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            ),
            body,
        ))
    };
    match trick {
        Trick::Stall => return None,
        Trick::Status(code) => return plain(&format!("{code} Trick"), "", Vec::new()),
        Trick::RedirectLoop => {
            return plain("302 Found", &format!("Location: {path}\r\n"), Vec::new())
        }
        Trick::Html => {
            let page = b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>".to_vec();
            return plain("200 OK", "Content-Type: text/html\r\n", page);
        }
        Trick::Flaky(n) => {
            let mut asked = state.asked.lock().unwrap();
            let count = asked.entry(format!("flaky {path}")).or_insert(0);
            *count += 1;
            if *count <= *n {
                return plain("503 Service Unavailable", "Retry-After: 0\r\n", Vec::new());
            }
        }
        _ => {}
    }
    let Some(object) = state.objects.get(path) else {
        return plain("404 Not Found", "", Vec::new());
    };
    let mut object = object.clone();
    let n = {
        let mut asked = state.asked.lock().unwrap();
        let n = asked.entry(path.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    let mut version = String::from(
        "ETag: \"v1\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\nAccept-Ranges: bytes\r\n",
    );
    if let Trick::NewVersion { etags } = trick {
        if n > 1 {
            // Another object of the same size: every byte changed.
            object.iter_mut().for_each(|b| *b = !*b);
        }
        let v = n.min(2);
        version = format!(
            "{}Last-Modified: Tue, 01 Dec 2026 1{v}:00:00 GMT\r\nAccept-Ranges: bytes\r\n",
            if *etags {
                format!("ETag: \"v{v}\"\r\n")
            } else {
                String::new()
            }
        );
    }
    if *trick == Trick::Gzip {
        version.push_str("Content-Encoding: gzip\r\n");
    }
    if *trick == Trick::WeakETag {
        version = version.replace("ETag: \"v1\"", "ETag: W/\"v1\"");
    }
    let total = object.len();
    let asked = range.and_then(|r| parse_range(r, total));
    if method == "HEAD" {
        return Some((
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n{version}\r\n"
            ),
            Vec::new(),
        ));
    }
    match asked {
        None if range.is_some() => plain(
            "416 Range Not Satisfiable",
            &format!("Content-Range: bytes */{total}\r\n"),
            Vec::new(),
        ),
        None => plain("200 OK", &version, object),
        Some((a, b)) => {
            let (said, body) = match trick {
                Trick::LongBody => ((a, b), object.clone()),
                Trick::WrongRange if a > 0 => ((a - 1, b - 1), object[a..=b].to_vec()),
                Trick::IgnoreRange => return plain("200 OK", &version, object),
                Trick::ShortBody => ((a, b), object[a..b].to_vec()),
                _ => ((a, b), object[a..=b].to_vec()),
            };
            plain(
                "206 Partial Content",
                &format!(
                    "{version}Content-Range: bytes {}-{}/{total}\r\n",
                    said.0, said.1
                ),
                body,
            )
        }
    }
}

/// `bytes=a-b` (inclusive, clamped to the object), or `None` when it
/// cannot be served.
fn parse_range(r: &str, total: usize) -> Option<(usize, usize)> {
    let spec = r.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a: usize = a.parse().ok()?;
    let b: usize = if b.is_empty() {
        total.checked_sub(1)?
    } else {
        b.parse::<usize>().ok()?.min(total.checked_sub(1)?)
    };
    (a <= b && a < total).then_some((a, b))
}
