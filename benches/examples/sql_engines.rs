//! The same SQL through DataFusion over akbuf (flattened), over the same
//! events as an Arrow IPC file (memory-mapped, zero copy) and over Parquet,
//! then on a Ballista cluster of 1 and of 2 executors (feature `ballista`):
//!
//!     cargo run --profile profiling -p akbuf-bench --features ballista --example sql_engines -- DIR [REPS] [AKBUF_BIN]
//!
//! DIR is a directory container (the 2,000,000-event `events` of
//! benches/data/generate.py). The peers' files hold akbuf's flattened
//! table (one column per leaf path, `jets.pt` a `List<Float32>`), so that
//! one SQL text runs on all three: DIR.flat.arrow (Arrow IPC, batches of
//! 262,144 events, uncompressed) and DIR.flat.parquet (zstd level 1, one
//! row group per batch), each written once. Each query runs REPS times
//! (default 5) on one SessionContext per engine, after one unmeasured run;
//! medians. AKBUF_BIN (default target/release/akbuf) runs the cluster:
//! executors of one task slot each (`--vcores 1`), so that two executors
//! have twice the slots of one on this 2-core machine.

use akbuf::{AkbufTable, ChunkSize, ToArrowOptions};
use arrow_array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUERIES: &[(&str, &str)] = &[
    (
        "sum of jets.pt",
        r#"SELECT sum(CAST(pt AS DOUBLE)) AS s FROM (SELECT unnest("jets.pt") AS pt FROM t)"#,
    ),
    (
        "events with a 100 GeV jet",
        r#"SELECT count(*) AS n FROM t WHERE array_max("jets.pt") > 100"#,
    ),
    (
        "per-npv counts, mean met",
        "SELECT npv, count(*) AS n, avg(met) AS m FROM t GROUP BY npv ORDER BY npv",
    ),
    ("met > 50", "SELECT count(*) AS n FROM t WHERE met > 50"),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The flattened table in steps of 262,144 events.
fn flat_batches(dir: &Path) -> Vec<RecordBatch> {
    let events = akbuf::open(dir).unwrap();
    let options = ToArrowOptions::default();
    events
        .chunks(ChunkSize::Rows(1 << 18))
        .unwrap()
        .map(|c| c.unwrap().to_flat_record_batch(&options).unwrap())
        .collect()
}

fn write_peers(dir: &Path, ipc: &Path, parquet: &Path) {
    if ipc.exists() && parquet.exists() {
        return;
    }
    let batches = flat_batches(dir);
    let schema = batches[0].schema();
    let file = std::fs::File::create(ipc).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(file, &schema).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(
            parquet::basic::ZstdLevel::try_new(1).unwrap(),
        ))
        .set_max_row_group_row_count(Some(1 << 18))
        .build();
    let file = std::fs::File::create(parquet).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// The IPC file's batches over its mapped pages (no copy).
fn mapped_ipc(path: &Path) -> Vec<RecordBatch> {
    use arrow_buffer::Buffer;
    use arrow_ipc::convert::fb_to_schema;
    use arrow_ipc::reader::{read_footer_length, FileDecoder};
    let file = std::fs::File::open(path).unwrap();
    // SAFETY: the benchmark's own file, not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let bytes = bytes::Bytes::from_owner(map);
    let buffer = Buffer::from(bytes);
    let trailer_start = buffer.len() - 10;
    let footer_len = read_footer_length(buffer[trailer_start..].try_into().unwrap()).unwrap();
    let footer =
        arrow_ipc::root_as_footer(&buffer[trailer_start - footer_len..trailer_start]).unwrap();
    let schema = fb_to_schema(footer.schema().unwrap());
    let mut decoder = FileDecoder::new(Arc::new(schema), footer.version());
    for block in footer.dictionaries().iter().flatten() {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        let data = buffer.slice_with_length(block.offset() as usize, len);
        decoder.read_dictionary(block, &data).unwrap();
    }
    footer
        .recordBatches()
        .unwrap()
        .iter()
        .map(|block| {
            let len = block.bodyLength() as usize + block.metaDataLength() as usize;
            let data = buffer.slice_with_length(block.offset() as usize, len);
            decoder.read_record_batch(block, &data).unwrap().unwrap()
        })
        .collect()
}

/// Each query's median on `ctx` (table `t`), and its rows as text.
async fn run(ctx: &SessionContext, reps: usize) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    for (_, q) in QUERIES {
        let first = ctx.sql(q).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&first)
            .unwrap()
            .to_string();
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let _ = ctx.sql(q).await.unwrap().collect().await.unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        out.push((median(times), text));
    }
    out
}

