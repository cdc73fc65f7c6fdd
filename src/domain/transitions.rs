//! Transitions of a data set (SPEC §9.4): `DIR/transitions.csv` with the discount in
//! `DIR/meta.toml`, so that `td:N` (and `mc`) targets can be built on a `data:` domain.
//!
//! One row per step: `episode, step, x0 … x{k−1}, reward, next_x0 … next_x{k−1}, done`; the
//! rows of an episode are consecutive with steps `0, 1, 2, …`, and a row's next-state features
//! are the next row's state features (the state after the episode's last row is only a next
//! state). `done` (0 or 1) marks a next state that is a true termination: its bootstrap is
//! dropped (SPEC §8.5); a cut episode ends without it. An `n`-step row is built by
//! [`push_td_rows`] exactly as the domains build theirs, so a directory written by
//! `imprl dataset` runs as its domain bit for bit; `mc` rows are the truncated discounted
//! returns of the episode's remaining rows (every row kept).

use super::csv_rows;
use super::error::OwnError;
use super::tabular::discounted_returns_into;
use super::targets::{push_td_rows, Targets};
use crate::data::Dataset;

/// The stored transitions of a data set, episode by episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    /// Feature dimension `k`.
    pub k: usize,
    /// The episodes, in file order.
    pub episodes: Vec<Episode>,
}

/// One episode: `T` steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Episode {
    /// Its id in the file.
    pub id: i64,
    /// Features of `s_0 … s_T`, row-major, `(T + 1) × k` (`s_T` is the last next state).
    pub x: Vec<f64>,
    /// Rewards `r_0 … r_{T−1}`.
    pub rewards: Vec<f64>,
    /// `done[t]`: `s_{t+1}` is a true termination.
    pub done: Vec<bool>,
}

