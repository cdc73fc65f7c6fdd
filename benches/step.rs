//! Costs of the hot path, each next to its floor (`cargo bench`).
//!
//! - `step/<domain>/<param>`: one SGD update (minibatch gradient given).
//! - `run/<domain>/<param>`: one whole published run: data, init, 300 updates, 31 evaluations.
//! - `kernel/<name>/k=<k>`: the pieces of an implicit update at k = 11, 121, 400.
//!
//! After criterion's report, it names the CPU and the instruction set the kernels dispatch to,
//! and prints a breakdown of the implicit update at k = 400, each piece next to its floor (the
//! exponentials at the throughput of the vector unit, measured on a row in the first-level
//! cache; the bytes of `F` and `S` moved at the measured bandwidth of a streaming read; 2k³/3
//! flops for an LU factorization), and the per-update cost at k = 100, 400, 1,600 and 6,400
//! against the k² floor.

use criterion::{criterion_group, BenchmarkId, Criterion};
use imprl::config::RunSettings;
use imprl::domain::{DomainKind, DomainSpec};
use imprl::linalg::{
    exp, logit_step, matvec, matvec_t, softmax_rows, ResolventLu, SolveStats, SolverKind,
};
use imprl::param::{draw_implicit_init, Implicit, ParamKind, Parameterization};
use imprl::train::Silent;
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
                b.iter(|| {
                    imprl::run::run(black_box(&cfg), &mut Silent)
                        .expect("runs")
                        .log
                })
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
        let theta = gradient(k);
        let u = gradient(k);
        let mut st = vec![0.0; k];
        let mut ff = init.f.clone();
        let mut sign = 1.0;
        g.bench_function(BenchmarkId::new("logit_step", format!("k={k}")), |b| {
            b.iter(|| {
                sign = -sign;
                logit_step(&mut ff, &mut s, &u, black_box(&theta), &mut st, sign * 1e-3)
            })
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

/// Median time on the CPU of `f` over `reps` calls: the thread's CPU time on Linux (so that
/// other processes sharing the cores do not count; what they do to the caches still does),
/// else wall time.
fn time(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let (c, s) = (cpu_ns(), Instant::now());
            f();
            match (c, cpu_ns()) {
                (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
                _ => s.elapsed(),
            }
        })
        .collect();
    t.sort();
    t[reps / 2]
}

/// Nanoseconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`), on 64-bit Linux.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid `struct timespec` of 64-bit Linux, written by the call.
    let ok = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    ok.then(|| ts.sec as u64 * 1_000_000_000 + ts.nsec as u64)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn cpu_ns() -> Option<u64> {
    None
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The CPU's model name (`/proc/cpuinfo`) and the instruction set the kernels dispatch to.
fn machine() -> (String, &'static str) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    #[cfg(target_arch = "x86_64")]
    let simd = if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vbmi2")
        && is_x86_feature_detected!("avx512ifma")
        && is_x86_feature_detected!("gfni")
    {
        "AVX-512 (8 doubles per register)"
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        "AVX2 + FMA (4 doubles per register)"
    } else if is_x86_feature_detected!("avx") {
        "AVX (4 doubles per register)"
    } else {
        "SSE2 (2 doubles per register)"
    };
    #[cfg(target_arch = "aarch64")]
    let simd = "NEON (2 doubles per register)";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let simd = "portable";
    (model, simd)
}

/// Nanoseconds per exponential at the vector unit's throughput: `exp` over a 512-element row
/// in the first-level cache, repeated (no memory traffic, nothing but the exponentials).
fn exp_floor_ns() -> f64 {
    let x: Vec<f64> = (0..512).map(|i| -(i as f64) / 64.0).collect();
    let mut y = vec![0.0; 512];
    let reps = 200;
    let d = time(31, || {
        for _ in 0..reps {
            exp_row(black_box(&x), &mut y);
        }
    });
    d.as_secs_f64() * 1e9 / (512.0 * reps as f64)
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw+avx2+fma+avx",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "aarch64+neon"
))]
fn exp_row(x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = exp(xi);
    }
}

