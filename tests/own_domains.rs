//! Problems of one's own (SPEC §8.6) and TD targets (§8.5): the chain written as a file runs
//! as the chain, TD on a file MDP, every validation error of the file format, `data:` round
//! trips and a data set with a known linear solution.

mod common;

use common::{imprl, sweep, write, CYCLE};
use imprl::config::{RunConfig, RunSettings};
use imprl::domain::data_dir::DataDir;
use imprl::domain::file::FileMdp;
use imprl::domain::{DomainKind, Targets};
use imprl::param::ParamKind;
use imprl::train::Silent;
use std::path::Path;

fn cfg(domain: &str, param: ParamKind, f: impl FnOnce(&mut RunSettings)) -> RunConfig {
    let mut s = RunSettings::default();
    s.set("domain", imprl::config::Raw::Text(domain))
        .expect("domain");
    s.param = Some(param);
    f(&mut s);
    s.resolve().expect("valid settings")
}

fn log(c: &RunConfig) -> Vec<imprl::metrics::EvalRow> {
    imprl::run::run(c, &mut Silent).expect("run").log.rows
}

fn chain_file() -> String {
    format!("file:{}/examples/chain.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn chain_file_runs_as_the_chain_bit_for_bit() {
    for param in [
        ParamKind::Explicit,
        ParamKind::Implicit,
        ParamKind::ExplicitMatrix,
    ] {
        for targets in [Targets::Mc, Targets::Td(1), Targets::Td(3)] {
            for (offset, seed) in [(0.0, 0), (0.7, 4)] {
                // Own problems have their own default rate (from the data): give the chain's.
                let lr = imprl::published::best_lr(DomainKind::Chain, param, 0.95);
                let set = |s: &mut RunSettings| {
                    s.targets = Some(targets);
                    s.offset = Some(offset);
                    s.seed = Some(seed);
                    s.lr = Some(lr);
                };
                let a = log(&cfg("chain", param, set));
                let b = log(&cfg(&chain_file(), param, set));
                assert_eq!(a, b, "{param:?} {targets:?} offset {offset}");
            }
        }
    }
    // And through the command line: the same bytes.
    let run = |d: &str| {
        imprl()
            .args([
                "run", "--param", "implicit", "--offset", "1", "--lr", "0.015625", "--domain", d,
            ])
            .output()
            .expect("run")
            .stdout
    };
    assert_eq!(run("chain"), run(&chain_file()));
}

#[test]
fn td0_on_a_deterministic_cycle_converges_to_the_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "cycle.toml", CYCLE);
    let name = format!("file:{}", f.display());
    let m = FileMdp::load(&f.display().to_string()).unwrap().0;
    assert_eq!(m.exact_values(0.5), vec![3.0, 3.0, 3.0]);
    for param in [ParamKind::Explicit, ParamKind::Implicit] {
        let c = cfg(&name, param, |s| {
            s.targets = Some(Targets::Td(1));
            s.offset = Some(0.5);
            s.steps = Some(4000);
            s.eval_every = Some(4000);
            s.eta = Some(0.5);
            s.lr = Some(0.2);
        });
        let rows = log(&c);
        let last = rows.last().unwrap();
        assert_eq!(last.timestep, 4000);
        assert!(
            last.residual_norm < 1e-8,
            "{param:?}: final ‖r‖ = {}",
            last.residual_norm
        );
        assert!(rows[0].residual_norm > 1.0);
    }
}

/// A line 0 → 1 → 2 (terminal), rewards 1 and 2, start in 0.
const LINE: &str = "gamma = 0.5
states = 3
actions = 1
transitions = [{ s = 0, a = 0, next = 1, p = 1.0 }, { s = 1, a = 0, next = 2, p = 1.0 }, { s = 2, a = 0, next = 2, p = 1.0 }]
rewards = [[1.0], [2.0], [0.0]]
policy = [[1.0], [1.0], [1.0]]
start = [1.0, 0.0, 0.0]
terminal = [2]
[data]
trajectories = 1
length = LEN
";

