"""`imprl.run` against `imprl run`: the same numbers, bit for bit, and the same errors."""

import csv
import io

import numpy as np
import pytest

import imprl

PUBLISHED_COLUMNS = ["timestep", "mse", "res_ones_norm", "res_ortho_norm", "residual_norm"]


def flags(settings):
    out = []
    for k, v in settings.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            out += [flag] if v else []
        else:
            out += [flag, v]
    return out


def cli_log(cli, domain, param, **settings):
    p = cli("run", "--domain", domain, "--param", param, *flags(settings))
    rows = list(csv.reader(io.StringIO(p.stdout)))
    assert rows[0][: len(PUBLISHED_COLUMNS)] == PUBLISHED_COLUMNS
    return rows, p.stderr


def assert_same_log(log, rows):
    """Every column of the CLI's log is a key of `run`'s result, with the same bits; the
    result has nothing else but `diverged_at` and the learning rate used."""
    header, rows = rows[0], rows[1:]
    assert set(log) == set(header) | {"diverged_at", "lr", "unstable"}
    # Unstable: a run that did not diverge and whose test loss grew past 1e6 times its first
    # evaluation (a diverged run is reported as diverged only).
    grew = bool(np.any(log["mse"] > 1e6 * log["mse"][0]))
    assert log["unstable"] is (grew and log["diverged_at"] is None)
    assert isinstance(log["lr"], float) and log["lr"] > 0
    for j, name in enumerate(header):
        col = log[name]
        assert isinstance(col, np.ndarray) and col.dtype == np.float64, name
        assert len(col) == len(rows), name
        expected = np.array([float(r[j]) for r in rows], dtype=np.float64)
        # Bit for bit: the CLI writes each float in its shortest exact decimal form.
        assert col.tobytes() == expected.tobytes(), name


CASES = [
    ("chain", "explicit", {}),
    ("chain", "implicit", {}),
    ("chain", "explicit-matrix", {"eta": 0.8}),
    ("four-rooms", "implicit", {"steps": 40, "seed": 3, "slip": "stay"}),
    ("four-rooms", "explicit", {"batch_size": 7, "sampling": "without-replacement", "bias": True}),
    ("mountain-car", "implicit", {"steps": 20, "eval_every": 3, "offset": -1.5, "solver": "gmres"}),
    ("chain", "implicit", {"lr": 0.01, "eta": 0.5, "seed": 9223372036854775807}),
    ("chain", "implicit", {"learn_eta": "scalar", "steps": 30}),
    ("four-rooms", "implicit", {"actions": 2, "learn_eta": "per-state-action", "steps": 20}),
]


@pytest.mark.parametrize("domain,param,settings", CASES)
def test_run_equals_the_cli_bit_for_bit(cli, domain, param, settings):
    log = imprl.run(domain, param, **settings)
    rows, stderr = cli_log(cli, domain, param, **settings)
    assert_same_log(log, rows)
    if log["diverged_at"] is None:
        assert "diverged" not in stderr
    else:
        assert f"diverged after {log['diverged_at']} updates" in stderr


def test_a_diverged_run_says_where(cli):
    settings = {"lr": 1e6, "steps": 50}
    log = imprl.run("chain", "implicit", **settings)
    rows, stderr = cli_log(cli, "chain", "implicit", **settings)
    assert_same_log(log, rows)
    assert isinstance(log["diverged_at"], int)
    assert f"diverged after {log['diverged_at']} updates" in stderr


def test_settings_may_be_numpy_scalars():
    a = imprl.run("chain", "implicit", eta=np.float64(0.9), steps=np.int64(20), lr=np.float32(0.0625))
    b = imprl.run("chain", "implicit", eta=0.9, steps=20, lr=0.0625)
    for name in PUBLISHED_COLUMNS:
        assert a[name].tobytes() == b[name].tobytes()


