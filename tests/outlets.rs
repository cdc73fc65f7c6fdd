//! Every metric of the declaration ([`imprl::metrics::METRICS`]) reaches every outlet of a run's
//! evaluations: the log, the results store (round trip and checksum), the tidy CSV and the
//! Parquet export. A metric added to the declaration but missed by an outlet fails here.

use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::metrics::{EvalRow, METRICS};
use imprl::param::ParamKind;
use imprl::record::RunRecord;
use imprl::store::Store;
use imprl::tidy::TidyTable;
use imprl::train::Outcome;

/// A run whose evaluations have every metric, each with a value of its own.
fn record_with_every_metric() -> RunRecord {
    let config = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Implicit),
        ..RunSettings::default()
    }
    .resolve()
    .expect("valid");
    let rows = (0..3)
        .map(|t| {
            let mut r = EvalRow::empty(10 * t);
            for (i, m) in METRICS.iter().enumerate() {
                (m.set)(&mut r, Some(1.0 + i as f64 / 8.0 + t as f64 / 1024.0));
            }
            r
        })
        .collect();
    RunRecord {
        theta: None,
        config,
        outcome: Outcome::Finished,
        runtime_s: 0.5,
        rows,
    }
}

#[test]
fn the_log_has_every_metric_of_its_rows() {
    let rec = record_with_every_metric();
    let mut out = Vec::new();
    imprl::export::write_logs_csv(&mut out, &rec.rows).expect("csv");
    let text = String::from_utf8(out).expect("utf-8");
    let header: Vec<&str> = text.lines().next().expect("header").split(',').collect();
    assert_eq!(header[0], "timestep");
    let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    assert_eq!(&header[1..], names.as_slice());
    let first: Vec<f64> = text
        .lines()
        .nth(1)
        .expect("row")
        .split(',')
        .skip(1)
        .map(|x| x.parse().expect("number"))
        .collect();
    let expected: Vec<f64> = METRICS
        .iter()
        .map(|m| (m.get)(&rec.rows[0]).expect("set"))
        .collect();
    assert_eq!(first, expected);
}

#[test]
fn the_store_keeps_and_checks_every_metric() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = record_with_every_metric();
    {
        let mut s = Store::open(dir.path()).expect("open");
        assert!(s.insert(&rec).expect("insert"));
    }
    let back = Store::open_read(dir.path())
        .expect("open")
        .load_all()
        .expect("read");
    assert_eq!(back, vec![rec.clone()]);
    // The checksum covers every metric: changing any one of them changes it.
    let sum = imprl::store::checksum(&rec);
    for m in &METRICS {
        let mut changed = rec.clone();
        let v = (m.get)(&changed.rows[1]).expect("set");
        (m.set)(&mut changed.rows[1], Some(v * 2.0));
        assert_ne!(imprl::store::checksum(&changed), sum, "{}", m.name);
    }
}

#[test]
fn the_tidy_csv_and_parquet_have_every_metric() {
    let rec = record_with_every_metric();
    let mut out = Vec::new();
    imprl::export::write_tidy_csv(&mut out, vec![rec.clone()]).expect("csv");
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let table = TidyTable::from_records([&rec]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.parquet");
    imprl::tidy::parquet::write_parquet(&table, std::fs::File::create(&path).expect("file"))
        .expect("parquet");
    let back = imprl::tidy::parquet::read_parquet(&path).expect("read");
    for m in &METRICS {
        let i = header
            .iter()
            .position(|h| h == m.tidy_name)
            .unwrap_or_else(|| panic!("{} in the CSV", m.tidy_name));
        for (row, eval) in rows.iter().zip(&rec.rows) {
            let x: f64 = row[i].parse().expect("number");
            assert_eq!(Some(x), (m.get)(eval), "{}", m.name);
        }
        let Some(imprl::tidy::Column::Float(values)) = back.column(m.tidy_name) else {
            panic!("{} in the Parquet file", m.tidy_name)
        };
        let expected: Vec<Option<f64>> = rec.rows.iter().map(|r| (m.get)(r)).collect();
        assert_eq!(values, &expected, "{}", m.name);
    }
}
