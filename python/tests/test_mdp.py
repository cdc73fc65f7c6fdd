"""`imprl.Mdp` and `Mdp.from_gymnasium` (SPEC §9.3) against independent oracles: V^π solved with
NumPy straight from Gymnasium's `env.P`, the test targets of `imprl dataset`, the least-squares
fit of the training targets reached by a full-batch run, and the file format's messages."""

import csv

import numpy as np
import pytest

import imprl

gym = pytest.importorskip("gymnasium")


def env_oracle(env, pi, gamma):
    """V^π from the toy-text table alone: V(s) = Σ_a π Σ p (r + γ [not done] V(s')); and the
    states an episode cannot be in (reached only with `done`, never started in)."""
    table = env.unwrapped.P
    n, m = len(table), len(table[0])
    A, b = np.eye(n), np.zeros(n)
    live = np.asarray(env.unwrapped.initial_state_distrib) > 0
    ended = np.zeros(n, dtype=bool)
    for s in range(n):
        for a in range(m):
            for p, s2, r, done in table[s][a]:
                b[s] += pi[s, a] * p * r
                if not done:
                    A[s, s2] -= gamma * pi[s, a] * p
                if p > 0:
                    (ended if done else live)[s2] = True
    return np.linalg.solve(A, b), ended & ~live


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    a = np.array(rows[1:], dtype=np.float64)
    return a[:, :-1], a[:, -1]


ENVS = [
    ("FrozenLake-v1", {"is_slippery": True}, 0.9),
    ("CliffWalking-v1", {}, 0.9),
]


def make(name, kwargs):
    if name not in gym.envs.registry:  # older Gymnasium
        name = name.replace("-v1", "-v0")
    return gym.make(name, **kwargs)


@pytest.mark.parametrize("name,kwargs,gamma", ENVS)
def test_gymnasium_values_and_dataset_targets_equal_a_numpy_solve(cli, tmp_path, name, kwargs, gamma):
    env = make(name, kwargs)
    n, m = env.observation_space.n, env.action_space.n
    rng = np.random.default_rng(0)
    pi = rng.uniform(0.2, 1.0, size=(n, m))
    pi /= pi.sum(axis=1, keepdims=True)
    mdp = imprl.Mdp.from_gymnasium(env, pi, gamma)
    oracle, ended = env_oracle(env, pi, gamma)
    assert ended.any()
    live = ~ended
    v = mdp.values()
    assert v.shape == (mdp.n_states,) and mdp.n_states >= n
    np.testing.assert_allclose(v[:n][live], oracle[live], rtol=1e-12, atol=1e-12)
    # States an episode cannot be in (reached only with `done`) are terminal: value 0.
    assert np.all(v[:n][ended] == 0.0) and np.all(v[n:] == 0.0)
    # `imprl dataset`'s test targets: every non-terminal state in index order, the same values.
    out = tmp_path / "d"
    cli("dataset", "--domain", mdp.domain(tmp_path), "--out", out)
    _, y_test = read_csv(out / "test.csv")
    np.testing.assert_allclose(y_test, oracle[live], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,kwargs,gamma", ENVS)
def test_a_full_batch_run_reaches_the_least_squares_fit(cli, tmp_path, name, kwargs, gamma):
    env = make(name, kwargs)
    n, m = env.observation_space.n, env.action_space.n
    pi = np.full((n, m), 1.0 / m)
    env_mdp = imprl.Mdp.from_gymnasium(env, pi, gamma)
    # Rollouts from every non-terminal state, so that every state of the test set is visited.
    start = np.ones(env_mdp.n_states)
    start[env_mdp.terminal] = 0.0
    mdp = imprl.Mdp(env_mdp.P, env_mdp.R, env_mdp.policy, gamma, start=start / start.sum(),
                    terminal=env_mdp.terminal, trajectories=200, length=60)
    out = tmp_path / "d"
    cli("dataset", "--domain", mdp.domain(tmp_path), "--out", out, "--seed", 3)
    X, y = read_csv(out / "train.csv")
    Xt, yt = read_csv(out / "test.csv")
    # Every state of the test set was visited, so the fit is unique on the test states.
    assert np.all((X != 0).sum(axis=0)[(Xt != 0).any(axis=0)] > 0)
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)
    best = np.linalg.norm(Xt @ theta - yt)
    lam = np.linalg.eigvalsh(X.T @ X / len(y))
    steps = 40000
    log = imprl.run(mdp, "explicit", seed=3, batch_size=len(y), sampling="without-replacement",
                    steps=steps, eval_every=steps, lr=1.0 / lam[-1])
    assert log["diverged_at"] is None
    np.testing.assert_allclose(log["residual_norm"][-1], best, rtol=1e-9)


