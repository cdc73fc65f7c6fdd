//! Cost and solver work of implicit (or any) runs on a sample of the published grid:
//! 4 η × 6 learning rates × offsets {0, 0.5, 1}, one seed each (72 runs), or a slice of it.
//!
//! ```sh
//! cargo run --release --example profile -- mountain-car implicit            # the whole sample
//! cargo run --release --example profile -- mountain-car implicit 0.95 0 1   # η, lr index, offset
//! SOLVER=lu cargo run --release --example profile -- four-rooms implicit     # another solver
//! ```
//!
//! It prints the mean time per run spent building the data and training, and for implicit
//! runs the solver's products with `S` per solve and factorizations per run (the numbers behind
//! the README's *Speed* section).

use imprl::config::{Raw, RunSettings, SettingType};
use imprl::domain::DomainKind;
use imprl::linalg::SolverKind;
use imprl::param::{draw_implicit_init, Implicit, ParamKind};
use imprl::published::{learning_rates, ETAS};
use imprl::rng::{stream, Stream};
use imprl::train::{to_the_end, train, Silent};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: profile DOMAIN PARAM [ETA [LR_INDEX [OFFSET]]]";
    let domain = args
        .first()
        .and_then(|s| DomainKind::from_name(s))
        .ok_or_else(|| anyhow::anyhow!(usage))?;
    let param = args
        .get(1)
        .and_then(|s| ParamKind::from_name(s))
        .ok_or_else(|| anyhow::anyhow!(usage))?;
    let pick = |i: usize, all: Vec<f64>| -> anyhow::Result<Vec<f64>> {
        match args.get(i) {
            Some(a) => Ok(vec![a.parse()?]),
            None => Ok(all),
        }
    };
    let solver = match std::env::var("SOLVER") {
        Ok(s) => {
            Some(SolverKind::parse(Raw::Text(&s)).ok_or_else(|| anyhow::anyhow!("SOLVER={s}?"))?)
        }
        Err(_) => None,
    };
    let lrs = learning_rates(domain, param);
    let lr_indices = pick(3, (0..lrs.len()).map(|i| i as f64).collect())?;
    let (mut t_data, mut t_train, mut runs) = (0.0, 0.0, 0usize);
    let (mut products, mut solves, mut factorizations) = (0u64, 0u64, 0u64);
    for eta in pick(2, ETAS.to_vec())? {
        for &i in &lr_indices {
            for offset in pick(4, vec![0.0, 0.5, 1.0])? {
                let cfg = RunSettings {
                    domain: Some(domain),
                    param: Some(param),
                    eta: Some(eta),
                    lr: Some(lrs[i as usize]),
                    offset: Some(offset),
                    seed: Some(runs as u64),
                    solver,
                    ..Default::default()
                }
                .resolve()?;
                let t0 = Instant::now();
                let problem = cfg.domain_spec().problem(cfg.offset, cfg.seed);
                let t1 = Instant::now();
                if param == ParamKind::Implicit {
                    let init = draw_implicit_init(problem.train.k, cfg.seed);
                    let mut m = Implicit::with_solver(init, eta, cfg.solver);
                    let mut rng = stream(cfg.seed, Stream::Batches);
                    to_the_end(train(
                        &mut m,
                        &problem,
                        &cfg.schedule(),
                        &mut rng,
                        &mut Silent,
                    ));
                    let st = m.solve_stats();
                    products += st.sweeps;
                    solves += st.solves;
                    factorizations += st.factorizations;
                } else {
                    imprl::run::run_with(&cfg, &problem, &mut Silent)?;
                }
                t_data += (t1 - t0).as_secs_f64();
                t_train += t1.elapsed().as_secs_f64();
                runs += 1;
            }
        }
    }
    let n = runs as f64;
    println!(
        "{domain} {param}: {runs} runs, data {:.2} ms, training {:.2} ms per run",
        1e3 * t_data / n,
        1e3 * t_train / n
    );
    if param == ParamKind::Implicit {
        println!(
            "products (or refinement sweeps) per solve {:.2}, factorizations per run {:.2}",
            products as f64 / solves.max(1) as f64,
            factorizations as f64 / n
        );
    }
    Ok(())
}
