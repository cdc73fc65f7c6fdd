"""`imprl.jax.implicit_values`: the implicit layer as a JAX function (SPEC §1, §8.1–8.2).

Oracles: `imprl.ImplicitModel` bit for bit, central finite differences in float64, a NumPy
implementation of the IFT gradient, a Python loop for `vmap`, eager for `jit`."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import imprl
import imprl._imprl as native
from imprl.jax import implicit_values

jax.config.update("jax_enable_x64", True)


def softmax_last(f):
    z = np.exp(f - f.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def random_model(k, m=None, seed=0, eta=0.85):
    rng = np.random.default_rng(seed)
    if m is None:
        return rng.normal(0, 1, k), rng.normal(0, 2, (k, k)), eta
    return rng.normal(0, 1, (k, m)), rng.normal(0, 2, (k, m, k)), eta


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def jax_vjp(w, f, eta, g, **kw):
    theta, pull = jax.vjp(lambda w, f, e: implicit_values(w, f, e, **kw), w, f, eta)
    return theta, pull(jnp.asarray(g))


CASES = [
    # (k, m, reduce, temperature); m None: the paper's shapes (k,), (k, k).
    (5, None, "max", 1.0),
    (5, 1, "logsumexp", 1.0),
    (4, 2, "max", 1.0),
    (4, 2, "logsumexp", 0.5),
    (3, 3, "logsumexp", 2.0),
]


@pytest.mark.parametrize("k,m,reduce,tau", CASES)
def test_single_models_equal_implicit_model_bit_for_bit(k, m, reduce, tau):
    w, f, eta = random_model(k, m, seed=k)
    g = np.random.default_rng(1).normal(size=k)
    model = imprl.ImplicitModel(w, f, eta, reduce=reduce, temperature=tau)
    expected = model.vjp(g)
    theta, (dw, df, deta) = jax_vjp(w, f, eta, g, reduce=reduce, temperature=tau)
    assert same_bits(theta, model.theta)
    assert same_bits(dw, expected["w"]) and same_bits(df, expected["logits"])
    assert same_bits(deta, np.float64(expected["eta"]))


def test_the_gradient_is_the_ift_of_numpy():
    """m = 1: u = A⁻ᵀg, ∂L/∂w = u, ∂L/∂F_kj = η u_k S_kj (θ̂_j − (Sθ̂)_k), ∂L/∂η = uᵀSθ̂."""
    k = 7
    w, f, eta = random_model(k, seed=11, eta=0.93)
    g = np.random.default_rng(12).normal(size=k)
    s = softmax_last(f)
    a = np.eye(k) - eta * s
    theta = np.linalg.solve(a, w)
    u = np.linalg.solve(a.T, g)
    st = s @ theta
    got_theta, (dw, df, deta) = jax_vjp(w, f, eta, g)
    np.testing.assert_allclose(got_theta, theta, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dw, u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(df, eta * u[:, None] * s * (theta[None, :] - st[:, None]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(deta, u @ st, rtol=1e-10)


def central(fun, x, h):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        out[idx] = (fun(x + e) - fun(x - e)) / (2 * h)
    return out


def rel_err(approx, exact):
    return np.linalg.norm(np.ravel(approx - exact)) / np.linalg.norm(np.ravel(exact))


def assert_central_differences(loss, w, f, eta, grads):
    """`grads` = (∂L/∂w, ∂L/∂F, ∂L/∂η) of `loss(w, f, eta)` against central differences
    (h = 1e-5): a relative error below 1e-6 each."""
    h = 1e-5
    fd = (
        central(lambda x: float(loss(x, f, eta)), w, h),
        central(lambda x: float(loss(w, x, eta)), f, h),
        central(lambda x: float(loss(w, f, x)), eta, h),
    )
    for grad, exact in zip(grads, fd):
        assert rel_err(np.asarray(grad), exact) < 1e-6


@pytest.mark.parametrize(
    "k,m,reduce,tau", [(4, None, "max", 1.0), (4, 2, "max", 1.0), (4, 2, "logsumexp", 0.5)]
)
def test_gradients_match_central_differences(k, m, reduce, tau):
    w, f, eta = random_model(k, m, seed=3)
    g = np.random.default_rng(4).normal(size=k)
    kw = dict(reduce=reduce, temperature=tau)
    if m is not None and reduce == "max":
        # A unique greedy pseudo-action in every state, by a margin the differences cannot cross.
        theta = imprl.ImplicitModel(w, f, eta).theta
        q = w + eta * np.einsum("kaj,j->ka", softmax_last(f), theta)
        top2 = np.sort(q, axis=1)[:, -2:]
        assert np.all(top2[:, 1] - top2[:, 0] > 1e-2)

    def loss(w, f, eta):
        return jnp.dot(jnp.asarray(g), implicit_values(w, f, eta, **kw))

    dw, df, deta = jax.grad(loss, argnums=(0, 1, 2))(w, f, eta)
    assert_central_differences(loss, w, f, eta, (dw, df, deta))


@pytest.mark.parametrize("m,reduce", [(None, "max"), (2, "logsumexp")])
def test_truncated_mode_is_within_the_neumann_bound(m, reduce):
    """`truncated:K`: θ̂ unchanged; the adjoint u_K (∂L/∂w = u_K π, so u_K = Σ_a ∂L/∂w_·a) obeys
    ‖u_K − u‖₁ ≤ η^K ‖u‖₁ (the rows of J = Σ_a diag(π_·a) η S_a sum to η, SPEC §8.3); K = 1 is
    u = g; K ≥ log(1e-12)/log η is the exact gradient to 1e-10."""
    k, eta = 6, 0.8
    w, f, _ = random_model(k, m, seed=71)
    g = np.random.default_rng(72).normal(size=k)
    kw = dict(reduce=reduce, temperature=0.5)
    theta, (dw, df, deta) = jax_vjp(w, f, eta, g, **kw)
    u = np.asarray(dw).reshape(k, -1).sum(axis=1)
    for K in (1, 2, 5, 20):
        theta_k, (dw_k, df_k, deta_k) = jax_vjp(w, f, eta, g, grad=f"truncated:{K}", **kw)
        assert same_bits(theta_k, theta)
        u_k = np.asarray(dw_k).reshape(k, -1).sum(axis=1)
        assert np.abs(u_k - u).sum() <= eta**K * np.abs(u).sum() * (1 + 1e-12)
        if K == 1:
            np.testing.assert_allclose(u_k, g, rtol=1e-15, atol=0)
    K = int(np.ceil(np.log(1e-12) / np.log(eta)))
    _, (dw_k, df_k, deta_k) = jax_vjp(w, f, eta, g, grad=f"truncated:{K}", **kw)
    assert rel_err(np.asarray(dw_k), np.asarray(dw)) < 1e-10
    assert rel_err(np.asarray(df_k), np.asarray(df)) < 1e-10
    assert abs(float(deta_k) - float(deta)) < 1e-10 * abs(float(deta))


@pytest.mark.parametrize("m,reduce", [(None, "max"), (2, "logsumexp")])
def test_unroll_mode_is_the_derivative_of_theta_k(m, reduce):
    """`unroll:K`: the output θ_K (K steps from 0) is within ‖θ_K − θ̂‖_∞ ≤ η^K ‖θ̂‖_∞ for m = 1
    (SPEC §8.3); its gradient is the exact derivative of θ_K (central differences of θ_K); for
    K ≥ log(1e-12)/log η both equal the exact layer's to 1e-9."""
    k, eta = 5, 0.75
    w, f, _ = random_model(k, m, seed=81)
    g = np.random.default_rng(82).normal(size=k)
    kw = dict(reduce=reduce, temperature=0.5)
    theta_hat = np.asarray(implicit_values(w, f, eta, **kw))
    for K in (1, 3, 10):
        theta_k = np.asarray(implicit_values(w, f, eta, grad=f"unroll:{K}", **kw))
        if m is None:
            assert np.abs(theta_k - theta_hat).max() <= eta**K * np.abs(theta_hat).max() * (1 + 1e-12)
    K = 4

    def loss(w, f, eta):
        return jnp.dot(jnp.asarray(g), implicit_values(w, f, eta, grad=f"unroll:{K}", **kw))

    dw, df, deta = jax.grad(loss, argnums=(0, 1, 2))(w, f, eta)
    assert_central_differences(loss, w, f, eta, (dw, df, deta))
    K = int(np.ceil(np.log(1e-12) / np.log(eta)))
    theta_k, grads_k = jax_vjp(w, f, eta, g, grad=f"unroll:{K}", **kw)
    theta, grads = jax_vjp(w, f, eta, g, **kw)
    assert rel_err(np.asarray(theta_k), np.asarray(theta)) < 1e-10
    for a, b in zip(grads_k, grads):
        assert rel_err(np.asarray(a), np.asarray(b)) < 1e-9