/// GB/s of a streaming read of `n` doubles, repeated so that the data stays in whatever cache
/// level holds it (the best of the repetitions' medians).
fn read_bandwidth(n: usize) -> f64 {
    let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let reps = (1 << 22) / n + 1;
    let d = time(15, || {
        for _ in 0..reps {
            black_box(stream_sum(black_box(&a)));
        }
    });
    8.0 * (n * reps) as f64 / d.as_secs_f64() / 1e9
}

/// 32 independent partial sums, so that the adder's latency does not limit the read.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw+avx2+fma+avx",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "aarch64+neon"
))]
fn stream_sum(a: &[f64]) -> [f64; 32] {
    let mut acc = [0.0f64; 32];
    for c in a.chunks_exact(32) {
        for (s, v) in acc.iter_mut().zip(c) {
            *s += v;
        }
    }
    acc
}

/// Median time of one implicit SGD update (GMRES) at `k`, with its products with `S` or `Sᵀ` per
/// update.
fn update_cost(k: usize, reps: usize) -> (Duration, f64) {
    let mut m = Implicit::with_solver(draw_implicit_init(k, 1), 0.95, SolverKind::Gmres);
    let grad = gradient(k);
    let mut sign = 1.0;
    let before = m.solve_stats();
    let d = time(reps, || {
        sign = -sign;
        m.sgd_step(&grad, sign * 1e-3).expect("finite")
    });
    let after = m.solve_stats();
    // sweeps count products with S in the GMRES solves; + 1 for the forward warm start, which
    // the logit step computes row by row (it reads S once more, from the first-level cache).
    let products = (after.sweeps - before.sweeps) as f64 / reps as f64;
    (d, products)
}

/// The update `F_kj ← F_kj − c u_k S_kj (θ̂_j − (Sθ̂)_k)` alone, as the logit step did before
/// its fusion (dispatched like it).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw+avx2+fma+avx",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "aarch64+neon"
))]
fn logit_update(f: &mut [f64], s: &[f64], u: &[f64], theta: &[f64], s_theta: &[f64], c: f64) {
    let k = theta.len();
    for (kk, (frow, srow)) in f.chunks_exact_mut(k).zip(s.chunks_exact(k)).enumerate() {
        let cu = c * u[kk];
        for ((fkj, &skj), &tj) in frow.iter_mut().zip(srow).zip(theta) {
            *fkj -= cu * skj * (tj - s_theta[kk]);
        }
    }
}