/// Same numbers (a float's last digits may differ by summation order).
fn agree(a: &str, b: &str) -> bool {
    let nums = |s: &str| -> Vec<f64> {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter_map(|w| w.parse::<f64>().ok())
            .collect()
    };
    let (x, y) = (nums(a), nums(b));
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(x, y)| (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler and `n` executors of `bin`, killed on drop.
struct Cluster(Vec<Child>, String);

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cluster(bin: &Path, n: usize, vcores: usize) -> Cluster {
    let port = free_port();
    let quiet = || Stdio::null();
    let mut children = vec![Command::new(bin)
        .args([
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(quiet())
        .spawn()
        .unwrap()];
    for _ in 0..n {
        children.push(
            Command::new(bin)
                .args([
                    "cluster",
                    "executor",
                    "--scheduler",
                    &format!("localhost:{port}"),
                ])
                .args(["--port", &free_port().to_string()])
                .args(["--grpc-port", &free_port().to_string()])
                .args(["--vcores", &vcores.to_string()])
                .stderr(quiet())
                .spawn()
                .unwrap(),
        );
    }
    Cluster(children, format!("df://localhost:{port}"))
}

/// Registers `t` on a cluster context once a query runs (bounded wait).
async fn cluster_context(url: &str, dir: &Path, executors: usize) -> SessionContext {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ctx = akbuf::cluster::remote_context(url).await.unwrap();
        let table = AkbufTable::open(dir).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let probe = async { ctx.sql("SELECT count(*) FROM t").await?.collect().await };
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(20), probe).await {
            // Every executor registered: the scheduler hands tasks to all.
            tokio::time::sleep(Duration::from_secs(2 * executors as u64)).await;
            return ctx;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster at {url} did not start"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("/tmp/akdata/events", String::as_str));
    let reps: usize = args.get(2).map_or(5, |s| s.parse().unwrap());
    let bin = PathBuf::from(args.get(3).map_or("target/release/akbuf", String::as_str));
    let ipc = dir.with_extension("flat.arrow");
    let parquet = dir.with_extension("flat.parquet");
    write_peers(&dir, &ipc, &parquet);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    println!(
        "{}: IPC {:.0} MB, Parquet {:.0} MB; {reps} runs per query, medians",
        dir.display(),
        size(&ipc),
        size(&parquet)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ours = SessionContext::new();
        ours.register_table("t", Arc::new(AkbufTable::open(&dir).unwrap()))
            .unwrap();
        let batches = mapped_ipc(&ipc);
        let target = ours.state().config().target_partitions();
        let mut parts = vec![Vec::new(); target.min(batches.len())];
        for (i, b) in batches.into_iter().enumerate() {
            let n = parts.len();
            parts[i % n].push(b);
        }
        let ipc_ctx = SessionContext::new();
        let schema = parts[0][0].schema();
        ipc_ctx
            .register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let pq = SessionContext::new();
        pq.register_parquet(
            "t",
            parquet.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let a = run(&ours, reps).await;
        let b = run(&ipc_ctx, reps).await;
        let c = run(&pq, reps).await;
        println!(
            "| query | akbuf | Arrow IPC (mapped) | Parquet | IPC / akbuf | Parquet / akbuf |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (i, (name, _)) in QUERIES.iter().enumerate() {
            assert!(agree(&a[i].1, &b[i].1), "{name}: {} vs {}", a[i].1, b[i].1);
            assert!(agree(&a[i].1, &c[i].1), "{name}: {} vs {}", a[i].1, c[i].1);
            println!(
                "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x | {:.1}x |",
                a[i].0 * 1e3,
                b[i].0 * 1e3,
                c[i].0 * 1e3,
                b[i].0 / a[i].0,
                c[i].0 / a[i].0
            );
        }
        println!("sum of jets.pt: {}", a[0].1.lines().nth(3).unwrap_or(""));
        if !bin.exists() {
            println!("{} not built: no cluster figures", bin.display());
            return;
        }
        let mut medians = Vec::new();
        for n in [1, 2] {
            let vcores = 1;
            let _c = cluster(&bin, n, vcores);
            let ctx = cluster_context(&_c.1, &dir, n).await;
            let r = run(&ctx, reps).await;
            for (i, (name, _)) in QUERIES.iter().enumerate() {
                assert!(
                    agree(&a[i].1, &r[i].1),
                    "{name} on {n}: {} vs {}",
                    a[i].1,
                    r[i].1
                );
            }
            medians.push(r);
        }
        println!("| query | one process | cluster, 1 executor | cluster, 2 executors | 1 / 2 |");
        println!("|---|---:|---:|---:|---:|");
        for (i, (name, _)) in QUERIES.iter().enumerate() {
            println!(
                "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x |",
                a[i].0 * 1e3,
                medians[0][i].0 * 1e3,
                medians[1][i].0 * 1e3,
                medians[0][i].0 / medians[1][i].0
            );
        }
    });
}