def batch_of_models(b, k, m, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (b, k, m)), rng.normal(0, 2, (b, k, m, k)), rng.uniform(0.5, 0.95, b)


class CountCalls:
    """Counts the calls of the native batch functions."""

    def __init__(self, monkeypatch):
        self.calls = {"implicit_values_batch": 0, "implicit_vjp_batch": 0}
        for name in self.calls:
            real = getattr(native, name)

            def counted(*args, _real=real, _name=name, **kwargs):
                self.calls[_name] += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(native, name, counted)


@pytest.mark.parametrize("reduce", ["max", "logsumexp"])
def test_vmap_equals_a_loop_in_one_native_call(reduce, monkeypatch):
    b, k, m = 6, 5, 3
    w, f, eta = batch_of_models(b, k, m, seed=21)
    g = np.random.default_rng(22).normal(size=(b, k))
    counter = CountCalls(monkeypatch)
    theta, (dw, df, deta) = jax.vmap(lambda *a: jax_vjp(*a, reduce=reduce))(w, f, eta, g)
    assert counter.calls == {"implicit_values_batch": 1, "implicit_vjp_batch": 1}
    for i in range(b):
        model = imprl.ImplicitModel(w[i], f[i], eta[i], reduce=reduce)
        grads = model.vjp(g[i])
        assert same_bits(theta[i], model.theta)
        assert same_bits(dw[i], grads["w"]) and same_bits(df[i], grads["logits"])
        assert same_bits(deta[i], np.float64(grads["eta"]))


def test_vmap_with_a_shared_argument_and_jacrev():
    """An unbatched η (in_axes None), and `jax.jacrev` (a vmap over cotangents in the backward
    pass with unbatched residuals) against the rows of `ImplicitModel.vjp`."""
    b, k = 4, 5
    rng = np.random.default_rng(5)
    w, f = rng.normal(size=(b, k)), rng.normal(size=(b, k, k))
    theta = jax.vmap(implicit_values, in_axes=(0, 0, None))(w, f, 0.9)
    for i in range(b):
        assert same_bits(theta[i], imprl.ImplicitModel(w[i], f[i], 0.9).theta)
    jac = jax.jacrev(implicit_values)(w[0], f[0], 0.9)
    model = imprl.ImplicitModel(w[0], f[0], 0.9)
    rows = np.stack([model.vjp(e)["w"] for e in np.eye(k)])
    assert same_bits(jac, rows)


