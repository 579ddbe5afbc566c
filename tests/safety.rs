//! Data safety under hostile input: nothing lost, no crash, no hang, no
//! litter. One section per class of problem; each test failed before its fix.

use akbuf::{
    from_buffers, open, open_with, to_buffers, write_dir, Buffer, Cache, DirSink, Error, FnSource,
    Form, FormKey, MemorySink, MemorySource, Metadata, Options, ReadEvent, Sink, Source,
    WriteOptions,
};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn akbuf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn events() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/events")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Runs `f` on another thread and fails (instead of hanging) if it takes
/// longer than `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("hung: no answer in time")
}

/// A container of `form` and `length` with the given buffer files.
fn container(dir: &Path, form: &str, length: &str, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        format!(r#"{{"form": {form}, "length": {length}}}"#),
    )
    .unwrap();
    for (k, bytes) in files {
        std::fs::write(dir.join(k), bytes).unwrap();
    }
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

// ---------------------------------------------------------------------------
// 1. Silent data loss: colliding keys.

#[test]
fn colliding_buffer_keys_are_refused_before_anything_is_written() {
    let array = open(events()).unwrap();
    let mut sink = MemorySink::new();
    let opts = WriteOptions::default()
        .with_buffer_key_template("{attribute}")
        .unwrap();
    let err = to_buffers(&array, &mut sink, &opts).unwrap_err();
    match &err {
        Error::DuplicateKey { key, first, second } => {
            assert_eq!(key, "data");
            assert!(first.contains("NumpyArray at /run"), "{first}");
            assert!(second.contains("NumpyArray at "), "{second}");
            assert_ne!(first, second);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sink.keys().count(), 0, "nothing written");

    // A form key without {id}, and a closure that repeats itself.
    let opts = WriteOptions::default().with_form_key_template("n").unwrap();
    assert!(matches!(
        to_buffers(&array, &mut MemorySink::new(), &opts),
        Err(Error::DuplicateKey { .. })
    ));
    let opts = WriteOptions::default()
        .with_form_key(FormKey::func(|id, _: &Form| format!("n{}", id.min(3))));
    assert!(matches!(
        to_buffers(&array, &mut MemorySink::new(), &opts),
        Err(Error::DuplicateKey { .. })
    ));

    // write_dir leaves nothing at all.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let opts = WriteOptions::default()
        .with_buffer_key_template("{attribute}")
        .unwrap();
    assert!(matches!(
        write_dir(&array, &out, &opts),
        Err(Error::DuplicateKey { .. })
    ));
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn a_key_the_sink_cannot_store_is_refused_before_anything_is_written() {
    let array = open(events()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Every key but one is fine; the directory sink refuses metadata.json.
    let opts = WriteOptions::default().with_form_key(FormKey::func(|id, _: &Form| {
        if id == 1 {
            "metadata".into()
        } else {
            format!("node{id}")
        }
    }));
    let opts = opts.with_buffer_key_template("{form_key}.json").unwrap();
    let mut sink = DirSink::create(tmp.path().join("out")).unwrap();
    let err = to_buffers(&array, &mut sink, &opts).unwrap_err();
    assert_eq!(err.key(), Some("metadata.json"), "{err}");
}

#[test]
fn every_sink_refuses_a_key_written_twice() {
    let mut memory = MemorySink::new();
    memory.put("k", &[1]).unwrap();
    assert!(memory.put("k", &[2]).is_err());
    assert_eq!(memory.get("k").unwrap().as_slice(), &[1]);

    let tmp = tempfile::tempdir().unwrap();
    let mut dir = DirSink::create(tmp.path().join("out")).unwrap();
    dir.put("k", &[1]).unwrap();
    let err = dir.put("k", &[2]).unwrap_err();
    assert_eq!(err.key(), Some("k"));
    let err = dir
        .put_with("k", 1, &mut |w: &mut dyn std::io::Write| w.write_all(&[3]))
        .unwrap_err();
    assert_eq!(err.key(), Some("k"));
}

#[test]
fn the_cli_refuses_colliding_templates_as_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let src = events();
    for args in [
        ["--buffer-key", "{attribute}"],
        ["--form-key", "n"],
        ["--buffer-key", "x-{attribute}"],
    ] {
        let o = akbuf(&[
            "copy",
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            args[0],
            args[1],
        ]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("would be written twice"),
            "{}",
            stderr(&o)
        );
        assert_eq!(stderr(&o).lines().count(), 1);
        assert!(!out.exists());
    }
    assert!(entries(tmp.path()).is_empty());
}

// ---------------------------------------------------------------------------
// 2. Memory bombs: counts no stored byte backs.

const HUGE_INNER: &str = r#"{"class": "NumpyArray", "primitive": "float64", "inner_shape": [1099511627776, 0], "form_key": "node0"}"#;
const HUGE_REGULAR: &str = r#"{"class": "RegularArray", "size": 1099511627776, "content": {"class": "RegularArray", "size": 0, "content": {"class": "NumpyArray", "primitive": "int8", "form_key": "node2"}, "form_key": "node1"}, "form_key": "node0"}"#;

fn huge(form: &str) -> akbuf::Array {
    let source = MemorySource::new()
        .with("node0-data", Buffer::empty())
        .with("node2-data", Buffer::empty());
    from_buffers(
        &Form::from_json(form).unwrap(),
        1,
        source,
        Options::default(),
    )
    .unwrap()
}

/// A writer that takes `limit` bytes, then fails.
struct Capped(usize);
impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 < buf.len() {
            return Err(std::io::Error::other("full"));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn huge_elements_over_empty_content_are_errors_not_allocations() {
    for form in [HUGE_INNER, HUGE_REGULAR] {
        let a = huge(form);
        for err in [
            a.get(0).unwrap_err(),
            a.to_json().unwrap_err(),
            a.to_values().unwrap_err(),
            a.iter().unwrap().next().unwrap().unwrap_err(),
        ] {
            match &err {
                Error::TooLarge { node, message, .. } => {
                    assert!(node.starts_with('/'), "{node}");
                    assert!(message.contains("from the 0 bytes"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
        // Streaming goes on in bounded memory until the writer stops it.
        let err = a.write_json(Capped(1 << 20)).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
    // Within the limit, such elements materialize.
    let small = HUGE_INNER.replace("1099511627776", "1000");
    let a = huge(&small);
    assert_eq!(a.get(0).unwrap().as_list().unwrap().len(), 1000);
}

#[test]
fn show_streams_a_huge_element_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    container(&dir, HUGE_REGULAR, "1", &[("node2-data", &[])]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(["show", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0u8; 4 << 20];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert!(head.starts_with(b"[[[],[],"));
    // VmHWM of the child while it streams: far below the output's size.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let hwm: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(hwm < 64 * 1024, "peak resident {hwm} kB");
    }
    drop(child.stdout.take());
    let status = within(30, move || child.wait().unwrap());
    // A closed pipe ends the output quietly.
    assert!(status.success(), "{status:?}");
}

// ---------------------------------------------------------------------------
// 3. Hangs and runaway reads: special files, metadata size.

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let int8 = r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}"#;

    // A FIFO in place of a buffer file.
    let dir = tmp.path().join("fifo_buffer");
    container(&dir, int8, "1", &[]);
    mkfifo(&dir.join("node0-data"));
    let d = dir.clone();
    let err = within(10, move || open(&d).unwrap().to_json().unwrap_err());
    assert_eq!(err.key(), Some("node0-data"));
    assert!(err.to_string().contains("FIFO"), "{err}");

    // A FIFO in place of metadata.json.
    let dir = tmp.path().join("fifo_meta");
    std::fs::create_dir(&dir).unwrap();
    mkfifo(&dir.join("metadata.json"));
    let d = dir.clone();
    let err = within(10, move || open(&d).unwrap_err());
    assert!(err.to_string().contains("FIFO"), "{err}");
    let o = within(10, move || akbuf(&["show", dir.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1));

    // metadata.json and a buffer linked to endless devices.
    for device in ["/dev/zero", "/dev/urandom"] {
        let dir = tmp.path().join(format!("dev{}", device.len()));
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(device, dir.join("metadata.json")).unwrap();
        let d = dir.clone();
        let err = within(10, move || open(&d).unwrap_err());
        assert!(err.to_string().contains("character device"), "{err}");
        std::fs::remove_file(dir.join("metadata.json")).unwrap();
        container(&dir, int8, "1", &[]);
        std::os::unix::fs::symlink(device, dir.join("node0-data")).unwrap();
        let d = dir.clone();
        let err = within(10, move || open(&d).unwrap().to_json().unwrap_err());
        assert_eq!(err.key(), Some("node0-data"), "{err}");
    }
}

#[test]
fn metadata_json_is_read_up_to_a_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    // A sparse file just over the limit: nothing is read.
    let f = std::fs::File::create(dir.join("metadata.json")).unwrap();
    f.set_len(akbuf::METADATA_LIMIT + 1).unwrap();
    let err = Metadata::read_dir(&dir).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Container { .. }), "{err:?}");
    assert!(
        text.contains("metadata.json") && text.contains("limit"),
        "{text}"
    );
    assert_eq!(akbuf::METADATA_LIMIT, 256 << 20);
}

// ---------------------------------------------------------------------------
// 4. Litter after a failed write.

/// A copy of the sample whose last buffer is missing: every write fails
/// at its end.
fn broken_events(root: &Path) -> PathBuf {
    let dir = root.join("broken");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(events()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "node13-data" {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

#[test]
fn a_failed_write_leaves_no_parent_folders_and_no_temporary_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = broken_events(tmp.path());
    let out = tmp.path().join("a/b/c/out");
    let err = write_dir(&open(&broken).unwrap(), &out, &WriteOptions::default()).unwrap_err();
    assert_eq!(err.key(), Some("node13-data"), "{err}");
    assert_eq!(entries(tmp.path()), ["broken"]);

    let o = akbuf(&["copy", broken.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(entries(tmp.path()), ["broken"]);

    // Parents that existed stay; the ones made for a good copy stay too.
    let o = akbuf(&["copy", events().to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(entries(&tmp.path().join("a/b/c")), ["out"]);
}

#[test]
fn temporary_folders_of_dead_writers_are_removed_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    // A writer that died: its PID is gone.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.path().join(format!(".out.akbuf-tmp-{dead}-0"));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("node0-data"), vec![0u8; 1000]).unwrap();
    // A writer that is alive (PID 1), and a folder not named by akbuf.
    let live = tmp.path().join(".out.akbuf-tmp-1-0");
    std::fs::create_dir(&live).unwrap();
    let other = tmp.path().join(".out.tmp-99999999-0");
    std::fs::create_dir(&other).unwrap();

    let out = tmp.path().join("out");
    write_dir(&open(events()).unwrap(), &out, &WriteOptions::default()).unwrap();
    assert!(!stale.exists(), "the dead writer's folder stays");
    assert!(live.exists() && other.exists());
}

#[test]
fn force_replaces_a_container_in_one_step_and_only_a_container() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let src = events();
    let ok = |o: &Output| assert!(o.status.success(), "{}", stderr(o));
    ok(&akbuf(&[
        "copy",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--field",
        "run",
    ]));
    // Without --force: refused, says how.
    let o = akbuf(&["copy", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // A failing --force copy leaves the old container whole.
    let broken = broken_events(tmp.path());
    let before = open(&out).unwrap().to_json().unwrap();
    let o = akbuf(&[
        "copy",
        broken.to_str().unwrap(),
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(open(&out).unwrap().to_json().unwrap(), before);
    assert_eq!(entries(tmp.path()), ["broken", "out"]);
    // A good one replaces it, leaving nothing beside it.
    ok(&akbuf(&[
        "copy",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--force",
    ]));
    assert_eq!(open(&out).unwrap().len(), 1000);
    assert_eq!(
        open(&out).unwrap().fields().len(),
        open(&src).unwrap().fields().len()
    );
    assert_eq!(entries(tmp.path()), ["broken", "out"]);
    // Something that is not a container is never replaced.
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.tex"), b"...").unwrap();
    let o = akbuf(&[
        "copy",
        src.to_str().unwrap(),
        precious.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a container"), "{}", stderr(&o));
    assert_eq!(entries(&precious), ["thesis.tex"]);
    // An empty folder is.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(&akbuf(&[
        "copy",
        src.to_str().unwrap(),
        empty.to_str().unwrap(),
        "--force",
    ]));
    assert_eq!(open(&empty).unwrap().len(), 1000);
}

// ---------------------------------------------------------------------------
// 5. Wrong output.

#[test]
fn metadata_json_is_never_served_as_a_buffer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"form": {"class": "NumpyArray", "primitive": "uint8", "form_key": "metadata"}, "length": 4, "buffer_key": "{form_key}.json"}"#,
    )
    .unwrap();
    let err = open(&dir).unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("metadata.json"), "{err}");
    assert!(akbuf::DirSource::new(&dir).read("metadata.json").is_err());
}

// ---------------------------------------------------------------------------
// 6. Messages: keys and sizes, one line.

#[test]
fn impossible_lengths_name_the_key_and_the_sizes() {
    // A length of 2^62 over a 24-byte buffer.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    container(
        &dir,
        r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#,
        "4611686018427387904",
        &[("node0-data", &[0u8; 24])],
    );
    let err = open(&dir).unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node0-data"), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("4611686018427387904") && text.contains("24 bytes"),
        "{text}"
    );

    // Offsets near 2^62: the offsets key is named, with the content's size.
    let big = (1i64 << 62) - 1;
    let offsets: Vec<u8> = [0i64, big].iter().flat_map(|v| v.to_le_bytes()).collect();
    let dir = tmp.path().join("d");
    container(
        &dir,
        r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"}, "form_key": "node0"}"#,
        "1",
        &[("node0-offsets", &offsets), ("node1-data", &[0u8; 24])],
    );
    let err = open(&dir).unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node0-offsets"), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&big.to_string()) && text.contains("node1-data") && text.contains("24 bytes"),
        "{text}"
    );
    // The same for an index.
    let index: Vec<u8> = [big].iter().flat_map(|v| v.to_le_bytes()).collect();
    let dir = tmp.path().join("e");
    container(
        &dir,
        r#"{"class": "IndexedArray", "index": "i64", "content": {"class": "NumpyArray", "primitive": "int32", "form_key": "node1"}, "form_key": "node0"}"#,
        "1",
        &[("node0-index", &index), ("node1-data", &[0u8; 8])],
    );
    let err = open(&dir).unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node0-index"), "{err}");
}

#[test]
fn a_directory_is_a_directory_container_whatever_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["events.h5", "x.hdf5"] {
        let dir = tmp.path().join(name);
        write_dir(&open(events()).unwrap(), &dir, &WriteOptions::default()).unwrap();
        assert!(dir.join("metadata.json").is_file());
        let o = akbuf(&["type", dir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(open(&dir).unwrap().len(), 1000);
    }
    // A folder named .h5 without metadata.json: one line, naming the file.
    let empty = tmp.path().join("empty.h5");
    std::fs::create_dir(&empty).unwrap();
    let o = akbuf(&["show", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("metadata.json"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------
// 7. A panicking read is counted and reported.

#[test]
fn a_panicking_read_is_counted_and_observed() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let cache = Arc::new(Cache::new().with_observer(move |e: &ReadEvent<'_>| {
        log.lock()
            .unwrap()
            .push((e.key.to_string(), e.bytes, e.error.map(|e| e.to_string())));
    }));
    let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "n"}"#)
        .unwrap();
    let source = FnSource::new(|key: &str| -> akbuf::Result<Option<Buffer>> {
        panic!("the disk caught fire reading {key}")
    });
    let array = from_buffers(
        &form,
        1,
        source,
        Options::default().with_cache(Arc::clone(&cache)),
    )
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| array.to_json()));
    assert!(r.is_err(), "the panic goes on to the caller");
    let stats = cache.stats();
    assert_eq!((stats.reads, stats.failed_reads), (1, 1));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "n-data");
    assert_eq!(seen[0].1, None);
    assert!(seen[0].2.as_deref().unwrap().contains("panicked"));
}

// ---------------------------------------------------------------------------
// 8. Symbolic links: followed by default, refused outside when confined.

#[cfg(unix)]
#[test]
fn confined_containers_refuse_links_outside_them() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, 7i64.to_le_bytes()).unwrap();
    let dir = tmp.path().join("c");
    container(
        &dir,
        r#"{"class": "RecordArray", "fields": ["a", "b"], "contents": [{"class": "NumpyArray", "primitive": "int64", "form_key": "node1"}, {"class": "NumpyArray", "primitive": "int64", "form_key": "node2"}], "form_key": "node0"}"#,
        "1",
        &[("inside", &5i64.to_le_bytes())],
    );
    std::os::unix::fs::symlink(&outside, dir.join("node1-data")).unwrap();
    std::os::unix::fs::symlink("inside", dir.join("node2-data")).unwrap();
    let path = dir.to_str().unwrap();

    assert_eq!(open(&dir).unwrap().to_json().unwrap(), r#"[{"a":7,"b":5}]"#);
    let confined = open_with(&dir, Options::default().confined()).unwrap();
    assert_eq!(confined.field("b").unwrap().to_json().unwrap(), "[5]");
    let err = confined.field("a").unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node1-data"));
    assert!(err.to_string().contains("outside the container"), "{err}");

    let o = akbuf(&["show", path]);
    assert!(o.status.success());
    let o = akbuf(&["show", path, "--confined"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("node1-data"), "{}", stderr(&o));
    let o = akbuf(&["show", "--confined", path, "--field", "b"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // metadata.json linked from outside.
    let meta_outside = tmp.path().join("meta.json");
    std::fs::rename(dir.join("metadata.json"), &meta_outside).unwrap();
    std::os::unix::fs::symlink(&meta_outside, dir.join("metadata.json")).unwrap();
    assert!(open(&dir).is_ok());
    let err = open_with(&dir, Options::default().confined()).unwrap_err();
    assert!(err.to_string().contains("outside the container"), "{err}");
}

// ---------------------------------------------------------------------------
// Packing agrees with awkward on what awkward accepts.

#[test]
fn packing_and_validation_accept_empty_lists_pointing_past_the_content() {
    // ListArray starts [0, 10, 2], stops [1, 10, 3] over 4 values: list 1 is
    // empty and points past the content, which awkward accepts.
    let form = Form::from_json(r#"{"class": "ListArray", "starts": "i64", "stops": "i64", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"}, "form_key": "node0"}"#).unwrap();
    let source = MemorySource::new()
        .with("node0-starts", Buffer::from_slice(&[0i64, 10, 2]))
        .with("node0-stops", Buffer::from_slice(&[1i64, 10, 3]))
        .with("node1-data", Buffer::from_slice(&[0.0f64, 1.0, 2.0, 3.0]));
    let a = from_buffers(&form, 3, source, Options::default()).unwrap();
    a.validate().unwrap();
    let packed = akbuf::to_packed(&a).unwrap();
    assert_eq!(packed.to_json().unwrap(), "[[0.0],[],[2.0]]");
    assert_eq!(packed.offsets::<i64>().unwrap().as_slice(), &[0, 1, 1, 2]);
}
