//! DataFusion over akbuf (feature `datafusion`): results against awkward's
//! values, and which buffers a query reads.
#![cfg(feature = "datafusion")]

use akbuf::{AkbufTable, Cache, Options, ReadEvent, SchemaMode};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Opens `path` with a cache recording every key read.
fn observed(path: &std::path::Path) -> (akbuf::Array, Arc<Mutex<Vec<String>>>) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = keys.clone();
    let cache = Cache::new().with_observer(move |e: &ReadEvent<'_>| {
        seen.lock().unwrap().push(e.key.to_string());
    });
    let options = Options::default().with_cache(Arc::new(cache));
    (akbuf::open_with(path, options).unwrap(), keys)
}

fn run(table: AkbufTable, sql: &str) -> Vec<arrow_array::RecordBatch> {
    let ctx = akbuf::session_context();
    ctx.register_table("t", Arc::new(table)).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { ctx.sql(sql).await?.collect().await })
        .unwrap()
}

fn f64_of(batches: &[arrow_array::RecordBatch]) -> f64 {
    use arrow_array::cast::AsArray;
    batches[0]
        .column(0)
        .as_primitive::<arrow_array::types::Float64Type>()
        .value(0)
}

/// The sum of `jets.pt` awkward computed (data/events.expected.json), and
/// the buffers the query read: the jets offsets and the pt data only.
#[test]
fn a_sum_over_jets_pt_equals_awkwards_and_reads_two_buffers() {
    let path = root().join("data/events");
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("data/events.expected.json")).unwrap(),
    )
    .unwrap();
    let (array, keys) = observed(&path);
    let form = array.form().clone();
    let table = AkbufTable::new(array, SchemaMode::Flattened).unwrap();
    assert!(keys.lock().unwrap().is_empty(), "making the table read");
    let batches = run(
        table,
        r#"SELECT sum(CAST(pt AS DOUBLE)) FROM (SELECT unnest("jets.pt") AS pt FROM t)"#,
    );
    let got = f64_of(&batches);
    let expect = want["jets_pt_sum_f64"].as_f64().unwrap();
    assert!(
        (got - expect).abs() <= 1e-9 * expect.abs(),
        "{got} != {expect}"
    );
    let mut read = keys.lock().unwrap().clone();
    read.sort();
    assert!(form.fields().contains(&"jets".to_string()));
    assert_eq!(read.len(), 2, "{read:?}");
    assert!(read.iter().any(|k| k.ends_with("-offsets")), "{read:?}");
    assert!(read.iter().any(|k| k.ends_with("-data")), "{read:?}");
}

/// On a partitioned container, `LIMIT` reads only the first partition, and
/// a whole scan equals awkward's values (expected.json of the fixture).
#[test]
fn limit_reads_the_first_partition_and_scans_equal_awkward() {
    let dir = root().join("tests/fixtures/partitioned/events_unequal");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(want["json"].as_str().unwrap()).unwrap();
    let (array, keys) = observed(&dir);
    let table = AkbufTable::new(array.clone(), SchemaMode::Flattened).unwrap();
    let batches = run(table, "SELECT met FROM t LIMIT 3");
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 3);
    let read = keys.lock().unwrap().clone();
    assert!(
        !read.is_empty() && read.iter().all(|k| k.starts_with("part0-")),
        "{read:?}"
    );
    // Sum of met over every row, and a filtered count, against awkward's values.
    let table = AkbufTable::new(array, SchemaMode::Flattened).unwrap();
    let mets: Vec<f64> = rows.iter().map(|r| r["met"].as_f64().unwrap()).collect();
    let batches = run(table.clone(), "SELECT sum(met) FROM t");
    let expect: f64 = mets.iter().sum();
    assert!((f64_of(&batches) - expect).abs() < 1e-9 * expect.abs());
    let batches = run(
        table,
        "SELECT CAST(count(*) AS DOUBLE) FROM t WHERE met > 10",
    );
    let expect = mets.iter().filter(|m| **m > 10.0).count() as f64;
    assert_eq!(f64_of(&batches), expect);
}

/// `STORED AS AKBUF` and the nested schema.
#[test]
fn create_external_table_and_nested_schemas() {
    let path = root().join("data/events");
    let ctx = akbuf::session_context();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = rt
        .block_on(async {
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE ev STORED AS AKBUF LOCATION '{}'",
                path.display()
            ))
            .await?;
            ctx.sql("SELECT CAST(count(*) AS DOUBLE) FROM ev")
                .await?
                .collect()
                .await
        })
        .unwrap();
    assert_eq!(f64_of(&n), akbuf::open(&path).unwrap().len() as f64);
    let nested = AkbufTable::new(akbuf::open(&path).unwrap(), SchemaMode::Nested).unwrap();
    use datafusion::catalog::TableProvider;
    let names: Vec<String> = nested
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, akbuf::open(&path).unwrap().fields());
}