def test_jit_equals_eager():
    w, f, eta = random_model(6, 2, seed=8)
    g = np.random.default_rng(9).normal(size=6)

    def loss(w, f, eta):
        return jnp.dot(jnp.asarray(g), implicit_values(w, f, eta, reduce="logsumexp"))

    eager = (implicit_values(w, f, eta, reduce="logsumexp"),
             jax.grad(loss, argnums=(0, 1, 2))(w, f, eta))
    jitted = (jax.jit(lambda *a: implicit_values(*a, reduce="logsumexp"))(w, f, eta),
              jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(w, f, eta))
    assert same_bits(eager[0], jitted[0])
    for a, b in zip(eager[1], jitted[1]):
        assert same_bits(a, b)


def test_two_leading_batch_dimensions(monkeypatch):
    """w (2, 3, k, m), logits (2, 3, k, m, k), η of shape (3,) broadcast over the first axis;
    one native call forward and one backward, and η's gradient summed over its broadcast."""
    k, m = 4, 2
    rng = np.random.default_rng(31)
    w, f = rng.normal(size=(2, 3, k, m)), rng.normal(0, 2, (2, 3, k, m, k))
    eta = np.array([0.6, 0.8, 0.9])
    g = rng.normal(size=(2, 3, k))
    counter = CountCalls(monkeypatch)
    theta, (dw, df, deta) = jax_vjp(w, f, eta, g, reduce="logsumexp", temperature=0.7)
    assert counter.calls == {"implicit_values_batch": 1, "implicit_vjp_batch": 1}
    assert theta.shape == (2, 3, k) and dw.shape == w.shape and df.shape == f.shape
    assert deta.shape == (3,)
    for j in range(3):
        per_model = []
        for i in range(2):
            model = imprl.ImplicitModel(w[i, j], f[i, j], eta[j], "logsumexp", 0.7)
            grads = model.vjp(g[i, j])
            assert same_bits(theta[i, j], model.theta)
            assert same_bits(dw[i, j], grads["w"]) and same_bits(df[i, j], grads["logits"])
            per_model.append(grads["eta"])
        assert float(deta[j]) == per_model[0] + per_model[1]


def test_the_paper_shapes_with_a_batch_dimension():
    """w (b, k) with logits (b, k, k) is a batch of the paper's models; w (k, k) with logits
    (k, k, k) is one model with m = k unless η has the batch's shape."""
    k = 3
    rng = np.random.default_rng(41)
    w, f = rng.normal(size=(k, k)), rng.normal(size=(k, k, k))
    eta = np.array([0.5, 0.7, 0.9])
    batch = implicit_values(w, f, eta)
    for i in range(k):
        assert same_bits(batch[i], imprl.ImplicitModel(w[i], f[i], eta[i]).theta)
    one = implicit_values(w, f, 0.7)
    assert same_bits(one, imprl.ImplicitModel(w, f, 0.7).theta)
    # η with w's number of dimensions: per state and pseudo-action of the (k, m) reading.
    each = np.array([[0.5, 0.6, 0.7], [0.8, 0.9, 0.5], [0.6, 0.7, 0.8]])
    assert same_bits(implicit_values(w, f, each), imprl.ImplicitModel(w, f, each).theta)


def test_float32_in_float32_out_computed_in_float64():
    w, f, eta = random_model(5, 2, seed=51)
    w32, f32, eta32 = w.astype(np.float32), f.astype(np.float32), np.float32(eta)
    g32 = np.random.default_rng(52).normal(size=5).astype(np.float32)
    theta, (dw, df, deta) = jax_vjp(w32, f32, eta32, g32, reduce="logsumexp")
    assert theta.dtype == dw.dtype == df.dtype == deta.dtype == jnp.float32
    model = imprl.ImplicitModel(w32.astype(np.float64), f32.astype(np.float64), float(eta32),
                                reduce="logsumexp")
    grads = model.vjp(g32.astype(np.float64))
    assert same_bits(theta, model.theta.astype(np.float32))
    assert same_bits(dw, grads["w"].astype(np.float32))
    assert same_bits(df, grads["logits"].astype(np.float32))
    assert same_bits(deta, np.float32(grads["eta"]))


def test_float32_without_x64():
    """With JAX's default float32 (x64 disabled) the layer still solves in float64."""
    w, f, eta = random_model(5, seed=53)
    jax.config.update("jax_enable_x64", False)
    try:
        theta = jax.jit(implicit_values)(w, f, eta)
        dw = jax.grad(lambda w: implicit_values(w, f, eta).sum())(w)
    finally:
        jax.config.update("jax_enable_x64", True)
    assert theta.dtype == dw.dtype == np.float32
    model = imprl.ImplicitModel(w.astype(np.float32).astype(np.float64),
                                f.astype(np.float32).astype(np.float64), float(np.float32(eta)))
    assert same_bits(theta, model.theta.astype(np.float32))
    assert same_bits(dw, model.vjp(np.ones(5))["w"].astype(np.float32))