impl Transitions {
    /// The transitions of TD(0) training data (`targets = td:1`, as a domain builds them with
    /// [`push_td_rows`]): each row's reward part is its reward, its bootstrap row the next
    /// state and a zero discount a termination. Episodes are told apart by their bootstrap
    /// rows (each episode appends its `T + 1` states, so a new episode's first bootstrap index
    /// skips one). `None` for data without a bootstrap part.
    pub fn from_td1(train: &Dataset) -> Option<Transitions> {
        let b = train.bootstrap.as_ref()?;
        let k = train.k;
        let mut episodes: Vec<Episode> = Vec::new();
        for i in 0..train.len() {
            let next = b.next[i];
            let continues = i > 0 && next == b.next[i - 1] + 1;
            if !continues {
                let id = episodes.len() as i64;
                episodes.push(Episode {
                    id,
                    ..Episode::default()
                });
            }
            let e = episodes.last_mut()?;
            if !continues {
                e.x.extend_from_slice(train.row(i));
            }
            e.x.extend_from_slice(&b.x[next * k..(next + 1) * k]);
            e.rewards.push(train.y[i]);
            e.done.push(b.discount[i] == 0.0);
        }
        Some(Transitions { k, episodes })
    }

    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.episodes.iter().map(|e| e.rewards.len()).sum()
    }

    /// True without transitions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Training rows for `targets` with discount `gamma`: `td:N` rows by [`push_td_rows`]
    /// (bootstrap dropped at `done`, kept at a cut), `mc` rows the truncated discounted returns
    /// of every row.
    pub fn training(&self, targets: Targets, gamma: f64) -> Dataset {
        let k = self.k;
        match targets {
            Targets::Mc => {
                let mut d = Dataset::new(k);
                let mut g = Vec::new();
                for e in &self.episodes {
                    g.resize(e.rewards.len(), 0.0);
                    discounted_returns_into(&e.rewards, gamma, &mut g);
                    for (t, &y) in g.iter().enumerate() {
                        d.push(&e.x[t * k..(t + 1) * k], y);
                    }
                }
                d
            }
            Targets::Td(n) => {
                let mut d = Dataset::new(k).with_bootstrap();
                let mut term = Vec::new();
                for e in &self.episodes {
                    term.clear();
                    term.push(false);
                    term.extend_from_slice(&e.done);
                    push_td_rows(&mut d, &e.x, &e.rewards, &term, gamma, n);
                }
                d
            }
        }
    }

    /// The CSV text (header `episode, step, x0…, reward, next_x0…, done`; numbers in their
    /// shortest exact form, so reading them back gives the same bits).
    pub fn write_csv(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut w = csv::Writer::from_path(path)?;
        w.write_record(header(self.k))?;
        let k = self.k;
        let mut rec: Vec<String> = Vec::with_capacity(2 * k + 4);
        for e in &self.episodes {
            for t in 0..e.rewards.len() {
                rec.clear();
                rec.push(e.id.to_string());
                rec.push(t.to_string());
                rec.extend(e.x[t * k..(t + 1) * k].iter().map(f64::to_string));
                rec.push(e.rewards[t].to_string());
                rec.extend(e.x[(t + 1) * k..(t + 2) * k].iter().map(f64::to_string));
                rec.push(u8::from(e.done[t]).to_string());
                w.write_record(&rec)?;
            }
        }
        w.flush()
    }

    /// Reads `transitions.csv` (its bytes; `path` names it in errors), checking the header,
    /// every number, the episodes' step order and that each next state is the next row's
    /// state; errors name the line and column.
    pub fn read_csv(path: &str, bytes: &[u8]) -> Result<Transitions, OwnError> {
        let err = |m: String| OwnError::new(path, m);
        let mut r = csv_rows::reader(bytes);
        let head: Vec<String> = r
            .headers()
            .map_err(|e| err(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let cols = head.len();
        if cols < 6 || cols % 2 != 0 || head != header((cols - 4) / 2) {
            return Err(err(
                "header: expected episode, step, x0, …, x{k-1}, reward, next_x0, …, next_x{k-1}, done (k >= 1)"
                    .into(),
            ));
        }
        let k = (cols - 4) / 2;
        let mut out = Transitions {
            k,
            episodes: Vec::new(),
        };
        let mut row = Vec::with_capacity(cols);
        for rec in csv_rows::rows(&mut r, cols, &err) {
            let (line, rec) = rec?;
            let id: i64 = rec[0].parse().map_err(|_| {
                err(format!(
                    "line {line}, column episode: `{}` is not an integer",
                    &rec[0]
                ))
            })?;
            let step: usize = rec[1].parse().map_err(|_| {
                err(format!(
                    "line {line}, column step: `{}` is not an integer >= 0",
                    &rec[1]
                ))
            })?;
            let done = match &rec[cols - 1] {
                "0" | "false" => false,
                "1" | "true" => true,
                other => {
                    return Err(err(format!(
                        "line {line}, column done: `{other}` is not 0 or 1"
                    )))
                }
            };
            row.clear();
            for (j, f) in rec.iter().enumerate().take(cols - 1).skip(2) {
                row.push(csv_rows::number(f, line, &head[j], &err)?);
            }
            let (x, rest) = row.split_at(k);
            let (reward, next) = (rest[0], &rest[1..]);
            let same = out.episodes.last().is_some_and(|e| e.id == id);
            if !same {
                if out.episodes.iter().any(|e| e.id == id) {
                    return Err(err(format!(
                        "line {line}: episode {id} continues after another episode (its rows must be consecutive)"
                    )));
                }
                if step != 0 {
                    return Err(err(format!(
                        "line {line}: episode {id} starts at step {step}, not 0"
                    )));
                }
                out.episodes.push(Episode {
                    id,
                    x: x.to_vec(),
                    ..Episode::default()
                });
            }
            let e = out
                .episodes
                .last_mut()
                .ok_or_else(|| err("no episode".into()))?;
            if same {
                let t = e.rewards.len();
                if step != t {
                    return Err(err(format!(
                        "line {line}: episode {id} has step {step} after step {}, not {t}",
                        t - 1
                    )));
                }
                if e.x[t * k..(t + 1) * k] != *x {
                    return Err(err(format!(
                        "line {line}: the state features differ from the next-state features of step {} of episode {id}",
                        t - 1
                    )));
                }
            }
            e.x.extend_from_slice(next);
            e.rewards.push(reward);
            e.done.push(done);
        }
        if out.is_empty() {
            return Err(err("no data rows".into()));
        }
        Ok(out)
    }
}

/// The header of a transitions file of `k` features.
fn header(k: usize) -> Vec<String> {
    let mut h = vec!["episode".to_string(), "step".to_string()];
    h.extend((0..k).map(|j| format!("x{j}")));
    h.push("reward".into());
    h.extend((0..k).map(|j| format!("next_x{j}")));
    h.push("done".into());
    h
}
