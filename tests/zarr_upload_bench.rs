//! A measurement, not run by default: writing the sample as a Zarr group
//! to moto's S3 server behind a proxy adding 20 ms per request, in chunks
//! of 1 KiB (119 objects), five times; prints the median. Each copy is
//! checked to read back equal.
//!
//!     AKBUF_REQUIRE_SERVERS=1 cargo test --features zarr,remote --test zarr_upload_bench -- --ignored --nocapture
#![cfg(all(feature = "zarr", feature = "remote"))]

mod common;

use akbuf::{Fetch, Options, WriteOptions};
use common::servers::{Moto, Proxy};
use std::time::{Duration, Instant};

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn a_zarr_group_uploads_its_chunks_side_by_side() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let proxy = Proxy::start(moto.port, Duration::from_millis(20), 0);
    let mut fetch = Fetch::default();
    fetch.config = moto.config();
    for (k, v) in &mut fetch.config {
        if k == "aws_endpoint" {
            *v = proxy.url();
        }
    }
    let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events")).unwrap();
    let opts = WriteOptions::default()
        .with_chunks(1024, None)
        .with_fetch(fetch.clone());
    let mut times = Vec::new();
    for i in 0..5 {
        let url = format!("s3://akbuf/e{i}.zarr");
        let t = Instant::now();
        akbuf::write_to(&events, &url, &opts).unwrap();
        times.push(t.elapsed().as_secs_f64());
        let back = akbuf::open_with(&url, Options::default().with_fetch(fetch.clone())).unwrap();
        assert_eq!(back.to_json().unwrap(), events.to_json().unwrap());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "zarr upload of the sample, 1 KiB chunks, 20 ms per request: median of 5 {:.3} s",
        times[2]
    );
}