def test_a_failed_model_raises_eagerly_and_is_nan_under_jit():
    rng = np.random.default_rng(61)
    w, f = rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 4))
    eta = np.array([0.5, 1.0, 0.9])  # model 1 is refused: η = 1
    with pytest.raises(ValueError, match=r"model \(1,\) of the batch: invalid value for `eta`"):
        implicit_values(w, f, eta)
    with pytest.raises(ValueError, match="`eta`"):
        jax.grad(lambda e: implicit_values(w[0], f[0], e).sum())(1.0)
    bad_w = w.copy()
    bad_w[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"model \(2,\) of the batch: invalid value for `w`"):
        implicit_values(bad_w, f, 0.9)
    for theta in (np.asarray(jax.jit(implicit_values)(w, f, eta)),
                  np.asarray(jax.vmap(implicit_values)(w, f, eta)),
                  np.asarray(implicit_values(w, f, eta, on_failure="nan"))):
        assert np.isnan(theta[1]).all()
        assert np.isfinite(theta[[0, 2]]).all()
        assert same_bits(theta[0], imprl.ImplicitModel(w[0], f[0], 0.5).theta)
    grad = np.asarray(jax.jit(jax.grad(lambda e: implicit_values(w, f, e).sum()))(eta))
    assert np.isnan(grad[1]) and np.isfinite(grad[[0, 2]]).all()


def test_a_failed_solve_raises_eagerly_and_is_nan_under_jit():
    w = np.array([[1e308, -1e308, 1e308], [1.0, 2.0, 3.0]])
    f = np.zeros((2, 3, 3))
    with pytest.raises(RuntimeError, match=r"model \(0,\) of the batch: θ̂ cannot be solved"):
        implicit_values(w, f, 0.999999)
    theta = np.asarray(jax.jit(implicit_values)(w, f, 0.999999))
    assert np.isnan(theta[0]).all()
    assert same_bits(theta[1], imprl.ImplicitModel(w[1], f[1], 0.999999).theta)


def test_nothing_panics_across_the_boundary():
    """Extreme inputs end in ordinary exceptions (a PanicException derives from BaseException,
    not Exception) or in results, in both directions."""
    extreme = [
        (np.array([1e308, -1e308, 1e308]), np.zeros((3, 3)), 0.999999),
        (np.zeros(3), np.full((3, 3), -1e308), 0.5),
        (np.full((3, 2), 1e300), np.full((3, 2, 3), 1e308), 0.99),
        (np.zeros(1), np.zeros((1, 1)), 0.0),
        (np.zeros((0, 3)), np.zeros((0, 3, 3)), 0.5),
    ]
    for w, f, eta in extreme:
        for reduce, tau in (("max", 1.0), ("logsumexp", 1e-300), ("logsumexp", 1e300)):
            kw = dict(reduce=reduce, temperature=tau)
            try:
                implicit_values(w, f, eta, **kw)
                jax.grad(lambda w: implicit_values(w, f, eta, **kw).sum())(w)
                jax.grad(lambda w: implicit_values(w, f, eta, **kw).sum())(np.full_like(w, 1e308))
            except Exception:
                pass


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"reduce": "min"}, "reduce"),
        ({"reduce": None}, "reduce"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "1"}, "temperature"),
        ({"on_failure": "ignore"}, "on_failure"),
        ({"grad": "unroll-warm:3"}, "init"),
        ({"grad": "unroll-warm:3", "init": None}, "init"),
        ({"init": np.zeros(4)}, "init"),
        ({"init": np.zeros((2, 3))}, "init"),
        ({"init": np.zeros(3, dtype=complex)}, "init"),
        ({"eta": np.full((3, 1), 0.5)}, "eta"),
        ({"w": np.zeros((3, 2)), "logits": np.zeros((3, 2, 3)), "eta": np.full((3, 3), 0.5)},
         "eta"),
        ({"w": np.zeros((3, 2)), "logits": np.zeros((3, 2, 3)), "eta": np.full(2, 0.5)}, "eta"),
        ({"grad": "unroll:0"}, "grad"),
        ({"grad": "truncated"}, "grad"),
        ({"grad": 3}, "grad"),
        ({"w": np.zeros(())}, "w"),
        ({"w": np.zeros((3, 0)), "logits": np.zeros((3, 0, 3))}, "w"),
        ({"logits": np.zeros((3, 2))}, "logits"),
        ({"logits": np.zeros((3, 3, 3))}, "logits"),
        ({"w": np.zeros((3, 2)), "logits": np.zeros((3, 2, 4))}, "logits"),
        ({"eta": np.full(2, 0.5)}, "eta"),
        ({"w": np.zeros((2, 3)), "logits": np.zeros((2, 3, 3)), "eta": np.full(3, 0.5)}, "eta"),
        ({"w": np.zeros(3, dtype=complex)}, "w"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    args = {"w": np.zeros(3), "logits": np.zeros((3, 3)), "eta": 0.5, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        implicit_values(args.pop("w"), args.pop("logits"), args.pop("eta"), **args)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: native.implicit_values_batch(np.zeros((2, 3)), np.zeros((2, 3, 1, 3)),
                                              np.zeros(2)), "w"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 2)),
                                              np.zeros(2)), "logits"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros(3)), "eta"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1), dtype=np.float32),
                                              np.zeros((2, 3, 1, 3)), np.zeros(2)), "w"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros(2), "min"), "reduce"),
        (lambda: native.implicit_vjp_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                           np.zeros(2), np.zeros((2, 4))), "g"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros((2, 3))), "eta"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros((2, 3, 2))), "eta"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros(2), init=np.zeros((2, 4))), "init"),
        (lambda: native.implicit_values_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                              np.zeros(2), grad="unroll-warm:2"), "init"),
        (lambda: native.implicit_vjp_batch(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 3)),
                                           np.zeros(2), np.zeros((2, 3)),
                                           theta_hat=np.zeros(2)), "theta_hat"),
    ],
)
def test_the_native_batch_functions_name_bad_arguments(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()


# Discounts per state and pseudo-action (SPEC §8.2).


def per_sa_model(k, m, seed):
    """w, logits and η_ka in [0.5, 0.95) of one model; m None: the paper's shapes, η (k,)."""
    rng = np.random.default_rng(seed)
    shape = (k,) if m is None else (k, m)
    return rng.normal(0, 1, shape), rng.normal(0, 2, shape + (k,)), rng.uniform(0.5, 0.95, shape)


def assert_greedy_margin(w, f, eta, margin=1e-2):
    """For max with m > 1: a unique greedy pseudo-action in every state, by a margin the
    differences cannot cross."""
    theta = imprl.ImplicitModel(w, f, eta).theta
    q = w + eta * np.einsum("kaj,j->ka", softmax_last(f), theta)
    top2 = np.sort(q, axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] > margin)


