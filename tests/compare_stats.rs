//! The comparison statistics on synthetic data with known answers.

use imprl::compare::{
    compare, summarize_ours, summarize_reference, welch, ConfigKey, ReferenceRun, SideStats,
};
use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::metrics::EvalRow;
use imprl::param::ParamKind;
use imprl::record::RunRecord;
use imprl::stats::Stat;
use imprl::train::Outcome;
use std::collections::BTreeMap;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn moments_are_mean_and_sample_sd() {
    let m = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m.n, 4);
    assert!(close(m.mean, 2.5));
    // Σ(x − 2.5)² = 5, divided by n − 1 = 3.
    assert!(close(m.known_sd().unwrap(), (5.0f64 / 3.0).sqrt()));
    assert_eq!(Stat::of(&[7.0]).known_sd(), None);
    assert_eq!(Stat::of(&[]).n, 0);
}

#[test]
fn welch_z_has_the_known_value() {
    // Means 10 and 8; sds 2 and 4; n 4 and 16: se = √(4/4 + 16/16) = √2.
    let a = Stat {
        n: 4,
        mean: 10.0,
        sd: 2.0,
    };
    let b = Stat {
        n: 16,
        mean: 8.0,
        sd: 4.0,
    };
    let c = welch(a, b);
    assert!(close(c.z.unwrap(), 2.0 / 2f64.sqrt()));
    assert!(!c.sd_assumed);
    assert!(close(welch(b, a).z.unwrap(), -2.0 / 2f64.sqrt()));
    // Unknown published sd: ours stands in. se = √(4/4 + 4/16) = √1.25.
    let u = Stat::without_sd(16, 8.0);
    let c = welch(a, u);
    assert!(c.sd_assumed);
    assert!(close(c.z.unwrap(), 2.0 / 1.25f64.sqrt()));
    // Zero spread: equal means agree exactly, different ones infinitely far apart.
    let z0 = Stat {
        n: 3,
        mean: 1.0,
        sd: 0.0,
    };
    assert_eq!(welch(z0, z0).z, Some(0.0));
    let z1 = Stat {
        n: 3,
        mean: 2.0,
        sd: 0.0,
    };
    assert_eq!(welch(z1, z0).z, Some(f64::INFINITY));
    // No sd on our side and none published: no z.
    assert_eq!(welch(Stat::without_sd(1, 1.0), u).z, None);
}

fn row(t: usize, ones: f64, ortho: f64) -> EvalRow {
    EvalRow {
        timestep: t,
        mse: 0.0,
        res_ones_norm: ones,
        res_ortho_norm: ortho,
        residual_norm: (ones * ones + ortho * ortho).sqrt(),
        eta: None,
        inexact_updates: None,
        max_solve_residual: None,
    }
}

fn key(offset: f64) -> ConfigKey {
    ConfigKey::published(
        DomainKind::Chain,
        ParamKind::Implicit,
        0.9,
        0.0625,
        offset,
        25,
    )
}

fn record(offset: f64, seed: u64, init: (f64, f64), fin: Option<f64>) -> RunRecord {
    let config = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Implicit),
        eta: Some(0.9),
        lr: Some(0.0625),
        offset: Some(offset),
        seed: Some(seed),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    let mut rows = vec![row(0, init.0, init.1)];
    let outcome = match fin {
        Some(f) => {
            rows.push(row(300, 0.0, f));
            Outcome::Finished
        }
        None => Outcome::Diverged { step: 120 },
    };
    RunRecord {
        theta: None,
        config,
        outcome,
        runtime_s: 0.5,
        rows,
    }
}

