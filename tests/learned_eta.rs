//! The learned discount's log column (SPEC §8.2) from the trainer to the run's log, the store
//! and the export, with a parameterization that reports a made-up learned `η`.

use imprl::config::RunSettings;
use imprl::domain::{DomainKind, DomainSpec};
use imprl::optim::Optimizer;
use imprl::param::{ParamArray, ParamKind, Parameterization, StepError};
use imprl::record::RunRecord;
use imprl::rng::{stream, Stream};
use imprl::store::Store;
use imprl::train::{to_the_end, train, Outcome, Silent};

/// Explicit `θ` whose "learned η" moves by 1/128 per update from 0.5.
struct FakeLearned {
    theta: Vec<f64>,
    steps: usize,
}

impl Parameterization for FakeLearned {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        vec![ParamArray::new("theta", &[self.theta.len()], &self.theta)]
    }

    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        self.steps += 1;
        opt.update(0, &mut self.theta, g);
        Ok(())
    }

    fn learned_eta(&self) -> Option<f64> {
        Some(0.5 + self.steps as f64 / 128.0)
    }
}

fn learned_record() -> RunRecord {
    let config = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Explicit),
        steps: Some(30),
        ..RunSettings::default()
    }
    .resolve()
    .expect("valid");
    let problem = DomainSpec::published(DomainKind::Chain).problem(0.0, 0);
    let mut param = FakeLearned {
        theta: vec![0.0; problem.train.k],
        steps: 0,
    };
    let mut rng = stream(0, Stream::Batches);
    let log = to_the_end(train(
        &mut param,
        &problem,
        &config.schedule(),
        &mut rng,
        &mut Silent,
    ));
    assert_eq!(log.outcome, Outcome::Finished);
    RunRecord {
        theta: None,
        config,
        outcome: log.outcome,
        runtime_s: 0.0,
        rows: log.rows,
    }
}

#[test]
fn every_evaluation_carries_the_learned_eta() {
    let rec = learned_record();
    let etas: Vec<Option<f64>> = rec.rows.iter().map(|r| r.eta).collect();
    assert_eq!(
        etas,
        vec![Some(0.5), Some(0.578125), Some(0.65625), Some(0.734375)]
    );
}

#[test]
fn the_run_log_has_a_last_eta_column_only_when_eta_is_learned() {
    let rec = learned_record();
    let mut out = Vec::new();
    imprl::export::write_logs_csv(&mut out, &rec.rows).expect("csv");
    let text = String::from_utf8(out).expect("utf8");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("timestep,mse,res_ones_norm,res_ortho_norm,residual_norm,eta")
    );
    assert!(lines.next().expect("a row").ends_with(",0.5"));
    assert!(text.trim_end().ends_with(",0.734375"), "{text}");

    let fixed: Vec<_> = rec
        .rows
        .iter()
        .map(|r| imprl::metrics::EvalRow { eta: None, ..*r })
        .collect();
    let mut out = Vec::new();
    imprl::export::write_logs_csv(&mut out, &fixed).expect("csv");
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(
        text.lines().next(),
        Some("timestep,mse,res_ones_norm,res_ortho_norm,residual_norm")
    );
}

#[test]
fn the_store_and_the_export_keep_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let learned = learned_record();
    let mut fixed = learned.clone();
    fixed.config.seed = 1;
    for r in &mut fixed.rows {
        r.eta = None;
    }
    {
        let mut s = Store::open(dir.path()).expect("open");
        assert!(s.insert(&learned).expect("insert"));
        assert!(s.insert(&fixed).expect("insert"));
    }
    let back = Store::open_read(dir.path())
        .expect("read")
        .load_all()
        .expect("load");
    assert_eq!(back, vec![learned.clone(), fixed.clone()]);

    let mut out = Vec::new();
    imprl::export::write_tidy_csv(&mut out, back).expect("export");
    let text = String::from_utf8(out).expect("utf8");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().expect("header").clone();
    assert_eq!(header.iter().next_back(), Some("learned_eta"));
    let col = header.len() - 1;
    let seed = header.iter().position(|h| h == "seed").expect("seed");
    let values: Vec<(String, String)> = rdr
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[seed].to_string(), r[col].to_string())
        })
        .collect();
    assert_eq!(values.len(), 8);
    assert_eq!(values[0], ("0".into(), "0.5".into()));
    assert_eq!(values[3], ("0".into(), "0.734375".into()));
    assert!(values[4..].iter().all(|(s, e)| s == "1" && e.is_empty()));

    // Without learned runs the export has no such column.
    let mut out = Vec::new();
    imprl::export::write_tidy_csv(&mut out, vec![fixed]).expect("export");
    let text = String::from_utf8(out).expect("utf8");
    assert!(!text.lines().next().expect("header").contains("learned_eta"));
}
