"""`imprl.ImplicitModel`: the fixed point, its gradients against finite differences, known
values of small Markov reward processes, SGD steps and argument checks."""

import numpy as np
import pytest

import imprl


def softmax_rows(f):
    z = np.exp(f - f.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def random_model(k=5, seed=0, eta=0.9):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, k), rng.normal(0, 2, (k, k)), eta


def test_theta_is_the_fixed_point():
    w, f, eta = random_model()
    m = imprl.ImplicitModel(w, f, eta)
    s = softmax_rows(f)
    expected = np.linalg.solve(np.eye(5) - eta * s, w)
    np.testing.assert_allclose(m.theta, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.transitions, s, rtol=1e-14, atol=1e-15)
    residual = w + eta * s @ m.theta - m.theta
    assert np.linalg.norm(residual) <= 1e-10 * np.linalg.norm(w)
    assert m.k == 5 and m.m == 1 and m.eta == eta
    assert m.w.tobytes() == w.tobytes() and m.logits.tobytes() == f.tobytes()


def test_a_chain_with_known_values():
    # 0 -> 1 -> 2 -> 2 deterministically, reward 1 in state 2 only: V = (η², η, 1)/(1 − η).
    # Impossible transitions have logits that underflow (and one of -inf).
    eta = 0.9
    f = np.full((3, 3), -1e4)
    f[0, 1] = f[1, 2] = f[2, 2] = 0.0
    f[0, 2] = -np.inf
    m = imprl.ImplicitModel([0.0, 0.0, 1.0], f, eta)
    expected = np.array([eta**2, eta, 1.0]) / (1 - eta)
    np.testing.assert_allclose(m.theta, expected, rtol=1e-13)


def test_a_two_state_process_with_known_values():
    # Stay with probability p, else switch; rewards (1, 0). V_0 − V_1 = 1/(1 − η(2p − 1)),
    # V_0 + V_1 = 1/(1 − η).
    eta, p = 0.75, 0.8
    f = np.log(np.array([[p, 1 - p], [1 - p, p]]))
    m = imprl.ImplicitModel(np.array([1.0, 0.0]), f, eta)
    diff, total = 1 / (1 - eta * (2 * p - 1)), 1 / (1 - eta)
    np.testing.assert_allclose(m.theta, [(total + diff) / 2, (total - diff) / 2], rtol=1e-13)


