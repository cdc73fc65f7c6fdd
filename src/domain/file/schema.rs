//! Reading and validating the TOML schema of a finite MDP (SPEC §8.6). Every inconsistency is
//! one line naming the entry, e.g. `transitions[3][1]: probabilities sum to 0.97, not 1`.

use toml::Value;

/// Probability rows must sum to 1 within this.
pub const SUM_TOL: f64 = 1e-9;

/// An error message naming the entry.
pub type Msg = String;

/// `v` as a finite, non-negative (when `nonneg`) number, else an error naming `at`.
pub fn number(v: &Value, at: &str, nonneg: bool) -> Result<f64, Msg> {
    let x = match v {
        Value::Float(x) => *x,
        Value::Integer(i) => *i as f64,
        other => {
            return Err(format!(
                "{at}: expected a number, found {}",
                other.type_str()
            ))
        }
    };
    if !x.is_finite() {
        return Err(format!("{at}: {x} is not a finite number"));
    }
    if nonneg && x < 0.0 {
        return Err(format!("{at}: {x} is negative"));
    }
    Ok(x)
}

/// `v` as an integer in `lo..=hi`.
pub fn integer(v: &Value, at: &str, lo: i64, hi: i64) -> Result<usize, Msg> {
    match v {
        Value::Integer(i) if (lo..=hi).contains(i) => Ok(*i as usize),
        Value::Integer(i) => Err(format!("{at}: {i} is out of range ({lo} to {hi})")),
        other => Err(format!(
            "{at}: expected an integer, found {}",
            other.type_str()
        )),
    }
}

/// `v` as an array of exactly `len` entries (`what` names them in the message).
pub fn array<'a>(v: &'a Value, at: &str, len: usize, what: &str) -> Result<&'a [Value], Msg> {
    match v {
        Value::Array(a) if a.len() == len => Ok(a),
        Value::Array(a) => Err(format!("{at}: {} entries, not {len} ({what})", a.len())),
        other => Err(format!(
            "{at}: expected an array, found {}",
            other.type_str()
        )),
    }
}

/// A vector of `len` numbers.
pub fn vector(v: &Value, at: &str, len: usize, what: &str, nonneg: bool) -> Result<Vec<f64>, Msg> {
    array(v, at, len, what)?
        .iter()
        .enumerate()
        .map(|(i, x)| number(x, &format!("{at}[{i}]"), nonneg))
        .collect()
}

/// A probability vector of `len` entries: non-negative, summing to 1 within [`SUM_TOL`].
pub fn probabilities(v: &Value, at: &str, len: usize, what: &str) -> Result<Vec<f64>, Msg> {
    let p = vector(v, at, len, what, true)?;
    check_sum(&p, at)?;
    Ok(p)
}

/// Checks that `p` sums to 1 within [`SUM_TOL`].
pub fn check_sum(p: &[f64], at: &str) -> Result<(), Msg> {
    let total: f64 = p.iter().sum();
    if (total - 1.0).abs() > SUM_TOL {
        return Err(format!("{at}: probabilities sum to {total}, not 1"));
    }
    Ok(())
}

/// An `rows × cols` matrix (row-major) of numbers.
pub fn matrix(
    v: &Value,
    at: &str,
    rows: usize,
    cols: usize,
    row_what: &str,
    col_what: &str,
) -> Result<Vec<f64>, Msg> {
    let list = array(v, at, rows, row_what)?;
    let mut out = Vec::with_capacity(rows * cols);
    for (i, row) in list.iter().enumerate() {
        out.extend(vector(row, &format!("{at}[{i}]"), cols, col_what, false)?);
    }
    Ok(out)
}

/// The successors of every `(s, a)`, row `s·m + a`: the states of positive probability in
/// increasing order with their probabilities.
pub type Successors = Vec<Vec<(usize, f64)>>;

/// Rewards per transition `r(s, a, s')`, row `s·m + a`: those of the row's successors, in their
/// order ([`Successors`]).
pub type SuccessorRewards = Vec<Vec<f64>>;

