//! Costs of the hot path, each next to its floor (`cargo bench`).
//!
//! - `step/<domain>/<param>`: one SGD update (minibatch gradient given).
//! - `run/<domain>/<param>`: one whole published run: data, init, 300 updates, 31 evaluations.
//! - `kernel/<name>/k=<k>`: the pieces of an implicit update at k = 11, 121, 400.
//!
//! After criterion's report, a breakdown of the implicit update at k = 400 prints each piece's
//! share of a step and its cost relative to its floor (k² exponentials for the softmax, 2k³/3
//! flops for an LU factorization, k² multiply–adds for a matrix–vector product).

use criterion::{criterion_group, BenchmarkId, Criterion};
use imprl::config::RunSettings;
use imprl::domain::{DomainKind, DomainSpec};
use imprl::linalg::{matvec, matvec_t, softmax_rows, ResolventLu, SolveStats, SolverKind};
use imprl::param::{draw_implicit_init, Implicit, ParamKind, Parameterization};
use imprl::train::NoObserver;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PARAMS: [ParamKind; 3] = [
    ParamKind::Explicit,
    ParamKind::Implicit,
    ParamKind::ExplicitMatrix,
];

fn gradient(k: usize) -> Vec<f64> {
    (0..k).map(|i| 1e-3 * ((i * 7 % 13) as f64 - 6.0)).collect()
}

fn bench_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    for d in DomainKind::ALL {
        let k = d.feature_dim();
        for p in PARAMS {
            let mut param = p.init(k, 0.95, 1, SolverKind::Auto);
            let grad = gradient(k);
            // Alternating signs keep the parameters near their start over many iterations.
            let mut sign = 1.0;
            g.bench_function(BenchmarkId::new(d.name(), p.name()), |b| {
                b.iter(|| {
                    sign = -sign;
                    param
                        .sgd_step(black_box(&grad), sign * 1e-3)
                        .expect("finite")
                })
            });
        }
    }
    g.finish();
}

fn bench_runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    for d in DomainKind::ALL {
        for p in PARAMS {
            let cfg = RunSettings {
                domain: Some(d),
                param: Some(p),
                offset: Some(0.5),
                ..Default::default()
            }
            .resolve()
            .expect("valid");
            g.bench_function(BenchmarkId::new(d.name(), p.name()), |b| {
                b.iter(|| imprl::run::run(black_box(&cfg), &mut NoObserver).expect("runs"))
            });
        }
    }
    g.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel");
    for k in [11usize, 121, 400] {
        let init = draw_implicit_init(k, 1);
        let mut s = vec![0.0; k * k];
        softmax_rows(&init.f, k, &mut s);
        g.bench_function(BenchmarkId::new("softmax", format!("k={k}")), |b| {
            b.iter(|| softmax_rows(black_box(&init.f), k, &mut s))
        });
        g.bench_function(BenchmarkId::new("lu", format!("k={k}")), |b| {
            b.iter(|| ResolventLu::new(black_box(&s), k, 0.95))
        });
        let x = gradient(k);
        let mut y = vec![0.0; k];
        g.bench_function(BenchmarkId::new("matvec", format!("k={k}")), |b| {
            b.iter(|| matvec(black_box(&s), k, &x, &mut y))
        });
    }
    g.finish();
}

