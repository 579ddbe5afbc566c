//! Every fixture written by awkward 2.14 reads back with the values, type
//! string and form that awkward reports.

mod common;

use akbuf::{Array, Metadata};
use common::*;

fn open_counting(dir: &std::path::Path) -> (Array, Counting<akbuf::DirSource>) {
    let meta = Metadata::read_dir(dir).unwrap();
    let source = counting_dir(dir);
    let array = meta.open(source.clone()).unwrap();
    (array, source)
}

#[test]
fn every_fixture_matches_awkward() {
    let mut failures = Vec::new();
    let cases = all_cases();
    assert!(cases.len() > 100, "only {} fixtures", cases.len());
    for (name, dir) in &cases {
        let want = expected(dir);
        let meta = match Metadata::read_dir(dir) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: metadata: {e}"));
                continue;
            }
        };
        if meta.form.to_json() != want.form {
            failures.push(format!(
                "{name}: form\n  got  {}\n  want {}",
                meta.form.to_json(),
                want.form
            ));
        }
        let (array, source) = open_counting(dir);
        if array.len() != want.length {
            failures.push(format!("{name}: length {} != {}", array.len(), want.length));
        }
        if array.type_string() != want.type_ {
            failures.push(format!(
                "{name}: type\n  got  {}\n  want {}",
                array.type_string(),
                want.type_
            ));
        }
        assert_eq!(
            source.total(),
            0,
            "{name}: opening and typing read something"
        );
        match array.to_json() {
            Ok(j) if j == want.json => {}
            Ok(j) => failures.push(format!("{name}: json\n  got  {j}\n  want {}", want.json)),
            Err(e) => failures.push(format!("{name}: error {e}")),
        }
        failures.extend(source.reread(name));
        // Valid exactly where ak.validity_error says so, for the same
        // reason (the message's last part, without awkward's path).
        match (array.validate(), want.validity.as_str()) {
            (Ok(()), "") => {}
            (Ok(()), theirs) => failures.push(format!("{name}: valid, but awkward: {theirs}")),
            (Err(e), "") => failures.push(format!("{name}: validate: {e}")),
            (Err(e), theirs) => {
                let reason = theirs.rsplit(": ").next().unwrap_or(theirs);
                if !e.to_string().contains(reason) {
                    failures.push(format!("{name}: validate: {e}; awkward: {theirs}"));
                }
            }
        }
        // Validation re-uses what is already read.
        assert!(
            source.counts().values().all(|&n| n == 1),
            "{name}: validate re-read"
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn element_access_and_iteration_agree_with_json() {
    for (name, dir) in all_cases() {
        let (array, _) = open_counting(&dir);
        let items: Vec<String> = array
            .iter()
            .unwrap()
            .map(|v| v.unwrap().to_json())
            .collect();
        let joined = format!("[{}]", items.join(","));
        let want = expected(&dir).json;
        match serde_json::from_str::<serde_json::Value>(&want) {
            // An array of characters is one string; its elements, as
            // awkward's, are the bytes.
            Ok(serde_json::Value::String(text)) => {
                let bytes: Vec<String> = text.bytes().map(|b| b.to_string()).collect();
                assert_eq!(joined, format!("[{}]", bytes.join(",")), "{name}");
            }
            _ => assert_eq!(joined, want, "{name}"),
        }
        if !array.is_empty() {
            let last = array.len() - 1;
            assert_eq!(array.get(last).unwrap().to_json(), items[last], "{name}");
        }
        assert!(
            matches!(array.get(array.len()), Err(akbuf::Error::OutOfRange { .. })),
            "{name}"
        );
    }
}
