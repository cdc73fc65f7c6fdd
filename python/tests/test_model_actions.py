"""`imprl.ImplicitModel` with m > 1 pseudo-actions (SPEC §8.1, §8.2): the fixed point, its
gradients against central finite differences, a small decision process with known optimal
values, and SGD steps."""

import numpy as np
import pytest

import imprl


def softmax_last(f):
    z = np.exp(f - f.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def q_values(w, f, eta, theta):
    """Q_ka = w_ka + η (S_a θ)_k."""
    return w + eta * np.einsum("kaj,j->ka", softmax_last(f), theta)


def random_point(k=4, m=3, seed=3, eta=0.85):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (k, m)), rng.normal(0, 2, (k, m, k)), eta


def rel_err(approx, exact):
    return np.linalg.norm(np.ravel(approx - exact)) / np.linalg.norm(np.ravel(exact))


@pytest.mark.parametrize(
    "reduce,tau", [("max", 1.0), ("logsumexp", 0.5), ("logsumexp", 2.0)]
)
def test_vjp_matches_central_differences(reduce, tau):
    k, m = 4, 3
    w, f, eta = random_point(k, m)
    g = np.random.default_rng(4).normal(size=k)
    model = imprl.ImplicitModel(w, f, eta, reduce=reduce, temperature=tau)
    assert model.k == k and model.m == m and model.reduce == reduce
    assert model.theta.shape == (k,)

    q = q_values(w, f, eta, model.theta)
    if reduce == "max":
        np.testing.assert_allclose(model.theta, q.max(axis=1), rtol=1e-10)
        # A unique greedy action in every state, by a margin the differences cannot cross.
        top2 = np.sort(q, axis=1)[:, -2:]
        assert np.all(top2[:, 1] - top2[:, 0] > 1e-2)
    else:
        lse = tau * np.log(np.exp(q / tau).sum(axis=1))
        np.testing.assert_allclose(model.theta, lse, rtol=1e-10)

    def loss(w, f, eta):
        return g @ imprl.ImplicitModel(w, f, eta, reduce=reduce, temperature=tau).theta

    grads = model.vjp(g)
    assert grads["w"].shape == (k, m) and grads["logits"].shape == (k, m, k)
    h = 1e-5

    def central(x, shift):
        out = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = h
            out[idx] = (shift(x + e) - shift(x - e)) / (2 * h)
        return out

    fd_w = central(w, lambda x: loss(x, f, eta))
    fd_f = central(f, lambda x: loss(w, x, eta))
    fd_eta = (loss(w, f, eta + h) - loss(w, f, eta - h)) / (2 * h)
    assert rel_err(grads["w"], fd_w) < 1e-6
    assert rel_err(grads["logits"], fd_f) < 1e-6
    assert abs(grads["eta"] - fd_eta) < 1e-6 * abs(fd_eta)
    if reduce == "max":
        # Only the greedy pseudo-action carries gradient.
        greedy = q.argmax(axis=1)
        mask = np.zeros((k, m), dtype=bool)
        mask[np.arange(k), greedy] = True
        assert np.all(grads["w"][~mask] == 0.0) and np.all(grads["logits"][~mask] == 0.0)


def test_a_two_state_decision_process_with_known_optimal_values():
    # Pseudo-action a moves deterministically to state a; w[k, a] is its reward:
    #   state 0: a=0 stays (reward 1), a=1 moves to state 1 (reward 0);
    #   state 1: a=0 moves to state 0 (reward 0), a=1 stays (reward 2).
    # With η = 0.9: staying in 1 forever is worth V_1 = 2/(1 − η) = 20 (moving to 0 gives
    # 0 + η·V_0 ≤ 0.9·20 = 18 < 20); in state 0, staying is worth 1/(1 − η) = 10 while moving
    # is worth 0 + η·V_1 = 18, so V = (18, 20).
    eta = 0.9
    w = np.array([[1.0, 0.0], [0.0, 2.0]])
    f = np.full((2, 2, 2), -np.inf)
    for k in range(2):
        for a in range(2):
            f[k, a, a] = 0.0
    model = imprl.ImplicitModel(w, f, eta, reduce="max")
    assert model.m == 2
    np.testing.assert_allclose(model.theta, [18.0, 20.0], rtol=1e-13)
    # dθ̂/dw: the greedy policy's discounted visits; with g = e_0, u = (1, η/(1 − η)) on the
    # greedy actions (0 → 1, 1 → 1).
    grads = model.vjp(np.array([1.0, 0.0]))
    np.testing.assert_allclose(grads["w"], [[0.0, 1.0], [0.0, eta / (1 - eta)]], rtol=1e-12, atol=1e-15)
    # ∂θ̂_0/∂η = Σ u_k π_ka (S_aθ̂)_k = 1·20 + 9·20 = 200 (θ̂_0 = 2η/(1 − η)).
    np.testing.assert_allclose(grads["eta"], 2 / (1 - eta) ** 2, rtol=1e-12)


@pytest.mark.parametrize("reduce", ["max", "logsumexp"])
def test_step_is_plain_sgd(reduce):
    w, f, eta = random_point(seed=5)
    model = imprl.ImplicitModel(w, f, eta, reduce=reduce, temperature=0.5)
    g = np.random.default_rng(6).normal(size=4)
    grads = model.vjp(g)
    lr = 0.05
    model.step(g, lr)
    np.testing.assert_allclose(model.w, w - lr * grads["w"], rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(model.logits, f - lr * grads["logits"], rtol=1e-14, atol=1e-16)
    assert model.eta == eta
    fresh = imprl.ImplicitModel(model.w, model.logits, eta, reduce=reduce, temperature=0.5)
    np.testing.assert_allclose(model.theta, fresh.theta, rtol=1e-10)