#[test]
fn n_step_targets_on_a_file_mdp_with_termination_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let theta = [10.0, 20.0, 30.0];
    let problem = |len: usize, n: usize, i: usize| {
        let f = write(
            dir.path(),
            &format!("line{len}.toml"),
            &LINE.replace("LEN", &len.to_string()),
        );
        let d = DomainKind::from_name(&format!("file:{}", f.display())).unwrap();
        let mut spec = imprl::domain::DomainSpec::published(d);
        spec.targets = Targets::Td(n);
        let p = spec.problem(0.0, 0);
        p.train.target(i, &theta)
    };
    // Terminated after two steps: TD(0) bootstraps from state 1, not from the terminal.
    assert_eq!(problem(5, 1, 0), 1.0 + 0.5 * 20.0);
    assert_eq!(problem(5, 1, 1), 2.0);
    // Two-step target from state 0 reaches the terminal: the return alone.
    assert_eq!(problem(5, 2, 0), 1.0 + 0.5 * 2.0);
    // Cut after one step: the bootstrap from state 1 is kept.
    assert_eq!(problem(1, 3, 0), 1.0 + 0.5 * 20.0);
    // Exact values hold the terminal at 0 (it is not in the test set).
    let f = write(dir.path(), "l.toml", &LINE.replace("LEN", "5"));
    let m = FileMdp::load(&f.display().to_string()).unwrap().0;
    assert_eq!(m.exact_values(1.0), vec![2.0 + 0.5 * 3.0, 3.0, 0.0]);
}

const GOOD: &str = "gamma = 0.9
states = 2
actions = 2
transitions = [[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.25, 0.75]]]
rewards = [[0.0, 1.0], [2.0, 0.0]]
policy = [[0.5, 0.5], [1.0, 0.0]]
";