def test_run_and_sweep_take_an_mdp_as_its_file(cli, tmp_path):
    env = make("FrozenLake-v1", {"is_slippery": True})
    mdp = imprl.Mdp.from_gymnasium(env, np.full((16, 4), 0.25), 0.9)
    path = mdp.to_toml(tmp_path / "lake.toml")
    a = imprl.run(mdp, "implicit", seed=2, lr=0.01)
    b = imprl.run(f"file:{path}", "implicit", seed=2, lr=0.01)
    for k in ("mse", "residual_norm"):
        assert a[k].tobytes() == b[k].tobytes()
    other = imprl.Mdp(mdp.P, mdp.R, mdp.policy, 0.8, start=mdp.start, terminal=mdp.terminal)
    grid = {"domain": [mdp, other], "param": "explicit", "seed": [0, 1], "lr": 0.1, "steps": 20}
    out = tmp_path / "store"
    s = imprl.sweep(grid, out, progress=False)
    assert (s["total"], s["ran"]) == (4, 4)
    s = imprl.sweep(grid, out, progress=False)
    assert (s["total"], s["skipped"], s["ran"]) == (4, 4, 0)
    df = imprl.load_results(out)
    names = sorted(set(df["domain"]))
    assert len(names) == 2 and all(x.startswith("file:") and "/mdp/" in x for x in names)
    assert sorted(x.rsplit("/", 1)[1][:32] for x in names) == sorted(
        h.content_hash[:32] + "" for h in (mdp, other))


def small():
    P = np.array([[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.25, 0.75]]])
    R = np.array([[0.0, 1.0], [2.0, 0.0]])
    pi = np.array([[0.5, 0.5], [1.0, 0.0]])
    return P, R, pi


def test_values_by_hand_and_rewards_per_transition():
    P, R, pi = small()
    mdp = imprl.Mdp(P, R, pi, 0.5)
    Ppi = np.einsum("sa,sat->st", pi, P)
    rpi = (pi * R).sum(axis=1)
    np.testing.assert_allclose(mdp.values(), np.linalg.solve(np.eye(2) - 0.5 * Ppi, rpi), rtol=1e-14)
    # R[s, a, s'] with the same expectation: the same values.
    R3 = np.stack([R, R], axis=2) + np.array([[[-1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [3.0, -1.0]]])
    ER = (P * R3).sum(axis=2)
    mdp3 = imprl.Mdp(P, R3, pi, 0.5)
    rpi3 = (pi * ER).sum(axis=1)
    np.testing.assert_allclose(mdp3.values(), np.linalg.solve(np.eye(2) - 0.5 * Ppi, rpi3), rtol=1e-14)


def test_bad_arrays_raise_the_file_formats_messages():
    P, R, pi = small()
    bad_p = P.copy()
    bad_p[0, 1] = [0.0, 0.97]
    cases = [
        (lambda: imprl.Mdp(bad_p, R, pi, 0.9), "transitions[0][1]: probabilities sum to 0.97, not 1"),
        (lambda: imprl.Mdp(P, R[:, :1], pi, 0.9), "rewards[0]: 1 entries, not 2 (actions)"),
        (lambda: imprl.Mdp(P, np.full((2, 2, 3), 1.0), pi, 0.9),
         "rewards[0][0]: 3 entries, not 2 (states)"),
        (lambda: imprl.Mdp(P, R, pi * 0.5, 0.9), "policy[0]: probabilities sum to 0.5, not 1"),
        (lambda: imprl.Mdp(P, R, pi, 1.0), "gamma: 1 is outside [0, 1)"),
        (lambda: imprl.Mdp(P, R, pi, 0.9, start=[0.5, 0.25]), "start: probabilities sum to 0.75, not 1"),
        (lambda: imprl.Mdp(P, R, pi, 0.9, terminal=[2]), "terminal[0]: 2 is out of range (2 states)"),
        (lambda: imprl.Mdp(P, np.where(R > 1, np.nan, R), pi, 0.9),
         "rewards[1][0]: NaN is not a finite number"),
        (lambda: imprl.Mdp(P[:, :, :1], R, pi, 0.9), "transitions: expected an array of shape (n, m, n)"),
        (lambda: imprl.Mdp(P, R, pi, 0.9, keep="some"), 'data.keep: "some" is not "first" or "all"'),
    ]
    for make_it, message in cases:
        with pytest.raises(ValueError) as e:
            make_it()
        assert str(e.value).startswith(message), (str(e.value), message)


def test_repeated_successors_are_summed_and_done_makes_terminal_copies():
    class Env:
        """Two states; from 0 action 0 reaches 1 twice (rewards 1 and 3) without done and 1 once
        with done (reward 5); state 1 loops."""

        P = {
            0: {0: [(0.25, 1, 1.0, False), (0.25, 1, 3.0, False), (0.5, 1, 5.0, True)]},
            1: {0: [(1.0, 1, 0.0, False)]},
        }
        initial_state_distrib = np.array([1.0, 0.0])

    gamma = 0.5
    mdp = imprl.Mdp.from_gymnasium(Env(), np.ones((2, 1)), gamma)
    # State 1 is reached with and without done: the done transition goes to its terminal copy 2.
    assert mdp.n_states == 3 and mdp.terminal == [2]
    np.testing.assert_array_equal(mdp.P[0, 0], [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(mdp.R[0, 0], [0.0, 2.0, 5.0])
    np.testing.assert_array_equal(mdp.start, [1.0, 0.0, 0.0])
    # V(1) = 0 (reward 0 forever); V(0) = 0.5·2 + 0.5·5 + γ·0.5·V(1).
    np.testing.assert_allclose(mdp.values(), [3.5, 0.0, 0.0], rtol=1e-15)