/// Transitions, dense (`[s][a]` → `n` probabilities) or sparse (`[{ s, a, next, p }, …]`),
/// kept sparse: the successors of every `(s, a)` (positive probabilities only, by increasing
/// next state), every row a probability vector. Memory is proportional to the file, never to
/// `n·m·n`: a sparse file of many states stays small. Sparse entries may each carry a reward
/// `r = r(s, a, next)` (all of them or none): then the second value holds, row by row, the
/// rewards of the successors kept, in their order.
pub fn transitions(
    v: &Value,
    n: usize,
    m: usize,
) -> Result<(Successors, Option<SuccessorRewards>), Msg> {
    let at = "transitions";
    let entries = match v {
        Value::Array(a) => a,
        other => {
            return Err(format!(
                "{at}: expected an array, found {}",
                other.type_str()
            ))
        }
    };
    // (next, p, r) per row; r is 0 without rewards per transition.
    let mut rows: Vec<Vec<(usize, f64, f64)>>;
    let mut with_r = false;
    if entries.first().is_some_and(Value::is_table) {
        rows = vec![Vec::new(); n * m];
        let mut seen = std::collections::HashSet::new();
        with_r = entries[0].as_table().is_some_and(|t| t.contains_key("r"));
        for (i, e) in entries.iter().enumerate() {
            let here = format!("{at}[{i}]");
            let t = e
                .as_table()
                .ok_or_else(|| format!("{here}: expected a table {{ s, a, next, p }}"))?;
            if let Some(k) = t
                .keys()
                .find(|k| !["s", "a", "next", "p", "r"].contains(&k.as_str()))
            {
                return Err(format!(
                    "{here}: unknown key `{k}` (allowed: s, a, next, p, r)"
                ));
            }
            let get = |k: &str| t.get(k).ok_or_else(|| format!("{here}: missing `{k}`"));
            let s = index(get("s")?, &format!("{here}.s"), n, "states")?;
            let a = index(get("a")?, &format!("{here}.a"), m, "actions")?;
            let next = index(get("next")?, &format!("{here}.next"), n, "states")?;
            let q = number(get("p")?, &format!("{here}.p"), true)?;
            if !seen.insert((s, a, next)) {
                return Err(format!(
                    "{here}: (s = {s}, a = {a}, next = {next}) is given twice"
                ));
            }
            let r = match (with_r, t.get("r")) {
                (true, Some(r)) => number(r, &format!("{here}.r"), false)?,
                (true, None) => {
                    return Err(format!(
                        "{here}: missing `r` (transitions[0] gives a reward per transition, so every entry must)"
                    ))
                }
                (false, Some(_)) => {
                    return Err(format!(
                        "{here}: unexpected `r` (transitions[0] has none: give a reward in every entry or in none)"
                    ))
                }
                (false, None) => 0.0,
            };
            rows[s * m + a].push((next, q, r));
        }
        for row in &mut rows {
            row.sort_by_key(|&(next, _, _)| next);
        }
    } else {
        array(v, at, n, "states")?;
        rows = Vec::with_capacity(n * m);
        for (s, row) in entries.iter().enumerate() {
            let here = format!("{at}[{s}]");
            for (a, probs) in array(row, &here, m, "actions")?.iter().enumerate() {
                let q = vector(probs, &format!("{here}[{a}]"), n, "states", true)?;
                rows.push(
                    q.into_iter()
                        .enumerate()
                        .map(|(j, q)| (j, q, 0.0))
                        .collect(),
                );
            }
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        // The sum over the row in the order of its states (zeros add nothing).
        let total: f64 = row.iter().map(|&(_, q, _)| q).sum();
        if (total - 1.0).abs() > SUM_TOL {
            return Err(format!(
                "{at}[{}][{}]: probabilities sum to {total}, not 1",
                i / m,
                i % m
            ));
        }
        row.retain(|&(_, q, _)| q > 0.0);
    }
    let rewards = with_r.then(|| {
        rows.iter()
            .map(|row| row.iter().map(|&(_, _, r)| r).collect())
            .collect()
    });
    let successors = rows
        .into_iter()
        .map(|row| row.into_iter().map(|(j, q, _)| (j, q)).collect())
        .collect();
    Ok((successors, rewards))
}

/// The `rewards` entry: `r(s, a)` as `[s][a]` (`n × m`) or `r(s, a, s')` as `[s][a][s']`
/// (`n × m × n`, told apart by the depth of `rewards[0][0]`; its numbers are in the file);
/// row-major, with `true` for the per-transition form.
pub fn rewards(v: &Value, n: usize, m: usize) -> Result<(Vec<f64>, bool), Msg> {
    let at = "rewards";
    let per_transition = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .is_some_and(Value::is_array);
    if !per_transition {
        return Ok((matrix(v, at, n, m, "states", "actions")?, false));
    }
    let mut out = Vec::new();
    for (s, row) in array(v, at, n, "states")?.iter().enumerate() {
        let here = format!("{at}[{s}]");
        for (a, r) in array(row, &here, m, "actions")?.iter().enumerate() {
            out.extend(vector(r, &format!("{here}[{a}]"), n, "states", false)?);
        }
    }
    Ok((out, true))
}

/// An index into `0..len` (`what` names the range).
pub fn index(v: &Value, at: &str, len: usize, what: &str) -> Result<usize, Msg> {
    match v {
        Value::Integer(i) if *i >= 0 && (*i as u64) < len as u64 => Ok(*i as usize),
        Value::Integer(i) => Err(format!("{at}: {i} is out of range ({len} {what})")),
        other => Err(format!(
            "{at}: expected an integer, found {}",
            other.type_str()
        )),
    }
}