#[test]
fn every_file_inconsistency_is_refused_with_the_entry_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("gamma = 0.9", "gamma = 1.0", "gamma: 1 is outside [0, 1)"),
        ("gamma = 0.9", "gamma = 0.9\nfoo = 1", "unknown key `foo`"),
        (
            "[[0.5, 0.5], [0.0, 1.0]]",
            "[[0.5, 0.47], [0.0, 1.0]]",
            "transitions[0][0]: probabilities sum to 0.97, not 1",
        ),
        (
            "[0.25, 0.75]",
            "[1.25, -0.25]",
            "transitions[1][1][1]: -0.25 is negative",
        ),
        (
            "[0.25, 0.75]]",
            "[0.25, 0.75, 0.0]]",
            "transitions[1][1]: 3 entries, not 2 (states)",
        ),
        (
            "[2.0, 0.0]]",
            "[2.0]]",
            "rewards[1]: 1 entries, not 2 (actions)",
        ),
        (
            "[2.0, 0.0]]",
            "[2.0, nan]]",
            "rewards[1][1]: NaN is not a finite number",
        ),
        (
            "[1.0, 0.0]]\n",
            "[0.9, 0.0]]\n",
            "policy[1]: probabilities sum to 0.9, not 1",
        ),
        (
            "actions = 2",
            "actions = 2\nterminal = [2]",
            "terminal[0]: 2 is out of range (2 states)",
        ),
        (
            "actions = 2",
            "actions = 2\nstart = [0.5, 0.25]",
            "start: probabilities sum to 0.75, not 1",
        ),
        (
            "actions = 2",
            "actions = 2\nstart = [1.0, 0.0, 0.0]",
            "start: 3 entries, not 2 (states)",
        ),
        ("states = 2", "states = 0", "states: 0 is out of range"),
        (
            "actions = 2",
            "actions = 2\nfeatures = [[1.0], [1.0, 2.0]]",
            "features[1]: 2 entries, not 1 (features)",
        ),
        (
            "[1.0, 0.0]]\n",
            "[1.0, 0.0]]\n[data]\nkeep = 'some'\n",
            "data.keep: \"some\" is not \"first\" or \"all\"",
        ),
        (
            "[1.0, 0.0]]\n",
            "[1.0, 0.0]]\n[data]\nsteps = 3\n",
            "data: unknown key `steps`",
        ),
        ("gamma = 0.9\n", "", "missing key `gamma`"),
    ];
    for (i, (from, to, message)) in cases.iter().enumerate() {
        assert!(GOOD.contains(from), "case {i}: {from}");
        let text = GOOD.replacen(from, to, 1);
        let table: toml::Table = text.parse().expect("toml");
        let err = FileMdp::from_table(&table).expect_err(message);
        assert!(
            err.starts_with(message),
            "case {i}: got `{err}`, want `{message}`"
        );
        // Through the command line: one line naming the file and the entry, exit code 2.
        let f = write(dir.path(), &format!("bad{i}.toml"), &text);
        let out = imprl()
            .args(["run", "--param", "explicit", "--domain"])
            .arg(format!("file:{}", f.display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(message), "case {i}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // Sparse entries: out of range and repeated.
    let sparse = |entries: &str| {
        GOOD.replacen(
            "transitions = [[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.25, 0.75]]]",
            &format!("transitions = [{entries}]"),
            1,
        )
    };
    let t: toml::Table = sparse("{ s = 0, a = 0, next = 5, p = 1.0 }")
        .parse()
        .unwrap();
    assert_eq!(
        FileMdp::from_table(&t).unwrap_err(),
        "transitions[0].next: 5 is out of range (2 states)"
    );
    let t: toml::Table =
        sparse("{ s = 0, a = 0, next = 1, p = 0.5 }, { s = 0, a = 0, next = 1, p = 0.5 }")
            .parse()
            .unwrap();
    assert_eq!(
        FileMdp::from_table(&t).unwrap_err(),
        "transitions[1]: (s = 0, a = 0, next = 1) is given twice"
    );
    let t: toml::Table = GOOD.parse().unwrap();
    assert!(FileMdp::from_table(&t).is_ok());
}

fn round_trip(domain: DomainKind, dir: &Path, npy: bool) {
    let (offset, seed) = (0.5, 3);
    let problem = imprl::domain::DomainSpec::published(domain).problem(offset, seed);
    if npy {
        DataDir::write_npy(dir, &problem).unwrap();
    } else {
        DataDir::write_csv(dir, &problem).unwrap();
    }
    let data = format!("data:{}", dir.display());
    for param in [ParamKind::Explicit, ParamKind::Implicit] {
        for bias in [false, true] {
            let lr = imprl::published::best_lr(domain, param, 0.95);
            let builtin = cfg(domain.name(), param, |s| {
                s.offset = Some(offset);
                s.seed = Some(seed);
                s.bias = Some(bias);
            });
            // The data set is fixed (the offset is in its targets): offset 0, same seed.
            let own = cfg(&data, param, |s| {
                s.seed = Some(seed);
                s.lr = Some(lr);
                s.bias = Some(bias);
            });
            assert_eq!(log(&builtin), log(&own), "{domain} {param:?} bias {bias}");
        }
    }
}

#[test]
fn data_round_trip_gives_the_domains_own_runs() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(DomainKind::Chain, &dir.path().join("chain"), false);
    round_trip(DomainKind::FourRooms, &dir.path().join("rooms"), true);
}

#[test]
fn data_sets_refuse_td_targets_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let p = imprl::domain::DomainSpec::published(DomainKind::Chain).problem(0.0, 0);
    DataDir::write_csv(dir.path(), &p).unwrap();
    for (flag, value, message) in [
        ("--targets", "td:1", "a data set has no transitions"),
        ("--offset", "1", "a data set has no rewards"),
    ] {
        let out = imprl()
            .args(["run", "--param", "explicit", flag, value, "--domain"])
            .arg(format!("data:{}", dir.path().display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
}

#[test]
fn a_csv_with_a_known_linear_solution_is_fitted_by_both_parameterizations() {
    // y = 2 x0 − 3 x1 + 0.5 x2 on a fixed design; test points off the training set.
    let dir = tempfile::tempdir().unwrap();
    let f = |x: [f64; 3]| 2.0 * x[0] - 3.0 * x[1] + 0.5 * x[2];
    let mut train = String::from("a,b,c,y\n");
    for i in 0..40 {
        let x = [
            ((i * 7) % 11) as f64 / 10.0 - 0.5,
            ((i * 5) % 13) as f64 / 12.0,
            1.0,
        ];
        train.push_str(&format!("{},{},{},{}\n", x[0], x[1], x[2], f(x)));
    }
    let mut test = String::from("a,b,c,y\n");
    for x in [[0.3, 0.2, 1.0], [-0.4, 0.9, 1.0], [0.1, 0.05, 1.0]] {
        test.push_str(&format!("{},{},{},{}\n", x[0], x[1], x[2], f(x)));
    }
    write(dir.path(), "train.csv", &train);
    write(dir.path(), "test.csv", &test);
    let name = format!("data:{}", dir.path().display());
    for (param, lr) in [(ParamKind::Explicit, 0.5), (ParamKind::Implicit, 0.05)] {
        let c = cfg(&name, param, |s| {
            s.steps = Some(20_000);
            s.eval_every = Some(20_000);
            s.eta = Some(0.5);
            s.lr = Some(lr);
        });
        let rows = log(&c);
        let last = rows.last().unwrap();
        assert!(
            last.residual_norm < 1e-6,
            "{param:?}: ‖r‖ = {}",
            last.residual_norm
        );
    }
}

#[test]
fn a_changed_file_is_not_mixed_with_its_old_runs() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "cycle.toml", CYCLE);
    let grid = write(
        dir.path(),
        "grid.toml",
        &format!(
            "domain = ['file:{}', 'chain']\nparam = 'explicit'\nsteps = 20\ntargets = ['mc', 'td:2']\n",
            f.display()
        ),
    );
    let out = dir.path().join("out");
    let ok = sweep(&grid, &out).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let again = sweep(&grid, &out).output().unwrap();
    assert!(again.status.success());
    // The export names the domain by its file.
    let csv = common::export_csv(&out);
    assert!(csv.contains(&format!("file:{}", f.display())), "{csv}");
    std::fs::write(
        &f,
        CYCLE.replace(
            "[[1.0], [1.0], [1.0]]\npolicy",
            "[[2.0], [1.0], [1.0]]\npolicy",
        ),
    )
    .unwrap();
    let changed = sweep(&grid, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success());
    assert!(
        stderr.contains("has changed since its runs in this store were made"),
        "{stderr}"
    );
}

#[test]
fn imprl_dataset_writes_a_directory_that_runs_as_the_domain() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = imprl().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let d = dir.path().join("d");
    let ds = d.display().to_string();
    run(&[
        "dataset", "--domain", "chain", "--seed", "2", "--offset", "0.5", "--out", &ds,
    ]);
    let builtin = run(&[
        "run", "--domain", "chain", "--param", "explicit", "--seed", "2", "--offset", "0.5",
    ]);
    let own = run(&[
        "run",
        "--domain",
        &format!("data:{ds}"),
        "--param",
        "explicit",
        "--seed",
        "2",
        "--lr",
        "0.5",
    ]);
    assert_eq!(builtin, own);
}