BAD = [
    ({"eta": 1.0}, "eta", ["--eta", "1.0"]),
    ({"lr": -1}, "lr", ["--lr", "-1"]),
    ({"lr": float("nan")}, "lr", ["--lr", "nan"]),
    ({"batch_size": 0}, "batch_size", ["--batch-size", "0"]),
    ({"steps": "many"}, "steps", ["--steps", "many"]),
    ({"sampling": "sometimes"}, "sampling", ["--sampling", "sometimes"]),
    ({"solver": "cg"}, "solver", ["--solver", "cg"]),
    ({"seed": 2**63}, "seed", ["--seed", str(2**63)]),
]


@pytest.mark.parametrize("settings,name,args", BAD)
def test_bad_settings_raise_the_clis_message(cli, settings, name, args):
    with pytest.raises(ValueError, match=f"`{name}`") as e:
        imprl.run("chain", "implicit", **settings)
    p = cli("run", "--domain", "chain", "--param", "implicit", *args, check=False)
    assert p.returncode != 0
    assert str(e.value) in p.stderr


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: imprl.run("chian", "implicit"), "domain"),
        (lambda: imprl.run("chain", "implicitt"), "param"),
        (lambda: imprl.run(3, "implicit"), "domain"),
        (lambda: imprl.run("chain", None), "param"),
        (lambda: imprl.run("chain", "implicit", etta=0.5), "etta"),
        (lambda: imprl.run("chain", "implicit", eta=[0.5]), "eta"),
        (lambda: imprl.run("chain", "implicit", eta=None), "eta"),
        (lambda: imprl.run("chain", "implicit", bias=1), "bias"),
        (lambda: imprl.run("chain", "implicit", steps=-1), "steps"),
        (lambda: imprl.run("chain", "implicit", steps=2.5), "steps"),
        (lambda: imprl.run("chain", "implicit", seed=2**80), "seed"),
        (lambda: imprl.run("chain", "implicit", steps=10**12), "steps"),
        (
            lambda: imprl.run("chain", "implicit", sampling="without-replacement", batch_size=10**6),
            "batch_size",
        ),
    ],
)
def test_every_bad_argument_is_named(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()


def test_every_declared_setting_is_a_keyword():
    names = [s["name"] for s in imprl.settings()]
    assert names[:2] == ["domain", "param"]
    for s in imprl.settings()[2:]:
        assert s["name"] in imprl.run.__doc__
        with pytest.raises(ValueError, match=f"`{s['name']}`"):
            imprl.run("chain", "explicit", **{s["name"]: object()})


@pytest.mark.parametrize(
    "domain, param, settings",
    [
        ("chain", "implicit", {"steps": 30}),
        ("four-rooms", "explicit-matrix", {"steps": 20, "offset": 1.0}),
        ("chain", "implicit", {"steps": 20, "actions": 2, "learn_eta": "scalar"}),
    ],
)
@pytest.mark.parametrize("every", [None, 7])
def test_params_are_the_npz_of_the_cli_bit_for_bit(cli, tmp_path, domain, param, settings, every):
    """`run(params=True)` returns the arrays `imprl run --save-params` writes, with the same
    bits, dtypes and shapes; the predictions are the features times theta."""
    path = tmp_path / "p.npz"
    extra = ["--save-params", path] + (["--save-every", every] if every else [])
    cli("run", "--domain", domain, "--param", param, *flags(settings), *extra)
    saved = np.load(path)
    log = imprl.run(domain, param, params=True, save_every=every, **settings)
    got = log["params"]
    assert set(got) == set(saved.files)
    for name in saved.files:
        a, b = got[name], saved[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name
    theta = got["theta"] if every is None else got["theta"][-1]
    values = got["values_test"] if every is None else got["values_test"][-1]
    np.testing.assert_allclose(values, got["features_test"] @ theta, rtol=1e-12, atol=1e-12)
    # The settings read back, the learning rate used included.
    tomllib = pytest.importorskip("tomllib")
    toml = tomllib.loads(str(got["settings"]))
    assert toml["lr"] == log["lr"] and toml["domain"] == domain and toml["param"] == param


def test_save_every_needs_params():
    with pytest.raises(ValueError, match="save_every"):
        imprl.run("chain", "implicit", save_every=5)