@pytest.mark.parametrize(
    "m,reduce,tau", [(None, "max", 1.0), (1, "logsumexp", 0.5), (2, "max", 1.0),
                     (2, "logsumexp", 0.5)]
)
def test_per_state_action_eta_gradients_match_central_differences(m, reduce, tau):
    """∂L/∂η_ka = u_k π_ka (S_aθ̂)_k in η's shape, and ∂L/∂w, ∂L/∂F, against central differences
    in float64; θ̂ against the fixed point θ̂ = reduce_a(w_·a + η_·a ⊙ S_a θ̂)."""
    k = 4
    w, f, eta = per_sa_model(k, m, seed=91)
    kw = dict(reduce=reduce, temperature=tau)
    if m == 2 and reduce == "max":
        assert_greedy_margin(w, f, eta)
    g = np.random.default_rng(92).normal(size=k)
    theta = np.asarray(implicit_values(w, f, eta, **kw))
    q = (w + eta * np.einsum("...j,j->...", softmax_last(f), theta)).reshape(k, -1)
    reduced = q.max(axis=1) if reduce == "max" else tau * np.log(np.exp(q / tau).sum(axis=1))
    np.testing.assert_allclose(reduced, theta, rtol=1e-10, atol=1e-12)

    def loss(w, f, eta):
        return jnp.dot(jnp.asarray(g), implicit_values(w, f, eta, **kw))

    dw, df, deta = jax.grad(loss, argnums=(0, 1, 2))(w, f, eta)
    assert deta.shape == eta.shape
    assert_central_differences(loss, w, f, eta, (dw, df, deta))


@pytest.mark.parametrize("m,reduce", [(None, "max"), (2, "max"), (3, "logsumexp")])
def test_per_state_action_eta_equals_implicit_model_bit_for_bit(m, reduce):
    k = 5
    w, f, eta = per_sa_model(k, m, seed=93)
    g = np.random.default_rng(94).normal(size=k)
    model = imprl.ImplicitModel(w, f, eta, reduce=reduce)
    assert same_bits(model.eta, eta)
    expected = model.vjp(g)
    theta, (dw, df, deta) = jax_vjp(w, f, eta, g, reduce=reduce)
    assert same_bits(theta, model.theta)
    assert same_bits(dw, expected["w"]) and same_bits(df, expected["logits"])
    assert same_bits(deta, expected["eta"]) and deta.shape == eta.shape
    # The per-model η is the sum of the per-state-action gradient at equal discounts.
    one = imprl.ImplicitModel(w, f, 0.8, reduce=reduce)
    each = imprl.ImplicitModel(w, f, np.full_like(eta, 0.8), reduce=reduce)
    np.testing.assert_allclose(each.theta, one.theta, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.sum(each.vjp(g)["eta"]), one.vjp(g)["eta"], rtol=1e-10)
    if m is not None:  # the same Newton solve: the same bits
        assert same_bits(each.theta, one.theta)