@pytest.mark.parametrize("shape", ["flat", "one-action"])
def test_vjp_matches_central_differences(shape):
    w, f, eta = random_model(k=4, seed=1, eta=0.8)
    g = np.random.default_rng(2).normal(size=4)
    reshape_w = (lambda x: x) if shape == "flat" else (lambda x: x.reshape(4, 1))
    reshape_f = (lambda x: x) if shape == "flat" else (lambda x: x.reshape(4, 1, 4))

    def loss(w, f, eta):
        return g @ imprl.ImplicitModel(reshape_w(w), reshape_f(f), eta).theta

    grads = imprl.ImplicitModel(reshape_w(w), reshape_f(f), eta).vjp(g)
    assert grads["w"].shape == reshape_w(w).shape
    assert grads["logits"].shape == reshape_f(f).shape
    h = 1e-6
    fd_w = np.array([(loss(w + h * e, f, eta) - loss(w - h * e, f, eta)) / (2 * h) for e in np.eye(4)])
    fd_f = np.zeros_like(f)
    for i in range(4):
        for j in range(4):
            e = np.zeros_like(f)
            e[i, j] = h
            fd_f[i, j] = (loss(w, f + e, eta) - loss(w, f - e, eta)) / (2 * h)
    fd_eta = (loss(w, f, eta + h) - loss(w, f, eta - h)) / (2 * h)
    np.testing.assert_allclose(grads["w"].ravel(), fd_w, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(grads["logits"].reshape(4, 4), fd_f, rtol=1e-6, atol=1e-8)
    assert abs(grads["eta"] - fd_eta) <= 1e-7 * max(1.0, abs(fd_eta))


def test_vjp_is_the_adjoint():
    w, f, eta = random_model(k=6, seed=3)
    g = np.random.default_rng(4).normal(size=6)
    grads = imprl.ImplicitModel(w, f, eta).vjp(g)
    a = np.eye(6) - eta * softmax_rows(f)
    np.testing.assert_allclose(grads["w"], np.linalg.solve(a.T, g), rtol=1e-11, atol=1e-12)


def test_step_is_sgd_and_learns():
    w, f, eta = random_model(k=5, seed=5)
    m = imprl.ImplicitModel(w, f, eta)
    target = np.linspace(-1, 1, 5)
    g = m.theta - target
    grads = m.vjp(g)
    m.step(g, 0.1)
    np.testing.assert_array_equal(m.w, w - 0.1 * grads["w"])
    np.testing.assert_allclose(m.logits, f - 0.1 * grads["logits"], rtol=1e-14, atol=1e-15)
    m = imprl.ImplicitModel(w, f, eta)
    losses = []
    for _ in range(1000):
        g = m.theta - target
        losses.append(0.5 * g @ g)
        m.step(g, 0.01)
    assert losses[-1] < 1e-3 * losses[0]


def test_a_failed_step_leaves_the_model_unchanged():
    w, f, eta = random_model(k=3, seed=6)
    m = imprl.ImplicitModel(w, f, eta)
    theta = m.theta.copy()
    with pytest.raises(FloatingPointError):
        m.step(np.array([1e300, -1e300, 1e300]), 1e300)
    assert m.theta.tobytes() == theta.tobytes() and m.w.tobytes() == w.tobytes()


def test_more_pseudo_actions_have_their_shapes():
    m = imprl.ImplicitModel(np.zeros((3, 2)), np.zeros((3, 2, 3)), 0.9, reduce="logsumexp", temperature=0.5)
    assert m.m == 2 and m.w.shape == (3, 2) and m.logits.shape == (3, 2, 3)
    assert m.transitions.shape == (3, 2, 3) and "m=2" in repr(m)


GOOD_W, GOOD_F = np.zeros(3), np.zeros((3, 3))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"w": "abc"}, "w"),
        ({"w": [[1, 2], [3]]}, "w"),
        ({"w": np.zeros((2, 2, 2))}, "w"),
        ({"w": np.zeros(0), "logits": np.zeros((0, 0))}, "w"),
        ({"w": [0, np.nan, 0]}, "w"),
        ({"w": [0, np.inf, 0]}, "w"),
        ({"logits": np.zeros((3, 2))}, "logits"),
        ({"logits": np.zeros((3, 1, 3))}, "logits"),
        ({"logits": [[0, 0, np.nan], [0, 0, 0], [0, 0, 0]]}, "logits"),
        ({"logits": [[0, 0, np.inf], [0, 0, 0], [0, 0, 0]]}, "logits"),
        ({"logits": [[-np.inf] * 3, [0, 0, 0], [0, 0, 0]]}, "logits"),
        ({"logits": [[1 + 2j] * 3] * 3}, "logits"),
        ({"eta": 1.0}, "eta"),
        ({"eta": -0.1}, "eta"),
        ({"eta": float("nan")}, "eta"),
        ({"eta": "0.5"}, "eta"),
        ({"eta": True}, "eta"),
        ({"reduce": "min"}, "reduce"),
        ({"reduce": 3}, "reduce"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, name):
    args = {"w": GOOD_W, "logits": GOOD_F, "eta": 0.5, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        imprl.ImplicitModel(**args)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda m: m.vjp(np.zeros(4)), "g"),
        (lambda m: m.vjp([0, np.nan, 0]), "g"),
        (lambda m: m.vjp("g"), "g"),
        (lambda m: m.step(np.zeros(2), 0.1), "g"),
        (lambda m: m.step(np.zeros(3), -0.1), "lr"),
        (lambda m: m.step(np.zeros(3), float("nan")), "lr"),
        (lambda m: m.step(np.zeros(3), None), "lr"),
    ],
)
def test_bad_method_arguments_are_named(call, name):
    m = imprl.ImplicitModel(GOOD_W, GOOD_F, 0.5)
    with pytest.raises(ValueError, match=f"`{name}`"):
        call(m)


def test_nothing_panics_across_the_boundary():
    """Extreme inputs end in ordinary exceptions (a PanicException derives from BaseException,
    not Exception) or in results."""
    extreme = [
        lambda: imprl.ImplicitModel([1e308, -1e308, 1e308], GOOD_F, 0.999999),
        lambda: imprl.ImplicitModel(GOOD_W, np.full((3, 3), -1e308), 0.5).vjp([1e308] * 3),
        lambda: imprl.ImplicitModel(GOOD_W, np.full((3, 3), 1e308), 0.5).step([1, 2, 3], 1e300),
        lambda: imprl.ImplicitModel(np.zeros((1,)), np.zeros((1, 1)), 0.0).vjp([1.0]),
        lambda: imprl.run("chain", "implicit", eta=0.999999999, lr=1e300, steps=5),
        lambda: imprl.run("mountain-car", "explicit-matrix", batch_size=1, steps=3, eval_every=1),
    ]
    for call in extreme:
        try:
            call()
        except Exception:
            pass