/// Median wall time of `f` over `reps` calls.
fn time(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[reps / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Breakdown of one implicit update at k = 400 (mountain car), with each cost next to its floor.
fn breakdown() {
    let k = DomainSpec::published(DomainKind::MountainCar).feature_dim();
    let init = draw_implicit_init(k, 1);
    let reps = 31;
    let mut s = vec![0.0; k * k];
    let softmax = time(reps, || softmax_rows(&init.f, k, &mut s));
    let lu = time(reps, || drop(black_box(ResolventLu::new(&s, k, 0.95))));
    let mut fact = ResolventLu::new(&s, k, 0.95);
    let mut x = gradient(k);
    let lu_solve = time(reps, || fact.solve_in_place(&mut x));
    let mut y = vec![0.0; k];
    let mv = time(reps, || matvec(&s, k, &x, &mut y));
    let mvt = time(reps, || matvec_t(&s, k, &x, &mut y));
    let grad = gradient(k);
    let mut sign = 1.0;
    let mut steps = |kind: SolverKind| {
        let mut m = Implicit::with_solver(init.clone(), 0.95, kind);
        let d = time(reps * 3, || {
            sign = -sign;
            m.sgd_step(&grad, sign * 1e-3).expect("finite")
        });
        (d, m.solve_stats())
    };
    let (step_lu, _) = steps(SolverKind::Lu);
    let (step_refine, refine) = steps(SolverKind::Refine);
    let (step_gmres, gmres) = steps(SolverKind::Gmres);
    let kf = k as f64;
    let exps = kf * kf;
    println!("\nImplicit update at k = {k} (median of {reps}):");
    println!(
        "  softmax σ(F)      {:>9.1} µs  {:>5.2} ns per exponential (floor: k² = {exps} exponentials)",
        us(softmax),
        softmax.as_secs_f64() * 1e9 / exps
    );
    println!(
        "  LU of I − ηS      {:>9.1} µs  {:>5.1} GFLOP/s (2k³/3 = {:.1} Mflop)",
        us(lu),
        2.0 * kf.powi(3) / 3.0 / lu.as_secs_f64() / 1e9,
        2.0 * kf.powi(3) / 3.0 / 1e6
    );
    println!(
        "  LU solve (2 tri.) {:>9.1} µs  {:>5.1} GFLOP/s (2k² flops)",
        us(lu_solve),
        2.0 * exps / lu_solve.as_secs_f64() / 1e9
    );
    println!(
        "  S·x               {:>9.1} µs  {:>5.1} GFLOP/s (2k² flops)",
        us(mv),
        2.0 * exps / mv.as_secs_f64() / 1e9
    );
    println!(
        "  Sᵀ·x              {:>9.1} µs  {:>5.1} GFLOP/s (2k² flops)",
        us(mvt),
        2.0 * exps / mvt.as_secs_f64() / 1e9
    );
    println!(
        "  step, LU solver   {:>9.1} µs  = softmax {:.0}% + LU {:.0}% + solves and gradient {:.0}%",
        us(step_lu),
        100.0 * softmax.as_secs_f64() / step_lu.as_secs_f64(),
        100.0 * lu.as_secs_f64() / step_lu.as_secs_f64(),
        100.0 * (1.0 - (softmax + lu).as_secs_f64() / step_lu.as_secs_f64()).max(0.0)
    );
    let per_solve = |st: SolveStats| st.sweeps as f64 / st.solves.max(1) as f64;
    let per_step = |st: SolveStats| st.factorizations as f64 / (st.solves as f64 / 2.0).max(1.0);
    println!(
        "  step, refine      {:>9.1} µs  ({:.2} sweeps per solve, {:.3} factorizations per step); softmax {:.0}% of it",
        us(step_refine),
        per_solve(refine),
        per_step(refine),
        100.0 * softmax.as_secs_f64() / step_refine.as_secs_f64()
    );
    println!(
        "  step, gmres       {:>9.1} µs  ({:.2} products per solve, {:.3} factorizations per step); softmax {:.0}%, products {:.0}% of it",
        us(step_gmres),
        per_solve(gmres),
        per_step(gmres),
        100.0 * softmax.as_secs_f64() / step_gmres.as_secs_f64(),
        100.0 * 2.0 * per_solve(gmres) * (mv + mvt).as_secs_f64() / 2.0 / step_gmres.as_secs_f64()
    );
    println!("  floor of a step: the softmax, {:.1} µs (reference: a jitted JAX step at k = 400 takes ~2700 µs)", us(softmax));
}

criterion_group!(benches, bench_kernels, bench_steps, bench_runs);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    breakdown();
}