#[test]
fn sides_are_summarized_and_matched() {
    // Ours: offset 0.5, four runs, one diverged; offset 0.7 only ours.
    let recs = vec![
        record(0.5, 0, (1.0, 5.0), Some(2.0)),
        record(0.5, 1, (2.0, 5.0), Some(4.0)),
        record(0.5, 2, (3.0, 5.0), Some(6.0)),
        record(0.5, 3, (4.0, 5.0), None),
        record(0.7, 0, (1.0, 1.0), Some(1.0)),
    ];
    let (ours, excluded) = summarize_ours(&recs);
    assert_eq!(excluded, 0);
    let o = &ours[&key(0.5)];
    assert_eq!((o.runs, o.diverged, o.failed), (4, Some(1), 0));
    assert_eq!(o.final_norm.n, 3);
    assert!(close(o.final_norm.mean, 4.0));
    assert!(close(o.final_norm.known_sd().unwrap(), 2.0));
    assert!(close(o.init_ones.mean, 2.5));
    assert!(close(o.runtime_s, 0.5));

    // Published: offset 0.5 with the spelling of the job log, one failed job; offset 0.0 only
    // theirs; a run with a non-finite row diverged.
    let lr: f64 = ".06250000000000000000".parse().unwrap();
    let mut k = key(0.5);
    k.lr = lr;
    let pub_run = |fin: f64, failed: bool| ReferenceRun {
        key: k,
        rows: vec![row(0, 2.0, 5.0), row(300, 0.0, fin)],
        runtime_s: 16.0,
        failed,
    };
    let runs = vec![
        pub_run(3.0, false),
        pub_run(5.0, false),
        pub_run(1e9, true),
        ReferenceRun {
            key: key(0.0),
            rows: vec![row(0, 1.0, 1.0)],
            runtime_s: 15.0,
            failed: false,
        },
    ];
    let theirs = summarize_reference(&runs);
    let t = &theirs[&key(0.5)];
    assert_eq!((t.runs, t.diverged, t.failed), (2, Some(0), 1));
    assert!(close(t.final_norm.mean, 4.0));
    assert!(close(t.final_norm.known_sd().unwrap(), 2f64.sqrt()));

    let c = compare(&ours, &theirs);
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.only_ours, vec![key(0.7)]);
    assert_eq!(c.only_theirs, vec![key(0.0)]);
    let r = &c.rows[0];
    assert!(r.either_diverged());
    assert_eq!(r.final_z(), None);
    // Final means equal: z 0 (reported, but not counted because ours diverged once).
    assert_eq!(r.final_norm.z, Some(0.0));
    // Initial r∥: ours 1,2,3,4 (sd √(5/3)), theirs 2,2 (sd 0): z = 0.5 / √(5/12).
    assert!(close(r.init_ones.z.unwrap(), 0.5 / (5.0f64 / 12.0).sqrt()));
    let g = &c.groups[0];
    assert_eq!(
        (
            g.configs,
            g.diverged_ours,
            g.diverged_theirs,
            g.diverged_either
        ),
        (1, 1, 0, 1)
    );
    assert_eq!(g.final_norm.compared, 0);
    assert_eq!(g.init_ones.compared, 1);
    assert_eq!(g.failed_theirs, 1);
    assert!(close(g.runtime_theirs_s, 16.0));
}

#[test]
fn group_shares_count_configurations_within_2_and_3_se() {
    // Ten configurations, known z: 0, 0.5, …, 4.5 (ours n = 2, sd √2 ⇒ se = 1 with theirs sd 0).
    let mut ours = BTreeMap::new();
    let mut theirs = BTreeMap::new();
    for i in 0..10 {
        let k = key(i as f64 / 10.0);
        let m = |mean: f64, sd: f64| Stat { n: 2, mean, sd };
        let side = |mean: f64, sd: f64| SideStats {
            runs: 2,
            diverged: Some(0),
            failed: 0,
            final_norm: m(mean, sd),
            init_ones: m(mean, sd),
            init_ortho: m(mean, sd),
            runtime_s: 1.0,
        };
        ours.insert(k, side(10.0 + 0.5 * i as f64, 2f64.sqrt()));
        theirs.insert(k, side(10.0, 0.0));
    }
    let c = compare(&ours, &theirs);
    let g = &c.groups[0];
    // |z| ≤ 2: 0..2 (5 values); ≤ 3: 0..3 (7 values).
    assert_eq!(g.final_norm.compared, 10);
    assert_eq!(g.final_norm.within2, 5);
    assert_eq!(g.final_norm.within3, 7);
    assert!(close(g.final_norm.share3(), 0.7));
    assert!(!g.meets_target());
    assert!(close(g.worst[0].2, 4.5));
}
