use imprl::domain::{DomainKind, DomainSpec};
use imprl::linalg::SolverKind;
use imprl::param::{draw_implicit_init, Implicit};
use imprl::train::{train, NoObserver, Sampling, Schedule};
use std::time::Instant;
fn main() {
    for (d, lr) in [(DomainKind::FourRooms, 1.0), (DomainKind::MountainCar, 1.0)] {
        for eta in [0.8, 0.95, 0.975] {
            let p = DomainSpec::published(d).problem(1.0, 3);
            let k = p.train.k;
            let mut m = Implicit::with_solver(
                draw_implicit_init(k, 3),
                eta,
                match std::env::var("S").as_deref() {
                    Ok("gmres") => SolverKind::Gmres,
                    Ok("lu") => SolverKind::Lu,
                    _ => SolverKind::Refine,
                },
            );
            let sch = Schedule {
                steps: 300,
                batch_size: 25,
                eval_every: 10,
                lr: imprl::published::best_lr(d, imprl::param::ParamKind::Implicit, eta),
                sampling: Sampling::WithReplacement,
            };
            let _ = lr;
            let mut rng = imprl::rng::stream(3, imprl::rng::Stream::Batches);
            let t = Instant::now();
            let log = train(&mut m, &p, &sch, &mut rng, &mut NoObserver);
            println!(
                "{d} eta={eta}: {:?} {:.3}s {:?} final {:?}",
                m.solve_stats(),
                t.elapsed().as_secs_f64(),
                log.outcome,
                log.rows.last().map(|r| r.residual_norm)
            );
        }
    }
}