/// From state 0 the one action reaches state 1 (reward 4) with probability 1/4 and state 2
/// (reward 0) with 3/4; both are terminal. `E[r | 0] = 1`, so `V(0) = 1 + c`.
const SPLIT: &str = "gamma = 0.5
states = 3
actions = 1
transitions = [[[0.0, 0.25, 0.75]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]]
rewards = [[[0.0, 4.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]]
policy = [[1.0], [1.0], [1.0]]
start = [1.0, 0.0, 0.0]
terminal = [1, 2]
[data]
trajectories = 400
length = 5
";

fn file_problem(
    dir: &Path,
    name: &str,
    text: &str,
    targets: Targets,
    offset: f64,
) -> imprl::data::Problem {
    let f = write(dir, name, text);
    let d = DomainKind::from_name(&format!("file:{}", f.display())).unwrap();
    let mut spec = imprl::domain::DomainSpec::published(d);
    spec.targets = targets;
    spec.problem(offset, 1)
}

#[test]
fn rewards_per_transition_are_sampled_and_their_expectation_is_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let c = 0.5;
    let p = file_problem(dir.path(), "split.toml", SPLIT, Targets::Mc, c);
    // Test set: state 0 only, V = E[r] + c = 1.5 (terminal states are held at 0).
    assert_eq!(p.test.y, vec![1.5]);
    // Monte Carlo targets: the reward of the successor drawn, never the expectation.
    assert_eq!(p.train.len(), 400);
    let fours = p.train.y.iter().filter(|&&y| y == 4.0 + c).count();
    assert!(
        p.train.y.iter().all(|&y| y == 4.0 + c || y == c),
        "{:?}",
        p.train.y
    );
    // 400 draws of probability 1/4: 100 expected, sd 8.7.
    assert!((60..140).contains(&fours), "{fours}");
    // TD(0) rows carry the same sampled rewards (no bootstrap: the successor is terminal).
    let td = file_problem(dir.path(), "split.toml", SPLIT, Targets::Td(1), c);
    assert_eq!(td.train.y, p.train.y);
    // The same MDP with the rewards in sparse transitions: the same problem, bit for bit.
    let sparse = SPLIT
        .replace(
            "transitions = [[[0.0, 0.25, 0.75]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]]",
            "transitions = [{ s = 0, a = 0, next = 1, p = 0.25, r = 4.0 }, \
             { s = 0, a = 0, next = 2, p = 0.75, r = 0 }, { s = 1, a = 0, next = 1, p = 1.0, r = 0 }, \
             { s = 2, a = 0, next = 2, p = 1.0, r = 0 }]",
        )
        .replace(
            "rewards = [[[0.0, 4.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]]\n",
            "",
        );
    let q = file_problem(dir.path(), "sparse.toml", &sparse, Targets::Mc, c);
    assert_eq!((&q.train, &q.test), (&p.train, &p.test));
    // Exact values by hand, terminal states at 0.
    let m = FileMdp::load(&dir.path().join("split.toml").display().to_string())
        .unwrap()
        .0;
    assert_eq!(m.exact_values(c), vec![1.5, 0.0, 0.0]);
}

