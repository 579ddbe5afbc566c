//! Form JSON in and out, and type strings, against awkward 2.14
//! (tests/fixtures/forms.json, written by generate.py).

use akbuf::{Form, Value};

#[test]
fn forms_parse_write_and_type_like_awkward() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/forms.json"
    ))
    .unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(entries.len() > 50);
    let mut failures = Vec::new();
    for e in &entries {
        let input = e["input"].as_str().unwrap();
        let parsed = Form::from_json(input);
        match (e.get("error"), parsed) {
            (Some(err), Ok(f)) => failures.push(format!(
                "{input}: awkward refuses ({err}), akbuf accepts {}",
                f.to_json()
            )),
            (Some(_), Err(akbuf::Error::Form { .. })) => {}
            (Some(_), Err(other)) => failures.push(format!("{input}: wrong error kind {other:?}")),
            (None, Err(err)) => failures.push(format!("{input}: akbuf refuses: {err}")),
            (None, Ok(form)) => {
                let want_json = e["json"].as_str().unwrap();
                if form.to_json() != want_json {
                    failures.push(format!(
                        "{input}:\n  json {}\n  want {want_json}",
                        form.to_json()
                    ));
                }
                let want_type = e["type"].as_str().unwrap();
                if form.type_string() != want_type {
                    failures.push(format!(
                        "{input}:\n  type {}\n  want {want_type}",
                        form.type_string()
                    ));
                }
                // What akbuf writes, akbuf reads back the same.
                let again = Form::from_json(&form.to_json()).unwrap();
                assert_eq!(again, form, "{input}");
                let terse = Form::from_value(&form.to_value(false)).unwrap();
                assert_eq!(terse, form, "{input}: terse round trip");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn float_output_is_pythons_repr() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/float_repr.json"
    ))
    .unwrap();
    let entries: Vec<(u64, String)> = serde_json::from_str(&text).unwrap();
    assert!(entries.len() > 5000);
    for (bits, want) in entries {
        let x = f64::from_bits(bits);
        assert_eq!(Value::Float(x).to_json(), want, "bits {bits:#x}");
    }
}

#[test]
fn form_errors_name_the_node() {
    let err = Form::from_json(r#"{"class": "RecordArray", "fields": ["a", "b"], "contents": ["int64", {"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "int"}}]}"#)
        .unwrap_err();
    assert_eq!(err.node(), Some("/b/[]"));
    assert!(
        err.to_string().contains("unrecognized primitive: 'int'"),
        "{err}"
    );
    let err = Form::from_json(
        r#"{"class": "RecordArray", "fields": ["a"], "contents": ["int64", "int64"]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("1 fields but 2 contents"), "{err}");
    let err =
        Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i16", "content": "int64"}"#)
            .unwrap_err();
    assert!(
        err.to_string().contains("'offsets' must be one of"),
        "{err}"
    );
}