def test_a_per_action_eta_broadcasts_and_its_gradient_is_summed():
    """η of shape (1, m) (one per pseudo-action) is η_ka = eta[0, a]; its gradient is the
    per-state-action one summed over the states."""
    k, m = 4, 3
    w, f, _ = per_sa_model(k, m, seed=95)
    eta_a = np.array([[0.6, 0.8, 0.9]])
    g = np.random.default_rng(96).normal(size=k)
    theta, (_, _, deta) = jax_vjp(w, f, eta_a, g, reduce="logsumexp")
    assert deta.shape == (1, m)
    full = np.broadcast_to(eta_a, (k, m)).copy()
    model = imprl.ImplicitModel(w, f, full, reduce="logsumexp")
    assert same_bits(theta, model.theta)
    np.testing.assert_allclose(deta[0], model.vjp(g)["eta"].sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("reduce", ["max", "logsumexp"])
def test_per_state_action_eta_vmap_and_a_batch_equal_a_loop(reduce, monkeypatch):
    b, k, m = 5, 4, 2
    rng = np.random.default_rng(97)
    w, f = rng.normal(size=(b, k, m)), rng.normal(0, 2, (b, k, m, k))
    eta = rng.uniform(0.5, 0.95, (b, k, m))
    g = rng.normal(size=(b, k))
    counter = CountCalls(monkeypatch)
    mapped = jax.vmap(lambda *a: jax_vjp(*a, reduce=reduce))(w, f, eta, g)
    batched = jax_vjp(w, f, eta, g, reduce=reduce)
    assert counter.calls == {"implicit_values_batch": 2, "implicit_vjp_batch": 2}
    for theta, (dw, df, deta) in (mapped, batched):
        assert deta.shape == (b, k, m)
        for i in range(b):
            model = imprl.ImplicitModel(w[i], f[i], eta[i], reduce=reduce)
            grads = model.vjp(g[i])
            assert same_bits(theta[i], model.theta)
            assert same_bits(dw[i], grads["w"]) and same_bits(df[i], grads["logits"])
            assert same_bits(deta[i], grads["eta"])
    # η shared by the batch (in_axes None): its gradient is the sum over the models.
    shared = eta[0]
    _, (_, _, deta) = jax_vjp(w, f, shared[None], g, reduce=reduce)
    loop = sum(imprl.ImplicitModel(w[i], f[i], shared, reduce=reduce).vjp(g[i])["eta"]
               for i in range(b))
    np.testing.assert_allclose(np.asarray(deta)[0], loop, rtol=1e-12)


def test_per_state_action_eta_and_init_jit_equals_eager():
    w, f, eta = per_sa_model(5, 2, seed=98)
    init = np.random.default_rng(99).normal(size=5)
    g = np.random.default_rng(100).normal(size=5)
    for grad in ("ift", "truncated:3", "unroll:4", "unroll-warm:4"):
        kw = dict(reduce="logsumexp", grad=grad, init=init)

        def loss(w, f, eta):
            return jnp.dot(jnp.asarray(g), implicit_values(w, f, eta, **kw))

        eager = (implicit_values(w, f, eta, **kw), jax.grad(loss, argnums=(0, 1, 2))(w, f, eta))
        jitted = (jax.jit(lambda *a: implicit_values(*a, **kw))(w, f, eta),
                  jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(w, f, eta))
        assert same_bits(eager[0], jitted[0])
        for a, b in zip(eager[1], jitted[1]):
            assert same_bits(a, b)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eta": np.array([0.5, 1.0, 0.5])}, r"`eta`: an array whose entry \(1, 0\) is 1"),
        ({"eta": np.array([0.5, -0.1, 0.5])}, r"`eta`: an array whose entry \(1, 0\)"),
        ({"eta": np.array([0.5, 0.5, np.nan])}, r"`eta`: an array whose entry \(2, 0\) is NaN"),
    ],
)
def test_a_per_state_action_eta_out_of_range_is_named(kwargs, match):
    args = {"w": np.zeros(3), "logits": np.zeros((3, 3)), **kwargs}
    with pytest.raises(ValueError, match=match):
        implicit_values(args["w"], args["logits"], args["eta"])
    with pytest.raises(ValueError, match=r"model \(1,\) of the batch: invalid value for `eta`"):
        implicit_values(np.zeros((2, 3)), np.zeros((2, 3, 3)),
                        np.stack([np.full(3, 0.5), args["eta"]]))
    theta = np.asarray(jax.jit(implicit_values)(np.zeros((2, 3)), np.zeros((2, 3, 3)),
                                                np.stack([np.full(3, 0.5), args["eta"]])))
    assert np.isnan(theta[1]).all() and np.isfinite(theta[0]).all()


@pytest.mark.parametrize(
    "eta,match",
    [
        (np.full((3, 2), 0.5), r"`eta`: an array of shape \[3, 2\]"),
        (np.full(4, 0.5), r"`eta`: an array of shape \[4\]"),
        (np.array([0.5, 1.0, 0.2]), r"`eta`: an array whose entry \(1, 0\) is 1"),
        (np.array([0.5, np.inf, 0.2]), r"`eta`: an array whose entry \(1, 0\) is inf"),
        (["a", "b", "c"], "`eta`"),
        ([[0.5]] * 3, "`eta`"),
    ],
)
def test_implicit_model_names_a_bad_per_state_action_eta(eta, match):
    with pytest.raises(ValueError, match=match):
        imprl.ImplicitModel(np.zeros(3), np.zeros((3, 3)), eta)


def test_implicit_model_per_state_action_eta_shapes():
    w, f, eta = per_sa_model(4, None, seed=101)
    model = imprl.ImplicitModel(w, f, list(eta))
    assert model.eta.shape == (4,) and model.vjp(np.ones(4))["eta"].shape == (4,)
    assert "per state-action" in repr(model)
    w2, f2, eta2 = per_sa_model(4, 2, seed=102)
    model = imprl.ImplicitModel(w2, f2, eta2)
    assert model.eta.shape == (4, 2) and model.vjp(np.ones(4))["eta"].shape == (4, 2)
    assert isinstance(imprl.ImplicitModel(w, f, np.float64(0.5)).eta, float)
    theta = model.theta.copy()
    model.step(np.ones(4), 0.01)  # η stays
    assert same_bits(model.eta, eta2) and not same_bits(model.theta, theta)


# `init`: the warm start of the solve, θ_0 of the unrolled modes (SPEC §8.3).