#[test]
fn rewards_constant_in_the_successor_run_as_rewards_per_pair_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let per_pair = GOOD.to_string() + "[data]\ntrajectories = 20\nlength = 30\n";
    let per_transition = per_pair.replace(
        "rewards = [[0.0, 1.0], [2.0, 0.0]]",
        "rewards = [[[0.0, 0.0], [1.0, 1.0]], [[2.0, 2.0], [0.0, 0.0]]]",
    );
    assert_ne!(per_pair, per_transition);
    for targets in [Targets::Mc, Targets::Td(2)] {
        let a = file_problem(dir.path(), "a.toml", &per_pair, targets, 0.3);
        let b = file_problem(dir.path(), "b.toml", &per_transition, targets, 0.3);
        assert_eq!((&a.train, &a.test), (&b.train, &b.test), "{targets}");
    }
}

#[test]
fn bad_rewards_per_transition_are_refused_with_the_entry_named() {
    let dense = GOOD.replace(
        "rewards = [[0.0, 1.0], [2.0, 0.0]]",
        "rewards = [[[0.0, 0.0], [1.0, 1.0]], [[2.0, 2.0], [0.0, 0.0]]]",
    );
    let sparse_t = "transitions = [{ s = 0, a = 0, next = 0, p = 0.5, r = 1 }, \
         { s = 0, a = 0, next = 1, p = 0.5, r = 2 }, { s = 0, a = 1, next = 1, p = 1.0, r = 0 }, \
         { s = 1, a = 0, next = 0, p = 1.0, r = 0 }, { s = 1, a = 1, next = 0, p = 0.25, r = 0 }, \
         { s = 1, a = 1, next = 1, p = 0.75, r = 0 }]";
    let sparse = GOOD
        .replace(
            "transitions = [[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.25, 0.75]]]",
            sparse_t,
        )
        .replace("rewards = [[0.0, 1.0], [2.0, 0.0]]\n", "");
    for text in [&dense, &sparse] {
        let t: toml::Table = text.parse().unwrap();
        assert!(FileMdp::from_table(&t).is_ok(), "{text}");
    }
    let cases = [
        (
            dense.replace("[[2.0, 2.0], [0.0, 0.0]]]", "[[2.0], [0.0, 0.0]]]"),
            "rewards[1][0]: 1 entries, not 2 (states)",
        ),
        (
            dense.replace("[1.0, 1.0]]", "[1.0, inf]]"),
            "rewards[0][1][1]: inf is not a finite number",
        ),
        (
            sparse.replace("p = 0.5, r = 2 }", "p = 0.5 }"),
            "transitions[1]: missing `r`",
        ),
        (
            sparse.replace("p = 0.5, r = 1 }", "p = 0.5 }"),
            "transitions[1]: unexpected `r`",
        ),
        (
            sparse.replace("r = 2 }", "r = nan }"),
            "transitions[1].r: NaN is not a finite number",
        ),
        (
            sparse.clone() + "rewards = [[0.0, 1.0], [2.0, 0.0]]\n",
            "rewards: given twice",
        ),
    ];
    for (text, message) in cases {
        let t: toml::Table = text.parse().expect("toml");
        let err = FileMdp::from_table(&t).expect_err(message);
        assert!(err.starts_with(message), "got `{err}`, want `{message}`");
    }
}

