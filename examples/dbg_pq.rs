fn main() {
    let f = std::fs::File::open("/tmp/pn.parquet").unwrap();
    let m =
        parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&f, Default::default()).unwrap();
    println!("{:#?}", m.schema());
}
