//! Criterion benches for roadsight's kernels live in `benches/benches/`; run them with
//! `cargo bench -p roadsight-benches`. End-to-end benchmarks against a limit or a peer are
//! subcommands of the binary (`roadsight bench ingest ...`).
