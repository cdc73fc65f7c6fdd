use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::param::ParamKind;
use imprl::param::{draw_implicit_init, Implicit};
use imprl::rng::{stream, Stream};
use imprl::train::{train, NoObserver};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d = DomainKind::from_name(&args[1]).unwrap();
    let p = ParamKind::from_name(&args[2]).unwrap();
    let mut tp = 0.0;
    let mut tr = 0.0;
    let mut n = 0;
    let (mut sweeps, mut solves, mut facts) = (0u64, 0u64, 0u64);
    let pick = |i: usize, all: Vec<f64>| -> Vec<f64> {
        args.get(i).map(|a| vec![a.parse().unwrap()]).unwrap_or(all)
    };
    for &eta in &pick(3, vec![0.8, 0.9, 0.95, 0.975]) {
        for i in pick(4, (0..6).map(f64::from).collect())
            .into_iter()
            .map(|i| i as usize)
        {
            for &offset in &pick(5, vec![0.0, 0.5, 1.0]) {
                let seed = (i * 7 + (offset * 10.0) as usize) as u64;
                let o = if p == ParamKind::Explicit {
                    if d == DomainKind::Chain {
                        3
                    } else {
                        7
                    }
                } else if d == DomainKind::Chain {
                    -3
                } else {
                    2
                };
                let lr = 2f64.powi(o - i as i32);
                let cfg = RunSettings {
                    domain: Some(d),
                    param: Some(p),
                    eta: Some(eta),
                    lr: Some(lr),
                    offset: Some(offset),
                    seed: Some(seed),
                    solver: std::env::var("SOLVER").ok().map(|v| {
                        imprl::config::by_name(
                            &imprl::config::SOLVERS,
                            imprl::config::solver_name,
                            &v,
                        )
                        .unwrap()
                    }),
                    ..Default::default()
                }
                .resolve()
                .unwrap();
                let t0 = Instant::now();
                let prob = cfg.domain.problem(cfg.offset, cfg.seed);
                let t1 = Instant::now();
                if p == ParamKind::Implicit {
                    let mut m = Implicit::with_solver(
                        draw_implicit_init(prob.train.k, cfg.seed),
                        eta,
                        cfg.solver,
                    );
                    let mut rng = stream(cfg.seed, Stream::Batches);
                    train(&mut m, &prob, &cfg.schedule(), &mut rng, &mut NoObserver);
                    let st = m.solve_stats();
                    sweeps += st.sweeps;
                    solves += st.solves;
                    facts += st.factorizations;
                } else {
                    imprl::run::run_on(&cfg, &prob, &mut NoObserver).unwrap();
                }
                let t2 = Instant::now();
                tp += (t1 - t0).as_secs_f64();
                tr += (t2 - t1).as_secs_f64();
                n += 1;
            }
        }
    }
    println!(
        "{} {}: {n} runs, problem {:.2} ms, train {:.2} ms per run",
        d.name(),
        p.name(),
        1e3 * tp / n as f64,
        1e3 * tr / n as f64
    );
    println!(
        "products per solve {:.2}, factorizations per run {:.2}",
        sweeps as f64 / solves.max(1) as f64,
        facts as f64 / n as f64
    );
}