@pytest.mark.parametrize("m,reduce", [(None, "max"), (2, "max"), (3, "logsumexp")])
def test_a_warm_start_equals_the_cold_solve_within_its_tolerance(m, reduce):
    k = 6
    w, f, eta = random_model(k, m, seed=111, eta=0.9)
    g = np.random.default_rng(112).normal(size=k)
    cold, (cdw, cdf, cdeta) = jax_vjp(w, f, eta, g, reduce=reduce)
    # The start of a training loop: θ̂ of the model one small step before; and a far one.
    near = np.asarray(implicit_values(w, f + 0.05, eta, reduce=reduce)) + 0.01
    far = np.random.default_rng(113).normal(0, 50, k)
    for init in (near, far):
        theta, pull = jax.vjp(
            lambda w, f, e, i: implicit_values(w, f, e, reduce=reduce, init=i), w, f, eta, init
        )
        dw, df, deta, dinit = pull(jnp.asarray(g))
        scale = np.abs(np.asarray(cold)).max()
        assert np.abs(np.asarray(theta) - np.asarray(cold)).max() <= 1e-9 * scale
        assert rel_err(np.asarray(dw), np.asarray(cdw)) < 1e-9
        assert rel_err(np.asarray(df), np.asarray(cdf)) < 1e-9
        assert abs(float(deta) - float(cdeta)) <= 1e-9 * abs(float(cdeta))
        assert same_bits(dinit, np.zeros(k))  # a stop-gradient
        if m is None:  # one LU solve: a start changes nothing
            assert same_bits(theta, cold) and same_bits(dw, cdw)


def test_the_backward_pass_starts_at_the_forward_theta(monkeypatch):
    """The backward pass gets θ̂ of the forward pass (float64, also for float32 inputs) as the
    start of its solve, and its gradients are those of `ImplicitModel.vjp` bit for bit."""
    w, f, eta = random_model(5, 3, seed=114)
    g = np.random.default_rng(115).normal(size=5)
    seen = []
    real = native.implicit_vjp_batch

    def spy(*args, **kwargs):
        seen.append(kwargs["theta_hat"])
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "implicit_vjp_batch", spy)
    model = imprl.ImplicitModel(w, f, eta, reduce="logsumexp")
    theta, (dw, _, _) = jax_vjp(w, f, eta, g, reduce="logsumexp")
    assert same_bits(seen[-1][0], model.theta) and same_bits(dw, model.vjp(g)["w"])
    w32, f32 = w.astype(np.float32), f.astype(np.float32)
    jax_vjp(w32, f32, np.float32(eta), g.astype(np.float32), reduce="logsumexp")
    model32 = imprl.ImplicitModel(w32.astype(np.float64), f32.astype(np.float64),
                                  float(np.float32(eta)), reduce="logsumexp")
    assert same_bits(seen[-1][0], model32.theta)


def numpy_steps(w, f, eta, theta0, steps, reduce, tau):
    """K steps θ ← reduce_a(w_·a + η_·a (S_a θ)) from θ_0, in NumPy."""
    s = softmax_last(f)
    theta = np.array(theta0, dtype=np.float64)
    for _ in range(steps):
        q = w + eta * np.einsum("kaj,j->ka", s, theta)
        theta = q.max(axis=1) if reduce == "max" else tau * np.log(np.exp(q / tau).sum(axis=1))
    return theta


@pytest.mark.parametrize("reduce,tau", [("max", 1.0), ("logsumexp", 0.5)])
def test_unroll_warm_is_k_steps_from_init_and_its_gradient_holds_init_fixed(reduce, tau):
    k, m, K = 5, 2, 3
    w, f, eta = per_sa_model(k, m, seed=121)
    init = np.random.default_rng(122).normal(size=k)
    g = np.random.default_rng(123).normal(size=k)
    kw = dict(reduce=reduce, temperature=tau, init=init)
    theta_k = np.asarray(implicit_values(w, f, eta, grad=f"unroll-warm:{K}", **kw))
    np.testing.assert_allclose(theta_k, numpy_steps(w, f, eta, init, K, reduce, tau),
                               rtol=1e-13, atol=1e-13)
    assert same_bits(theta_k, implicit_values(w, f, eta, grad=f"unroll:{K}", **kw))
    # unroll:K without init starts at 0.
    np.testing.assert_allclose(
        np.asarray(implicit_values(w, f, eta, reduce=reduce, temperature=tau, grad=f"unroll:{K}")),
        numpy_steps(w, f, eta, np.zeros(k), K, reduce, tau), rtol=1e-13, atol=1e-13)

    def loss(w, f, eta, init):
        return jnp.dot(jnp.asarray(g), implicit_values(
            w, f, eta, reduce=reduce, temperature=tau, grad=f"unroll-warm:{K}", init=init))

    dw, df, deta, dinit = jax.grad(loss, argnums=(0, 1, 2, 3))(w, f, eta, init)
    assert same_bits(dinit, np.zeros(k))
    assert_central_differences(lambda w, f, e: loss(w, f, e, init), w, f, eta, (dw, df, deta))


def test_unroll_warm_carried_by_the_caller_is_the_trainers_recursion():
    """Calling unroll-warm:K with init = the previous call's output n times is n·K steps of
    value iteration from the first init (the parameters held fixed)."""
    k, m, K = 4, 3, 2
    w, f, eta = per_sa_model(k, m, seed=124)
    theta = np.zeros(k)
    for _ in range(5):
        theta = np.asarray(implicit_values(w, f, eta, reduce="logsumexp",
                                           grad=f"unroll-warm:{K}", init=theta))
    np.testing.assert_allclose(theta, numpy_steps(w, f, eta, np.zeros(k), 5 * K, "logsumexp", 1.0),
                               rtol=1e-12, atol=1e-13)


