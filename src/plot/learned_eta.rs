//! The learned discount over training (SPEC §8.2): mean learned `η` against the update step, one
//! line per starting `η₀`, one panel per domain, with the best fixed `η` of the same records
//! marked.

use super::aggregate::{stat_fields, Table};
use super::{domain_title, stat_points, FigureData};
use crate::domain::DomainKind;
use crate::figure::{number_label, Figure, Panel, Point, Series, Spread, BLACK, OKABE_ITO};
use crate::param::ParamKind;
use crate::record::RunRecord;
use crate::stats::{per_timestep, ConfigKey, Stat};

/// File stem of the figure.
pub const LEARNED_ETA_FIGURE: &str = "learned_eta";

/// True when the run learned its discount (its evaluations carry `η`).
pub fn learns_eta(r: &RunRecord) -> bool {
    r.rows.iter().any(|x| x.eta.is_some())
}

/// The best fixed `η` of `domain` among `records`: the implicit configuration with a fixed `η`
/// (at one of `offsets`) whose mean final `‖r‖` over its finished seeds is the lowest; with that
/// mean. `None` without such runs.
pub fn best_fixed_eta(
    records: &[RunRecord],
    domain: DomainKind,
    offsets: &[f64],
) -> Option<(f64, f64)> {
    let mut by_key: Vec<(ConfigKey, Vec<f64>)> = Vec::new();
    for r in records.iter().filter(|r| {
        r.config.domain == domain
            && r.config.param == ParamKind::Implicit
            && !learns_eta(r)
            && offsets.contains(&r.config.offset)
    }) {
        let Some(last) = r.final_row() else { continue };
        let key = ConfigKey::of(&r.config);
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(last.residual_norm),
            None => by_key.push((key, vec![last.residual_norm])),
        }
    }
    by_key
        .into_iter()
        .map(|(k, v)| (k.eta, Stat::of(&v).mean))
        .filter(|(_, m)| m.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// The figure of the learned `η` over training, when some record learned it: per domain, the
/// mean ± sd over seeds of the learned `η` at each evaluation, one line per configuration
/// (labelled by its `η₀`, and by its other settings where runs of several are present), and a
/// dashed line at the best fixed `η` ([`best_fixed_eta`]) when the records hold fixed-`η`
/// implicit runs of the domain. Its table has one row per line and evaluation, and one
/// `best fixed` row per domain.
pub fn learned_eta_figure(records: &[RunRecord]) -> Option<FigureData> {
    let learned: Vec<&RunRecord> = records.iter().filter(|r| learns_eta(r)).collect();
    if learned.is_empty() {
        return None;
    }
    let mut table = Table::new(&[
        "domain", "series", "eta0", "lr", "offset", "timestep", "n", "mean", "sd",
    ]);
    let mut panels = Vec::new();
    for d in DomainKind::ALL {
        let mine: Vec<&RunRecord> = learned
            .iter()
            .copied()
            .filter(|r| r.config.domain == d)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut keys: Vec<ConfigKey> = mine.iter().map(|r| ConfigKey::of(&r.config)).collect();
        keys.sort();
        keys.dedup();
        let several_protocols = keys.iter().any(|k| k.protocol != keys[0].protocol);
        let mut series = Vec::new();
        let mut last_step = 0usize;
        for (i, key) in keys.iter().enumerate() {
            let runs: Vec<&RunRecord> = mine
                .iter()
                .copied()
                .filter(|r| ConfigKey::of(&r.config) == *key)
                .collect();
            let mut label = format!("η₀ = {}", number_label(key.eta));
            if several_protocols {
                label.push_str(&format!(" ({})", key.protocol_differences().join(" ")));
            }
            let mut pts = Vec::new();
            for (t, s) in per_timestep(&runs, |x| x.eta) {
                let mut row = vec![
                    d.name().to_string(),
                    label.clone(),
                    key.eta.to_string(),
                    key.lr.to_string(),
                    key.offset.to_string(),
                    t.to_string(),
                ];
                row.extend(stat_fields(&s));
                table.rows.push(row);
                pts.push((t as f64, s));
                last_step = last_step.max(t);
            }
            series.push(Series {
                markers: false,
                spread: Spread::Band,
                ..Series::line(label, OKABE_ITO[i % OKABE_ITO.len()], stat_points(&pts))
            });
        }
        let mut offsets: Vec<f64> = mine.iter().map(|r| r.config.offset).collect();
        offsets.sort_by(f64::total_cmp);
        offsets.dedup();
        if let Some((eta, norm)) = best_fixed_eta(records, d, &offsets) {
            table.rows.push(vec![
                d.name().to_string(),
                "best fixed".into(),
                eta.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                eta.to_string(),
                norm.to_string(),
            ]);
            series.push(Series {
                dashed: true,
                markers: false,
                ..Series::line(
                    format!("best fixed η = {}", number_label(eta)),
                    BLACK,
                    vec![Point::at(0.0, eta), Point::at(last_step as f64, eta)],
                )
            });
        }
        panels.push(Panel {
            title: domain_title(d).to_string(),
            x_label: "update".into(),
            y_label: "learned η (mean ± sd over seeds)".into(),
            series,
            ..Panel::default()
        });
    }
    let mut figure = Figure::new("Learned discount η over training", panels);
    figure.notes = vec![
        "lines: η = σ(ρ) learned from η₀".into(),
        "dashed: the fixed η with the lowest".into(),
        "mean final ‖r‖ of the store".into(),
    ];
    Some(FigureData {
        name: LEARNED_ETA_FIGURE.into(),
        figure,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::metrics::EvalRow;
    use crate::train::Outcome;

    fn rec(eta: f64, seed: u64, final_norm: f64, learned: Option<f64>) -> RunRecord {
        let config = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            eta: Some(eta),
            seed: Some(seed),
            ..RunSettings::default()
        }
        .resolve()
        .expect("valid");
        let row = |t: usize, x: f64, e: Option<f64>| EvalRow {
            eta: e,
            ..EvalRow::from_residuals(t, &[x])
        };
        RunRecord {
            theta: None,
            config,
            outcome: Outcome::Finished,
            runtime_s: 0.0,
            rows: vec![
                row(0, 10.0, learned.map(|_| eta)),
                row(300, final_norm, learned),
            ],
        }
    }

    #[test]
    fn best_fixed_eta_is_the_lowest_mean_final_norm() {
        let records = vec![
            rec(0.8, 0, 3.0, None),
            rec(0.8, 1, 5.0, None),
            rec(0.9, 0, 2.0, None),
            rec(0.9, 1, 4.5, None),
            rec(0.95, 0, 1.0, Some(0.5)),
        ];
        // 0.9: mean 3.25 < 0.8: mean 4; the learned run does not count.
        assert_eq!(
            best_fixed_eta(&records, DomainKind::Chain, &[0.0]),
            Some((0.9, 3.25))
        );
        assert_eq!(best_fixed_eta(&records, DomainKind::Chain, &[0.5]), None);
        let fig = learned_eta_figure(&records).expect("a learned run");
        assert_eq!(fig.figure.panels.len(), 1);
        let series = &fig.figure.panels[0].series;
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points[1].y, 0.5);
        assert!(series[1].dashed && series[1].points.iter().all(|p| p.y == 0.9));
        assert!(learned_eta_figure(&records[..4]).is_none());
    }
}
