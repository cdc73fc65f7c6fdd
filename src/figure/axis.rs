//! Axes: a linear axis with given ticks, round tick values, `log10` ticks and number labels.

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// A linear `f64` axis whose ticks are exactly the given positions.
pub(super) struct TickAxis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for TickAxis {
    fn format(v: &f64) -> String {
        number_label(*v)
    }
}

/// About `n` round tick values (steps of 1, 2 or 5 × 10ᵏ) covering `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks of a `log10` axis over `[lo, hi]` (in `log10` units).
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi - lo >= 1.5 {
        let every = ((hi - lo) / 6.0).ceil().max(1.0);
        let first = (lo / every).ceil() as i64;
        let last = (hi / every).floor() as i64;
        (first..=last).map(|k| k as f64 * every).collect()
    } else {
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        nice_ticks(a, b, 5)
            .into_iter()
            .filter(|&v| v > 0.0)
            .map(f64::log10)
            .collect()
    }
}

/// A title font size (at most 22 px) that fits `width` pixels.
pub(super) fn title_size(title: &str, width: u32) -> f64 {
    let chars = title.chars().count().max(1) as f64;
    (f64::from(width.saturating_sub(24)) / (0.56 * chars)).clamp(12.0, 22.0)
}

/// A value in axis units: `log10 v` on a log axis (`NaN` for `v ≤ 0`), else `v`.
pub(super) fn to_axis(log: bool, v: f64) -> f64 {
    if !log {
        v
    } else if v > 0.0 {
        v.log10()
    } else {
        f64::NAN
    }
}

/// A compact number label: 3 significant digits.
pub fn number_label(v: f64) -> String {
    label_with(v, 3)
}

/// A number label with `sig` significant digits (trailing zeros dropped).
fn label_with(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let p = sig.saturating_sub(2).max(1);
        return format!("{v:.p$e}");
    }
    let digits = (sig as i32 - 1 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The labels of an axis's `ticks`: [`number_label`]'s 3 significant digits, or as many more
/// (up to 15) as make the labels of distinct ticks distinct.
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let mut sig = 3;
    loop {
        let labels: Vec<String> = ticks.iter().map(|&t| label_with(t, sig)).collect();
        let clash = labels.iter().enumerate().any(|(i, l)| {
            labels[..i]
                .iter()
                .zip(ticks)
                .any(|(m, t)| m == l && *t != ticks[i])
        });
        if !clash || sig >= 15 {
            return labels;
        }
        sig += 1;
    }
}

/// `[lo, hi]` widened by `frac` of its span on each side (a point gets ±10%, or ±1 at 0);
/// `[0, 1]` when either end is not finite.
pub(super) fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 0.0 {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    } else {
        (lo - frac * span, hi + frac * span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_labels() {
        assert_eq!(nice_ticks(0.0, 300.0, 5), vec![0.0, 100.0, 200.0, 300.0]);
        assert_eq!(log_ticks(-1.0, 11.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(number_label(0.975), "0.975");
        assert_eq!(number_label(12.345), "12.3");
        assert_eq!(number_label(1e135), "1.0e135");
        // Ticks close together get the digits that tell them apart.
        assert_eq!(
            tick_labels(&[3.785, 3.79, 3.795, 3.8]),
            ["3.785", "3.79", "3.795", "3.8"]
        );
        assert_eq!(tick_labels(&[0.0, 0.5, 1.0]), ["0", "0.5", "1"]);
        assert_eq!(
            tick_labels(&[1.0e6, 1.5e6, 2.0e6]),
            ["1.0e6", "1.5e6", "2.0e6"]
        );
        assert!(to_axis(true, 0.0).is_nan());
        assert_eq!(padded(2.0, 2.0, 0.1), (1.8, 2.2));
    }
}
