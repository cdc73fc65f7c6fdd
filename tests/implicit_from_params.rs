//! The implicit model built from given parameters (`Implicit::from_params`) and its discount
//! gradient `∂L/∂η = uᵀ(Sθ̂)` (SPEC §1, §8.2), as the Python package's implicit layer uses them.

use imprl::param::{draw_implicit_init, Implicit, ImplicitLayer, Parameterization};

fn loss(init: &imprl::param::ImplicitInit, eta: f64, g: &[f64]) -> f64 {
    let m = Implicit::from_params(init.w.clone(), init.f.clone(), eta).expect("solvable");
    m.theta().iter().zip(g).map(|(t, g)| t * g).sum()
}

#[test]
fn from_params_is_the_model_of_those_parameters() {
    let init = draw_implicit_init(6, 4);
    let a = Implicit::new(init.clone(), 0.9);
    let b = Implicit::from_params(init.w.clone(), init.f.clone(), 0.9).expect("solvable");
    assert_eq!(a.theta(), b.theta());
}

#[test]
fn the_discount_gradient_matches_central_differences() {
    let init = draw_implicit_init(5, 7);
    let g = [0.3, -1.0, 0.7, 0.2, -0.4];
    let eta = 0.8;
    let mut m = Implicit::from_params(init.w.clone(), init.f.clone(), eta).expect("solvable");
    let exact = m.gradient(&g).expect("adjoint").deta_total();
    let h = 1e-6;
    let fd = (loss(&init, eta + h, &g) - loss(&init, eta - h, &g)) / (2.0 * h);
    assert!(
        (exact - fd).abs() <= 1e-7 * exact.abs().max(1.0),
        "{exact} vs {fd}"
    );
}

#[test]
fn an_unsolvable_model_is_an_error() {
    // η = 1 with a row-stochastic S: A = I − S is singular.
    let init = draw_implicit_init(4, 1);
    assert!(Implicit::from_params(init.w, init.f, 1.0).is_err());
}