def test_init_under_vmap_equals_a_loop():
    b, k, m = 4, 5, 2
    rng = np.random.default_rng(125)
    w, f = rng.normal(size=(b, k, m)), rng.normal(0, 2, (b, k, m, k))
    eta, init, g = rng.uniform(0.5, 0.9, b), rng.normal(size=(b, k)), rng.normal(size=(b, k))
    for grad in ("ift", "unroll-warm:3"):
        def one(w, f, e, i, g):
            return jax_vjp(w, f, e, g, reduce="logsumexp", grad=grad, init=i)

        theta, grads = jax.vmap(one)(w, f, eta, init, g)
        for i in range(b):
            t, gr = one(w[i], f[i], eta[i], init[i], g[i])
            assert same_bits(theta[i], t)
            for a, c in zip(grads, gr):
                assert same_bits(a[i], c)


def test_a_non_finite_init_is_named_eagerly_and_nan_under_jit():
    w, f = np.random.default_rng(126).normal(size=(2, 3, 2)), np.zeros((2, 3, 2, 3))
    init = np.zeros((2, 3))
    init[1, 2] = np.nan
    for grad in ("ift", "unroll:2"):
        with pytest.raises(ValueError, match=r"model \(1,\) of the batch: invalid value for `init`"):
            implicit_values(w, f, 0.9, grad=grad, init=init)
        theta = np.asarray(jax.jit(lambda w, f, i: implicit_values(w, f, 0.9, grad=grad, init=i))(
            w, f, init))
        assert np.isnan(theta[1]).all() and np.isfinite(theta[0]).all()


def test_eager_calls_on_unfinished_inputs_do_not_deadlock_on_one_core():
    """JAX computes eager operations asynchronously and runs an eager callback on one of its
    worker threads: a callback reading an argument still being computed deadlocked on one core
    (k = 400, 32 models; the argument `logits + noise`). The layer waits for its eager arguments
    first. A hang fails by the timeout."""
    code = """
import os
if hasattr(os, "sched_setaffinity"):  # Linux (the CI): one core
    os.sched_setaffinity(0, {0})
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from imprl.jax import implicit_values
rng = np.random.default_rng(0)
w = jnp.asarray(rng.normal(size=(32, 400)))
logits = jnp.asarray(rng.normal(size=(32, 400, 400)))
for _ in range(3):
    theta = implicit_values(w, logits + 0.01 * jnp.asarray(rng.normal(size=logits.shape)), 0.95)
    g = jax.grad(lambda w: implicit_values(w, logits * 1.001, 0.95).sum())(w * 1.0)
assert np.isfinite(np.asarray(theta)).all() and np.isfinite(np.asarray(g)).all()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_importing_imprl_does_not_import_jax():
    code = "import sys, imprl; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_example_runs():
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### The implicit layer in JAX") :]
    code = section[section.index("```python\n") + 10 : section.index("```", section.index("```python\n") + 10)]
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    dw, df, deta = scope["grads"]
    assert dw.shape == (32, 10) and df.shape == (32, 10, 10) and deta.shape == ()
    assert scope["per_model"].shape == (32, 10) and np.isfinite(scope["per_model"]).all()


@pytest.mark.parametrize("k", [6, 40, 150])
def test_the_gmres_solver_agrees_with_lu_to_its_tolerance(k):
    """solver="gmres" (warm-started from init, or from 0): θ̂ and the gradients for w, logits
    and η as LU's to the solver's relative residual 1e-10, eager, jitted and batched."""
    rng = np.random.default_rng(k)
    w, f = rng.normal(0, 1, (3, k)), rng.normal(0, 2, (3, k, k))
    eta = np.array([0.5, 0.9, 0.99])
    g = rng.normal(size=(3, k))
    theta, (dw, df, deta) = jax_vjp(w, f, eta, g)
    start = theta + 0.01 * rng.normal(size=theta.shape)
    for init in (None, start):
        kw = dict(solver="gmres", init=init)
        t2, (dw2, df2, deta2) = jax_vjp(w, f, eta, g, **kw)
        for a, b in ((t2, theta), (dw2, dw), (df2, df), (deta2, deta)):
            a, b = np.asarray(a), np.asarray(b)
            assert np.max(np.abs(a - b)) <= 1e-8 * max(1.0, np.max(np.abs(b)))
        jitted = jax.jit(lambda w, f, e, i: implicit_values(w, f, e, solver="gmres", init=i))
        t3 = jitted(w, f, eta, theta if init is None else start)
        np.testing.assert_allclose(np.asarray(t3), np.asarray(theta), rtol=1e-8, atol=1e-9)
        # vmap: one call for the batch, the same models.
        per = jax.vmap(lambda w, f, e: implicit_values(w, f, e, solver="gmres"))(w, f, eta)
        np.testing.assert_allclose(np.asarray(per), np.asarray(theta), rtol=1e-8, atol=1e-9)


def test_the_gmres_solver_is_for_the_papers_model_only():
    w, f, eta = random_model(4, m=2)
    with pytest.raises(ValueError, match="`solver`"):
        implicit_values(w, f, eta, solver="gmres")
    w, f, _ = random_model(4)
    with pytest.raises(ValueError, match="`solver`"):
        implicit_values(w, f, np.full(4, 0.9), solver="gmres")  # η per state
    for bad in ("GMRES", "cg", None, 1):
        with pytest.raises(ValueError, match="`solver`"):
            implicit_values(w, f, 0.9, solver=bad)
    # The native functions name it too.
    args = (np.zeros((1, 4, 1)), np.zeros((1, 4, 1, 4)), np.full(1, 0.9))
    with pytest.raises(ValueError, match="`solver`"):
        native.implicit_values_batch(*args, solver="qr")