#[test]
fn own_problems_default_to_a_rate_from_their_data_and_builtins_keep_the_papers() {
    // The chain: the paper's rates, whatever the data.
    for (param, eta) in [(ParamKind::Explicit, 0.95), (ParamKind::Implicit, 0.9)] {
        let c = cfg("chain", param, |s| s.eta = Some(eta));
        assert_eq!(
            c.lr,
            imprl::published::best_lr(DomainKind::Chain, param, eta)
        );
    }
    // A data set with one feature x = ±2 (E[x²] = 4) and batch 25: λ = 4 + 4/25.
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..40 {
        csv += &format!("{},{}\n", if i % 2 == 0 { 2.0 } else { -2.0 }, i);
    }
    write(dir.path(), "train.csv", &csv);
    write(dir.path(), "test.csv", "x,y\n1,1\n");
    let data = format!("data:{}", dir.path().display());
    let lam: f64 = 4.0 + 4.0 / 25.0;
    let c = cfg(&data, ParamKind::Explicit, |_| {});
    assert!((c.lr - 0.5 * 2.0 / lam).abs() < 1e-12 * c.lr, "{}", c.lr);
    let c = cfg(&data, ParamKind::Implicit, |s| s.eta = Some(0.9));
    assert!(
        (c.lr - 0.5 * 0.01 * (0.5 * 2.0 / lam)).abs() < 1e-12 * c.lr,
        "{}",
        c.lr
    );
    let c = cfg(&data, ParamKind::ExplicitMatrix, |s| s.eta = Some(0.9));
    assert!(
        (c.lr - 0.25 * 0.01 * (0.5 * 2.0 / lam)).abs() < 1e-12 * c.lr,
        "{}",
        c.lr
    );
    // The second moment's largest eigenvalue by power iteration, against the closed form.
    let mut d = imprl::data::Dataset::new(2);
    d.push(&[2.0, 0.0], 0.0);
    d.push(&[1.0, 2.0], 0.0);
    d.push(&[-1.0, -2.0], 0.0);
    d.push(&[2.0, 0.0], 0.0);
    // E[φφᵀ] = ([4,0;0,0]·2 + [1,2;2,4]·2)/4 = [[2.5, 1], [1, 2]]: eigenvalues 2.25 ± √1.0625;
    // E‖φ‖² = 4.5, over a batch of 2.
    let lam = d.sgd_curvature(2).unwrap() - 4.5 / 2.0;
    assert!((lam - (2.25 + 1.0625f64.sqrt())).abs() < 1e-9, "{lam}");
}

