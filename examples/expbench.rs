use std::time::Instant;
fn main() {
    let n = 160_000;
    let x: Vec<f64> = (0..n).map(|i| -((i % 1000) as f64) * 0.01).collect();
    let mut y = vec![0.0; n];
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..100 {
            for (yi, &xi) in y.iter_mut().zip(&x) {
                *yi = imprl::linalg::exp(xi);
            }
            std::hint::black_box(&mut y);
        }
        println!(
            "ours {:.2} ns/exp",
            t.elapsed().as_secs_f64() / (100 * n) as f64 * 1e9
        );
        let t = Instant::now();
        for _ in 0..100 {
            for (yi, &xi) in y.iter_mut().zip(&x) {
                *yi = xi.exp();
            }
            std::hint::black_box(&mut y);
        }
        println!(
            "libm {:.2} ns/exp",
            t.elapsed().as_secs_f64() / (100 * n) as f64 * 1e9
        );
        let t = Instant::now();
        for _ in 0..100 {
            for (yi, &xi) in y.iter_mut().zip(&x) {
                *yi = xi * 1.0001 + 0.5;
            }
            std::hint::black_box(&mut y);
        }
        println!(
            "axpy {:.2} ns/elem",
            t.elapsed().as_secs_f64() / (100 * n) as f64 * 1e9
        );
    }
}