/// Breakdown of one implicit update at k = 400 (mountain car), with each cost next to its floor.
fn breakdown() {
    let (model, simd) = machine();
    println!("\nCPU: {model}; kernels dispatched to {simd}.");
    let k = DomainSpec::published(DomainKind::MountainCar).feature_dim();
    let init = draw_implicit_init(k, 1);
    let reps = 31;
    let kf = k as f64;
    let exps = kf * kf;
    let mb = 8.0 * exps / 1e6;
    let exp_ns = exp_floor_ns();
    let bw = read_bandwidth(k * k);
    let mut s = vec![0.0; k * k];
    let softmax = time(reps, || softmax_rows(&init.f, k, &mut s));
    let mut f = init.f.clone();
    let x0 = gradient(k);
    let mut st = vec![0.0; k];
    let mut sign = 1.0;
    let logit = time(reps, || {
        sign = -sign;
        logit_step(&mut f, &mut s, &x0, &x0, &mut st, sign * 1e-3)
    });
    // The same work in separate passes, as before the fusion: the update, the softmax, S·θ̂.
    let unfused = time(reps, || {
        sign = -sign;
        logit_update(&mut f, &s, &x0, &x0, &st, sign * 1e-3);
        softmax_rows(&f, k, &mut s);
        matvec(&s, k, &x0, &mut st);
    });
    let lu = time(reps, || drop(black_box(ResolventLu::new(&s, k, 0.95))));
    let mut fact = ResolventLu::new(&s, k, 0.95);
    let mut x = gradient(k);
    let lu_solve = time(reps, || fact.solve_in_place(&mut x));
    let mut y = vec![0.0; k];
    let mv = time(reps, || matvec(&s, k, &x, &mut y));
    let mvt = time(reps, || matvec_t(&s, k, &x, &mut y));
    let grad = gradient(k);
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
    let floor_exp = exps * exp_ns / 1e3;
    let floor_mv = mb / bw * 1e3;
    println!("Implicit update at k = {k} (median of {reps}); floors: an exponential at the vector unit's throughput {exp_ns:.2} ns; a streaming read of S ({mb:.2} MB) at {bw:.0} GB/s, {floor_mv:.1} µs:");
    println!(
        "  softmax σ(F)      {:>9.1} µs  {:>5.2} ns per exponential, {:.2}× the floor of k² = {exps} exponentials ({floor_exp:.1} µs)",
        us(softmax),
        softmax.as_secs_f64() * 1e9 / exps,
        us(softmax) / floor_exp,
    );
    println!(
        "  logit step + σ(F) + Sθ̂ {:>4.1} µs  {:.2}× the floor (k² exponentials; F and S read and written once, {:.1} MB, {:.1} µs at {bw:.0} GB/s)",
        us(logit),
        us(logit) / floor_exp,
        4.0 * mb,
        4.0 * floor_mv
    );
    println!(
        "  the same unfused  {:>9.1} µs  (update, softmax, S·θ̂ in three passes)",
        us(unfused)
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
    for (name, d) in [("S·x ", mv), ("Sᵀ·x", mvt)] {
        println!(
            "  {name}             {:>9.1} µs  {:>5.1} GFLOP/s (2k² flops), {:.0} GB/s: {:.2}× the floor (S read once, {floor_mv:.1} µs)",
            us(d),
            2.0 * exps / d.as_secs_f64() / 1e9,
            mb / d.as_secs_f64() / 1e3,
            us(d) / floor_mv
        );
    }
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
        "  step, refine      {:>9.1} µs  ({:.2} sweeps per solve, {:.3} factorizations per step)",
        us(step_refine),
        per_solve(refine),
        per_step(refine),
    );
    let products = 2.0 * per_solve(gmres);
    println!(
        "  step, gmres       {:>9.1} µs  ({:.2} products per solve, {:.3} factorizations per step): logit step {:.0}%, products {:.0}%",
        us(step_gmres),
        per_solve(gmres),
        per_step(gmres),
        100.0 * logit.as_secs_f64() / step_gmres.as_secs_f64(),
        100.0 * products * (mv + mvt).as_secs_f64() / 2.0 / step_gmres.as_secs_f64()
    );
    let floor = floor_exp + products * floor_mv;
    println!(
        "  floor of a gmres step: k² exponentials + {products:.1} reads of S = {floor:.1} µs; the step costs {:.2}× that (reference: a jitted JAX step at k = 400 takes ~2700 µs)",
        us(step_gmres) / floor
    );
}

/// Per-update cost against k: the k² floor (exponentials and reads of S) at each size.
fn scaling() {
    let exp_ns = exp_floor_ns();
    println!("\nImplicit update (GMRES, η = 0.95) against k: median time, and the k² floor (k² exponentials at {exp_ns:.2} ns + the update's reads of S at the bandwidth measured for its size):");
    println!(
        "  {:>6} {:>12} {:>10} {:>10} {:>12} {:>8}",
        "k", "update µs", "products", "GB/s", "floor µs", "×floor"
    );
    // k = 6,400 needs ~1.3 GB (F, S, the initial LU) and a minute: only with enough memory.
    let avail_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1e6);
    for (k, reps) in [(100, 201), (400, 61), (1_600, 9), (6_400, 3)] {
        if k == 6_400 && avail_gb < 4.0 {
            println!("  {k:>6}  skipped: {avail_gb:.1} GB of memory available, 4 needed");
            continue;
        }
        let (d, products) = update_cost(k, reps);
        let kf = k as f64;
        let bw = read_bandwidth(k * k);
        // The logit step reads and writes F and S (4k² doubles); each product reads S.
        let floor = kf * kf * exp_ns / 1e3 + (4.0 + products) * 8.0 * kf * kf / bw / 1e3;
        println!(
            "  {k:>6} {:>12.1} {products:>10.1} {bw:>10.0} {floor:>12.1} {:>8.2}",
            us(d),
            us(d) / floor
        );
    }
}

criterion_group!(benches, bench_kernels, bench_steps, bench_runs);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    breakdown();
    scaling();
}
