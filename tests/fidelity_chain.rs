//! Fidelity on the chain domain against the published runs (`shared/reference/chain_summary.csv`,
//! SPEC §7): 20-seed means within 3 combined standard errors of the published means.

use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::param::ParamKind;
use imprl::published::best_lr;
use imprl::train::NoObserver;
use std::collections::HashMap;
use std::path::PathBuf;

/// Published 20-seed summary of one chain configuration.
#[derive(Debug, Clone, Copy)]
struct Published {
    init_ones: f64,
    init_ortho: f64,
    final_norm: f64,
    final_norm_std: f64,
}

fn summary() -> HashMap<(String, String, String, String), Published> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/chain_summary.csv");
    let mut rdr =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = rdr.headers().expect("header").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (m, e, l, o) = (col("method"), col("eta"), col("lr"), col("offset"));
    let (io, it, fnm, fns) = (
        col("init_ones"),
        col("init_ortho"),
        col("final_norm"),
        col("final_norm_std"),
    );
    let mut out = HashMap::new();
    for rec in rdr.records() {
        let r = rec.expect("row");
        let f = |i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
        let key = (
            r[m].to_string(),
            key_num(r[e].parse().expect("eta")),
            key_num(r[l].parse().expect("lr")),
            key_num(r[o].parse().expect("offset")),
        );
        out.insert(
            key,
            Published {
                init_ones: f(io),
                init_ortho: f(it),
                final_norm: f(fnm),
                final_norm_std: f(fns),
            },
        );
    }
    out
}

fn key_num(x: f64) -> String {
    format!("{x:.6}")
}

/// Mean and sample standard deviation.
fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

/// Runs 20 seeds of chain/`param` and returns (initial r∥, initial ‖r⊥‖, final ‖r‖) per seed.
fn runs(param: ParamKind, eta: f64, lr: f64, offset: f64, steps: usize) -> Vec<(f64, f64, f64)> {
    (0..20)
        .map(|seed| {
            let cfg = RunSettings {
                domain: Some(DomainKind::Chain),
                param: Some(param),
                eta: Some(eta),
                lr: Some(lr),
                offset: Some(offset),
                seed: Some(seed),
                steps: Some(steps),
                ..Default::default()
            }
            .resolve()
            .expect("valid");
            let log = imprl::run::run(&cfg, &mut NoObserver).expect("runs");
            let first = log.rows.first().expect("initial evaluation");
            let last = log.rows.last().expect("final evaluation");
            assert!(log.outcome.diverged_at().is_none(), "{cfg:?} diverged");
            (
                first.res_ones_norm,
                first.res_ortho_norm,
                last.residual_norm,
            )
        })
        .collect()
}

fn check(
    what: &str,
    ours: &[f64],
    published_mean: f64,
    published_sd: Option<f64>,
    failures: &mut Vec<String>,
) {
    let (m, sd) = mean_sd(ours);
    let n = ours.len() as f64;
    // Without a published sd (initial metrics), assume the published spread equals ours.
    let their_sd = published_sd.unwrap_or(sd);
    let se = (sd * sd / n + their_sd * their_sd / n).sqrt();
    let z = (m - published_mean) / se;
    println!("{what}: ours {m:.4} ± {sd:.4}, published {published_mean:.4}, z = {z:.2}");
    if z.abs() > 3.0 {
        failures.push(format!(
            "{what}: ours {m:.4}, published {published_mean:.4}, z = {z:.2}"
        ));
    }
}

#[test]
fn chain_agrees_with_the_published_runs() {
    let published = summary();
    let mut failures = Vec::new();
    for eta in imprl::published::ETAS {
        for offset in [0.0, 0.5, 1.0] {
            // Initial metrics do not depend on lr or parameterization (same init per seed).
            let lr = best_lr(DomainKind::Chain, ParamKind::Explicit, eta);
            let p = published[&(
                "explicit".to_string(),
                key_num(eta),
                key_num(lr),
                key_num(offset),
            )];
            let init = runs(ParamKind::Explicit, eta, lr, offset, 0);
            let ones: Vec<f64> = init.iter().map(|r| r.0).collect();
            let ortho: Vec<f64> = init.iter().map(|r| r.1).collect();
            check(
                &format!("η={eta} c={offset} initial r∥"),
                &ones,
                p.init_ones,
                None,
                &mut failures,
            );
            check(
                &format!("η={eta} c={offset} initial ‖r⊥‖"),
                &ortho,
                p.init_ortho,
                None,
                &mut failures,
            );
        }
    }
    let eta = 0.95;
    for param in [ParamKind::Explicit, ParamKind::Implicit] {
        let lr = best_lr(DomainKind::Chain, param, eta);
        for offset in [0.0, 0.5, 1.0] {
            let p = published[&(
                param.name().to_string(),
                key_num(eta),
                key_num(lr),
                key_num(offset),
            )];
            let fin: Vec<f64> = runs(param, eta, lr, offset, 300)
                .iter()
                .map(|r| r.2)
                .collect();
            check(
                &format!("{param} η={eta} lr={lr} c={offset} final ‖r‖"),
                &fin,
                p.final_norm,
                Some(p.final_norm_std),
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "outside 3 combined standard errors:\n{}",
        failures.join("\n")
    );
}
