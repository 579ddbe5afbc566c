//! akbuf's benchmarks (`benches/`) and workloads (`examples/`), a crate of
//! their own so that the library and its tests never build their peers.
//! Run them from the repository root:
//! `cargo bench -p akbuf-bench --bench cache`,
//! `cargo run --release -p akbuf-bench --example workloads -- DATA_DIR`.