/// The unstable flag in the store's export: a tidy table in which some run is unstable has the
/// `unstable_at` column (the evaluation at which its loss first exceeded a million times its
/// start, empty for the other runs), in CSV and Parquet; a table of stable runs has none.
#[test]
fn the_export_flags_unstable_runs() {
    use imprl::tidy::{unstable_at, Column, TidyTable};
    let grid = |lrs: &str| {
        imprl::sweep::Grid::from_toml_table(
            &format!(
                "domain = '{}'\nparam = 'explicit'\nlr = {lrs}",
                chain_file()
            )
            .parse()
            .expect("toml"),
        )
        .expect("grid")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = imprl::store::Store::open(dir.path()).expect("store");
    let opts = imprl::sweep::SweepOptions::new(Some(1), false).expect("options");
    imprl::sweep::execute(grid("[16.7, 0.01]").runs(), &mut store, &opts, &mut Silent)
        .expect("sweep");
    let records = store.load_all().expect("read");
    let flags: Vec<Option<usize>> = records.iter().map(unstable_at).collect();
    assert!(flags.iter().any(Option::is_some) && flags.iter().any(Option::is_none));
    let mut csv = Vec::new();
    imprl::export::write_tidy_csv(&mut csv, records.clone()).expect("csv");
    let text = String::from_utf8(csv).expect("utf8");
    assert!(text
        .lines()
        .next()
        .expect("header")
        .ends_with(",unstable_at"));
    let table = TidyTable::from_records(&records);
    let Some(Column::Int(col)) = table.column("unstable_at") else {
        panic!("no unstable_at column")
    };
    let mut expected = Vec::new();
    for (r, f) in records.iter().zip(&flags) {
        expected.extend(std::iter::repeat_n(
            f.map(|s| s as i64),
            r.rows.len().max(1),
        ));
    }
    assert_eq!(col, &expected);
    // CSV cells and the typed table agree.
    for (line, cell) in text.lines().skip(1).zip(col) {
        let last = line.rsplit(',').next().expect("cell");
        assert_eq!(last, cell.map_or(String::new(), |s| s.to_string()));
    }
    // Stable runs only: no such column, the table as before.
    let stable: Vec<_> = records
        .into_iter()
        .filter(|r| unstable_at(r).is_none())
        .collect();
    assert!(TidyTable::from_records(&stable)
        .column("unstable_at")
        .is_none());
}

#[test]
fn a_run_whose_loss_grows_a_million_fold_is_flagged_unstable() {
    // The chain file at 4 times its default explicit rate: the loss explodes, and stays finite.
    let out = imprl()
        .args([
            "run",
            "--param",
            "explicit",
            "--lr",
            "16.7",
            "--domain",
            &chain_file(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: unstable"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // The default rate on the same file is stable.
    let out = imprl()
        .args(["run", "--param", "explicit", "--domain", &chain_file()])
        .output()
        .unwrap();
    // It says only which rate it used.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().lines().count() == 1
            && stderr.starts_with("learning rate ")
            && stderr.contains("the default for these settings"),
        "{stderr}"
    );
}

/// A data directory written from `domain` (training and test sets, and the transitions of its
/// TD(0) data) runs as the domain, bit for bit, under `mc` and `td:N`.
fn transitions_round_trip(domain: DomainKind, dir: &Path) {
    let (offset, seed) = (0.5, 3);
    let spec = imprl::domain::DomainSpec::published(domain);
    DataDir::write_csv(dir, &spec.problem(offset, seed)).unwrap();
    let td1 = imprl::domain::DomainSpec {
        targets: Targets::Td(1),
        ..spec
    }
    .problem(offset, seed);
    assert!(DataDir::write_transitions(dir, &td1).unwrap());
    let data = format!("data:{}", dir.display());
    for targets in [Targets::Mc, Targets::Td(1), Targets::Td(3)] {
        for (param, bias) in [(ParamKind::Explicit, false), (ParamKind::Implicit, true)] {
            let lr = imprl::published::best_lr(domain, param, 0.95);
            let builtin = cfg(domain.name(), param, |s| {
                s.offset = Some(offset);
                s.seed = Some(seed);
                s.bias = Some(bias);
                s.targets = Some(targets);
                s.lr = Some(lr);
            });
            let own = cfg(&data, param, |s| {
                s.seed = Some(seed);
                s.lr = Some(lr);
                s.bias = Some(bias);
                s.targets = Some(targets);
            });
            assert_eq!(log(&builtin), log(&own), "{domain} {param:?} {targets}");
        }
    }
}

#[test]
fn a_data_set_with_transitions_runs_as_its_domain_under_mc_and_td() {
    let dir = tempfile::tempdir().unwrap();
    transitions_round_trip(DomainKind::Chain, &dir.path().join("chain"));
    transitions_round_trip(DomainKind::FourRooms, &dir.path().join("rooms"));
    // A file MDP with terminal states (rollouts end early, bootstraps dropped there).
    let f = write(
        dir.path(),
        "line.toml",
        &LINE
            .replace("LEN", "4")
            .replace("trajectories = 1", "trajectories = 30"),
    );
    let d = DomainKind::from_name(&format!("file:{}", f.display())).unwrap();
    transitions_round_trip(d, &dir.path().join("line"));
    // Without train.csv, `mc` rows are the returns of every transition: four rooms keeps
    // every visited state, so that is four rooms' own training set.
    let rooms = dir.path().join("rooms");
    std::fs::remove_file(rooms.join("train.csv")).unwrap();
    let p = imprl::domain::DomainSpec::published(DomainKind::FourRooms).problem(0.5, 3);
    let data = DomainKind::from_name(&format!("data:{}", rooms.display())).unwrap();
    let q = imprl::domain::DomainSpec::published(data).problem(0.0, 0);
    assert_eq!((q.train, q.test), (p.train, p.test));
}

#[test]
fn imprl_dataset_writes_transitions_that_run_td_as_the_domain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let ds = d.display().to_string();
    let run = |args: &[&str]| {
        let out = imprl().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "dataset",
        "--domain",
        "four-rooms",
        "--seed",
        "1",
        "--offset",
        "1",
        "--out",
        &ds,
    ]);
    let text = std::fs::read_to_string(d.join("transitions.csv")).unwrap();
    assert!(text.starts_with("episode,step,x0,"), "{}", &text[..40]);
    assert_eq!(
        std::fs::read_to_string(d.join("meta.toml"))
            .unwrap()
            .lines()
            .last(),
        Some("gamma = 0.9")
    );
    let common = [
        "--param",
        "implicit",
        "--seed",
        "1",
        "--targets",
        "td:2",
        "--lr",
        "1",
    ];
    let builtin = run(&[
        &["run", "--domain", "four-rooms", "--offset", "1"][..],
        &common,
    ]
    .concat());
    let own = run(&[&["run", "--domain", &format!("data:{ds}")][..], &common].concat());
    assert_eq!(builtin, own);
}

#[test]
fn bad_transitions_are_refused_with_the_line_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = "episode,step,x0,reward,next_x0,done\n0,0,1,1.5,2,0\n0,1,2,0.5,3,1\n1,0,1,1,2,0\n";
    let cases = [
        (
            "episode,step,x0,reward,next_x0,done\n",
            "episode,step,x,reward,next_x0,done\n",
            "header: expected",
        ),
        (
            "0,1,2,0.5,3,1",
            "0,2,2,0.5,3,1",
            "line 3: episode 0 has step 2 after step 0, not 1",
        ),
        (
            "0,1,2,0.5,3,1",
            "0,1,5,0.5,3,1",
            "line 3: the state features differ",
        ),
        (
            "0,1,2,0.5,3,1",
            "0,1,2,0.5,3,2",
            "line 3, column done: `2` is not 0 or 1",
        ),
        (
            "0,1,2,0.5,3,1",
            "0,1,2,x,3,1",
            "line 3, column reward: `x` is not a number",
        ),
        (
            "1,0,1,1,2,0",
            "1,1,1,1,2,0",
            "line 4: episode 1 starts at step 1, not 0",
        ),
        (
            "1,0,1,1,2,0",
            "0,0,1,1,2,0\n1,0,1,1,2,0",
            "line 4: episode 0 has step 0",
        ),
    ];
    for (i, (from, to, message)) in cases.iter().enumerate() {
        let d = dir.path().join(format!("d{i}"));
        std::fs::create_dir_all(&d).unwrap();
        write(&d, "test.csv", "x0,y\n1,1\n");
        write(&d, "meta.toml", "gamma = 0.9\n");
        assert!(good.contains(from), "case {i}");
        write(&d, "transitions.csv", &good.replacen(from, to, 1));
        let out = imprl()
            .args([
                "run",
                "--param",
                "explicit",
                "--targets",
                "td:1",
                "--domain",
            ])
            .arg(format!("data:{}", d.display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(stderr.contains(message), "case {i}: {stderr}");
    }
    // The good file runs; without meta.toml it is refused naming it.
    let d = dir.path().join("ok");
    std::fs::create_dir_all(&d).unwrap();
    write(&d, "test.csv", "x0,y\n1,1\n");
    write(&d, "transitions.csv", good);
    let run = || {
        imprl()
            .args([
                "run",
                "--param",
                "explicit",
                "--targets",
                "td:1",
                "--domain",
            ])
            .arg(format!("data:{}", d.display()))
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("meta.toml"));
    write(&d, "meta.toml", "gamma = 0.9\n");
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
