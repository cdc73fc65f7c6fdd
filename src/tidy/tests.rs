use super::parquet::{read_parquet, write_parquet};
use super::*;
use crate::config::{fmt_f64, RunSettings};
use crate::train::Outcome;

fn record(toml: &str) -> RunRecord {
    let table: toml::Table = toml.parse().expect("toml");
    let cfg = RunSettings::from_toml_table(&table)
        .and_then(|s| s.resolve())
        .expect("valid settings");
    crate::run::record(&cfg, false, &mut crate::train::Silent).expect("runs")
}

/// Runs of every kind of row: finished, diverged after evaluations, diverged before the first.
fn records() -> Vec<RunRecord> {
    let mut a = record("domain = 'chain'\nparam = 'implicit'\nsteps = 30\nseed = 3");
    a.rows.truncate(2);
    a.outcome = Outcome::Diverged { step: 17 };
    let mut b =
        record("domain = 'four-rooms'\nparam = 'explicit'\nsteps = 20\nbias = true\noffset = -2.5");
    b.rows.clear();
    b.outcome = Outcome::Diverged { step: 0 };
    vec![
        record("domain = 'chain'\nparam = 'explicit-matrix'\nsteps = 20\neta = 0.8"),
        a,
        b,
    ]
}

fn cell_text(c: &Column, i: usize) -> String {
    match c {
        Column::Float(v) => v[i].map_or_else(String::new, fmt_f64),
        Column::Int(v) => v[i].map_or_else(String::new, |x| x.to_string()),
        Column::Bool(v) => v[i].map_or_else(String::new, |x| x.to_string()),
        Column::Text(v) => v[i].clone().unwrap_or_default(),
    }
}

/// The schema holds every setting and every metric once, typed: the optional metrics only when
/// some run has them, by tidy names that no setting has.
#[test]
fn schema_holds_every_setting_and_metric_typed() {
    let full = full_schema();
    let names: Vec<&str> = full.iter().map(|(n, _)| *n).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    for s in SETTINGS {
        assert!(names.contains(&s.name), "{}", s.name);
    }
    for m in &METRICS {
        assert!(names.contains(&m.tidy_name), "{}", m.tidy_name);
        let without: Vec<&str> = tidy_schema(&[]).iter().map(|(n, _)| *n).collect();
        assert_eq!(without.contains(&m.tidy_name), !m.optional, "{}", m.name);
    }
    let t = |name: &str| full.iter().find(|(n, _)| *n == name).map(|(_, t)| t.kind);
    assert_eq!(t("eta"), Some(ColumnKind::Float));
    assert_eq!(t("seed"), Some(ColumnKind::Int));
    assert_eq!(t("bias"), Some(ColumnKind::Bool));
    assert_eq!(t("domain"), Some(ColumnKind::Text));
    assert_eq!(t("learned_eta"), Some(ColumnKind::Float));
    assert_eq!(
        crate::export::tidy_header(&[]),
        tidy_schema(&[]).iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
}

#[test]
fn the_table_holds_the_csv_cell_for_cell() {
    let recs = records();
    let mut csv_bytes = Vec::new();
    crate::export::write_tidy_csv(&mut csv_bytes, recs.clone()).expect("csv");
    let table = TidyTable::from_records(&recs);
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let names: Vec<String> = table.columns.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(header, names);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), table.rows());
    assert_eq!(rows.len(), recs[0].rows.len() + 2 + 1);
    for (i, row) in rows.iter().enumerate() {
        for (j, (name, col)) in table.columns.iter().enumerate() {
            assert_eq!(cell_text(col, i), row[j], "row {i}, column {name}");
        }
    }
}

#[test]
fn parquet_round_trips_the_table() {
    let table = TidyTable::from_records(&records());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.parquet");
    write_parquet(&table, std::fs::File::create(&path).expect("create")).expect("write");
    let back = read_parquet(&path).expect("read");
    assert_eq!(back, table);
    let e = read_parquet(&dir.path().join("missing.parquet")).expect_err("missing file");
    assert!(e.to_string().contains("missing.parquet"), "{e}");
    std::fs::write(&path, b"not parquet").expect("write");
    let e = read_parquet(&path).expect_err("not parquet");
    assert!(e.to_string().contains("t.parquet"), "{e}");
}

#[test]
fn evaluation_cells_are_empty_only_before_the_first_evaluation() {
    let table = TidyTable::from_records(&records());
    let Some(Column::Int(ts)) = table.column("timestep") else {
        panic!("timestep is an integer column")
    };
    assert_eq!(ts.iter().filter(|x| x.is_none()).count(), 1);
    let Some(Column::Int(at)) = table.column("diverged_at") else {
        panic!("diverged_at is an integer column")
    };
    assert_eq!(at.last(), Some(&Some(0)));
    assert_eq!(at.first(), Some(&None));
}

/// Parquet files as pandas and pyarrow write them (snappy by default; zstd and gzip on request)
/// read as the uncompressed file; a table without the tidy columns is refused, naming them.
#[test]
fn parquet_reads_compressed_files_and_refuses_foreign_tables() {
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use ::parquet::arrow::ArrowWriter;
    use ::parquet::basic::{Compression, GzipLevel, ZstdLevel};
    use ::parquet::file::properties::WriterProperties;
    let table = TidyTable::from_records(&records());
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.parquet");
    write_parquet(&table, std::fs::File::create(&plain).expect("create")).expect("write");
    let batches = || {
        let r =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&plain).expect("open"))
                .expect("reader")
                .build()
                .expect("build");
        let schema = arrow_array::RecordBatchReader::schema(&r);
        (schema, r.map(|b| b.expect("batch")).collect::<Vec<_>>())
    };
    for c in [
        Compression::SNAPPY,
        Compression::ZSTD(ZstdLevel::default()),
        Compression::GZIP(GzipLevel::default()),
    ] {
        let path = dir.path().join("c.parquet");
        let (schema, data) = batches();
        let props = WriterProperties::builder().set_compression(c).build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).expect("create"),
            schema,
            Some(props),
        )
        .expect("writer");
        for b in &data {
            w.write(b).expect("write");
        }
        w.close().expect("close");
        assert_eq!(read_parquet(&path).expect("read"), table, "{c:?}");
    }
    // Without `seed` and `mse`: refused, naming both.
    let (schema, data) = batches();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| !["seed", "mse"].contains(&schema.field(i).name().as_str()))
        .collect();
    let path = dir.path().join("foreign.parquet");
    let projected = std::sync::Arc::new(schema.project(&keep).expect("project"));
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).expect("create"),
        projected,
        None,
    )
    .expect("writer");
    for b in &data {
        w.write(&b.project(&keep).expect("project")).expect("write");
    }
    w.close().expect("close");
    let e = read_parquet(&path)
        .expect_err("not a tidy table")
        .to_string();
    assert!(
        e.contains("foreign.parquet") && e.contains("seed, mse"),
        "{e}"
    );
}
