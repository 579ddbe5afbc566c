//! Partitioned containers and datasets from writers akbuf must not trust
//! (issue 27): lengths lists with negatives, floats, strings, nulls, nested
//! lists and sums past 2^64, 100,000 partitions, a bad `partition_start`, a
//! missing buffer of a non-empty partition, `--rows` reversed, huge or
//! malformed, a folder with one good and one broken container, forms that
//! differ and symbolic-link loops. The CLI runs under an address-space
//! limit and a deadline: every case ends in values or in one line, exit 1
//! (2 for a command-line mistake), never a panic, a signal or a hang.
#![cfg(feature = "cli")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/partitioned")
        .join(name)
}

/// `akbuf ARGS` with 2 GiB of address space and 60 s: (exit code, stdout,
/// stderr). A signal is `None`; the deadline kills it and fails the test.
fn akbuf(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_akbuf"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and
        // calls only setrlimit, which is async-signal-safe, on a struct
        // that lives on the closure's stack.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 2 << 30,
                    rlim_max: 2 << 30,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("akbuf {args:?} did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (
        status.code(),
        reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

/// Exit 1, one line naming `what`, no panic.
fn one_line(got: &(Option<i32>, String, String), what: &str) {
    let (code, _, err) = got;
    assert_eq!(*code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(what), "{what:?} not in {err}");
}

/// A copy of partitioned fixture `name` in `dir`, its metadata.json edited.
fn edited(dir: &Path, name: &str, as_: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
    let to = dir.join(as_);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(fixture(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    let path = to.join("metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut meta);
    std::fs::write(&path, meta.to_string()).unwrap();
    to.to_str().unwrap().to_string()
}

#[test]
fn lengths_lists_that_are_not_counts_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = serde_json::json!(u64::MAX);
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "negative",
            serde_json::json!([7, -1, 23]),
            "non-negative integer",
        ),
        ("float", serde_json::json!([7, 1.5]), "non-negative integer"),
        (
            "string",
            serde_json::json!(["7", 0]),
            "non-negative integer",
        ),
        ("null", serde_json::json!([null, 7]), "non-negative integer"),
        ("nested", serde_json::json!([[7]]), "non-negative integer"),
        ("past 2^64", serde_json::json!([huge, 1]), "add up past"),
        (
            "past 2^63",
            serde_json::json!([1u64 << 63, 1u64 << 63]),
            "add up past",
        ),
        ("an object", serde_json::json!({"0": 7}), "length"),
    ];
    for (what, lengths, says) in cases {
        let dir = edited(tmp.path(), "events_unequal", what, |m| {
            m["length"] = lengths.clone()
        });
        for cmd in ["show", "info", "type"] {
            one_line(&akbuf(&[cmd, &dir]), says);
        }
        let to = tmp.path().join(format!("{what}-copy"));
        one_line(&akbuf(&["copy", &dir, to.to_str().unwrap()]), says);
        assert!(!to.exists(), "{what}: nothing written");
        // The library: an error, not a panic.
        assert!(akbuf::open(&dir).is_err(), "{what}");
    }
    // A length no buffer backs: an error when read, naming the buffer, and
    // no allocation for it (the address space is 2 GiB).
    let dir = edited(tmp.path(), "events_unequal", "one huge", |m| {
        m["length"] = serde_json::json!([huge])
    });
    one_line(&akbuf(&["show", &dir]), "part0-");
    // partition_start that is not a count, or numbers the partitions past 2^64.
    for (what, start, says) in [
        ("start negative", serde_json::json!(-1), "partition_start"),
        ("start float", serde_json::json!(1.5), "partition_start"),
        ("start string", serde_json::json!("3"), "partition_start"),
        ("start huge", huge.clone(), "partition_start"),
    ] {
        let dir = edited(tmp.path(), "events_unequal", what, |m| {
            m["partition_start"] = start.clone()
        });
        one_line(&akbuf(&["show", &dir]), says);
    }
}

#[test]
fn a_hundred_thousand_partitions_open_without_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lengths = vec![0u64; 100_000];
    lengths[99_999] = 1;
    let dir = edited(tmp.path(), "regular", "many", |m| {
        m["length"] = serde_json::json!(lengths.clone())
    });
    let started = Instant::now();
    let array = akbuf::open(&dir).unwrap();
    let opened = started.elapsed();
    assert_eq!(array.len(), 1);
    assert_eq!(array.num_partitions(), 100_000);
    eprintln!("100,000 partitions opened in {opened:?}");
    // Only the last partition has rows; its keys are not there: reading
    // names the first missing one, nothing before it is asked.
    let err = array.to_json().unwrap_err();
    assert!(err.to_string().contains("part99999-"), "{err}");
    let (code, out, err) = akbuf(&["info", &dir]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("length 1\n"), "{out}");
    // Past MAX_PARTITIONS: refused at open.
    let dir = edited(tmp.path(), "regular", "too many", |m| {
        m["length"] = serde_json::json!(vec![0u8; akbuf::MAX_PARTITIONS + 1])
    });
    one_line(&akbuf(&["show", &dir]), "partitions");
}

#[test]
fn a_missing_buffer_of_a_non_empty_partition_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // events_unequal: lengths [7, 0, 23, 0, 0, 10].
    let dir = edited(tmp.path(), "events_unequal", "missing", |_| {});
    std::fs::remove_file(Path::new(&dir).join("part2-node1-data")).unwrap();
    one_line(
        &akbuf(&["show", &dir, "--field", "run"]),
        "missing buffer \"part2-node1-data\"",
    );
    // The other fields still read, and rows before the partition too.
    let (code, _, err) = akbuf(&["show", &dir, "--field", "met"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = akbuf(&["show", &dir, "--field", "run", "--rows", "0:7"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        akbuf::open(fixture("events_unequal"))
            .unwrap()
            .field("run")
            .unwrap()
            .slice(0..7)
            .unwrap()
            .to_json()
            .unwrap()
    );
    // A missing key of an empty partition is no error (awkward writes none).
    let dir = edited(tmp.path(), "events_unequal", "empty part", |_| {});
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("part1-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let (code, out, err) = akbuf(&["show", &dir]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        akbuf::open(fixture("events_unequal"))
            .unwrap()
            .to_json()
            .unwrap()
    );
}

#[test]
fn rows_reversed_huge_or_malformed() {
    let dir = fixture("events_unequal");
    let dir = dir.to_str().unwrap();
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&akbuf::open(dir).unwrap().to_json().unwrap()).unwrap();
    for (rows, want) in [
        ("38:", &all[38..]),
        ("5:18446744073709551615", &all[5..]),
        ("0:340282366920938463463374607431768211456", &all[..]),
        ("1000:2000", &all[40..]),
        ("7:7", &all[7..7]),
    ] {
        let (code, out, err) = akbuf(&["show", dir, "--rows", rows]);
        assert_eq!(code, Some(0), "{rows}: {err}");
        let got: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(got, want, "{rows}");
    }
    for bad in ["9:3", "a:b", "3", "1e3:5", "0x10:", " : : ", "５:6"] {
        let (code, _, err) = akbuf(&["show", dir, "--rows", bad]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn datasets_with_a_broken_member_differing_forms_or_link_loops() {
    let tmp = tempfile::tempdir().unwrap();
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events");
    let copy = |to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(&events).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    // One good, one broken: one line naming the broken one.
    let ds = tmp.path().join("broken");
    copy(&ds.join("a"));
    copy(&ds.join("b"));
    std::fs::write(ds.join("b/metadata.json"), "{\"form\": 5").unwrap();
    one_line(&akbuf(&["show", ds.to_str().unwrap()]), "b");
    assert!(akbuf::open(&ds).is_err());
    // Forms that differ: one line.
    let ds = tmp.path().join("forms");
    copy(&ds.join("a"));
    std::fs::create_dir_all(ds.join("b")).unwrap();
    let (code, _, err) = akbuf(&[
        "copy",
        fixture("regular").to_str().unwrap(),
        ds.join("b").to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let got = akbuf(&["show", ds.to_str().unwrap()]);
    assert_eq!(got.0, Some(1), "{}", got.2);
    assert_eq!(got.2.lines().count(), 1, "{}", got.2);
    // Symbolic-link loops beside a container: no hang, the container read.
    #[cfg(unix)]
    {
        let ds = tmp.path().join("loops");
        copy(&ds.join("a"));
        std::os::unix::fs::symlink("..", ds.join("up")).unwrap();
        std::os::unix::fs::symlink("self", ds.join("self")).unwrap();
        std::os::unix::fs::symlink(&ds, ds.join("again")).unwrap();
        let (code, out, err) = akbuf(&["show", ds.to_str().unwrap(), "--field", "met"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            out.trim(),
            akbuf::open(&events)
                .unwrap()
                .field("met")
                .unwrap()
                .to_json()
                .unwrap()
        );
        // Only loops: one line.
        let ds = tmp.path().join("only-loops");
        std::fs::create_dir_all(&ds).unwrap();
        std::os::unix::fs::symlink("x", ds.join("x")).unwrap();
        std::os::unix::fs::symlink(&ds, ds.join("me")).unwrap();
        let got = akbuf(&["show", ds.to_str().unwrap()]);
        assert_eq!(got.0, Some(1), "{}", got.2);
        assert_eq!(got.2.lines().count(), 1, "{}", got.2);
    }
}
