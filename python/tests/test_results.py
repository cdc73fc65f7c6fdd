"""`imprl.sweep` and `imprl.load_results` against `imprl sweep` and `imprl export` (CSV and
Parquet)."""

import csv
import io
import math
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import imprl

GRID = {
    "domain": ["chain", "four-rooms"],
    "param": ["explicit", "implicit"],
    "eta": [0.8, 0.95],
    "seed": [0, 1],
    "steps": 30,
    "lr": {"chain.implicit": [0.125, 1e6]},
    "bias": [False, True],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    first = imprl.sweep(GRID, out, jobs=2, progress=False)
    assert first["ran"] == first["total"] > 0 and not first["interrupted"]
    assert first["diverged"] > 0, "the grid should hold a diverged run"
    return out


def test_a_sweep_resumes(store):
    again = imprl.sweep(GRID, store, progress=False)
    assert again["ran"] == 0 and again["skipped"] == again["total"]


def test_a_grid_file_is_the_same_sweep(tmp_path, cli):
    toml = tmp_path / "grid.toml"
    toml.write_text('domain = "chain"\nparam = ["explicit", "implicit"]\nseed = [0, 1]\nsteps = 20\n')
    imprl.sweep(str(toml), tmp_path / "py", progress=False)
    cli("sweep", "--config", toml, "--out", tmp_path / "cli", "--progress", "quiet")
    a = imprl.load_results(tmp_path / "py")
    b = imprl.load_results(tmp_path / "cli")
    pd.testing.assert_frame_equal(a, b)


def cell_equals(value, text, kind):
    if text == "":
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    if kind == "f":
        return float(text) == value and math.copysign(1, float(text)) == math.copysign(1, value)
    if kind in "iu":
        return int(text) == value
    if kind == "b":
        return {"true": True, "false": False}[text] == value
    return text == value


def test_load_results_equals_the_csv_export(store, cli, tmp_path):
    path = tmp_path / "runs.csv"
    cli("export", "--results", store, "--out", path)
    df = imprl.load_results(store)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(df.columns)
    assert len(rows) - 1 == len(df)
    kinds = {c: df[c].dtype.kind if df[c].dtype.kind in "fiub" else "O" for c in df.columns}
    for c in df.columns:
        values = df[c].astype(object).tolist()
        for i, row in enumerate(rows[1:]):
            text = row[list(df.columns).index(c)]
            assert cell_equals(values[i], text, kinds[c]), (c, i, text, values[i])


def test_dtypes_are_proper(store):
    df = imprl.load_results(store)
    assert df["eta"].dtype == np.float64 and df["lr"].dtype == np.float64
    assert df["seed"].dtype == np.int64 and df["steps"].dtype == np.int64
    assert df["bias"].dtype == np.bool_ and df["diverged"].dtype == np.bool_
    assert str(df["timestep"].dtype) == "Int64" and str(df["diverged_at"].dtype) == "Int64"
    assert df["mse"].dtype == np.float64
    assert pd.api.types.is_string_dtype(df["domain"])
    assert set(df["domain"]) == {"chain", "four-rooms"}
    assert df["diverged"].any() and df["diverged_at"].notna().any() and df["diverged_at"].isna().any()


def test_the_parquet_export_equals_both(store, cli, tmp_path):
    path = tmp_path / "runs.parquet"
    cli("export", "--results", store, "--format", "parquet", "--out", path)
    from_store = imprl.load_results(store)
    from_parquet = imprl.load_results(path)
    pd.testing.assert_frame_equal(from_parquet, from_store)
    ours = tmp_path / "ours.parquet"
    assert imprl.export_parquet(store, ours) == len(from_store)
    pd.testing.assert_frame_equal(imprl.load_results(ours), from_store)
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(path)
    assert table.column_names == list(from_store.columns)
    # The paper's domains are never flagged unstable: the table ends as the published one.
    assert [str(t) for t in table.schema.types][-3:] == ["double", "bool", "int64"]
    other = pd.read_parquet(path)
    for c in from_store.columns:
        a = from_store[c].astype(object).tolist()
        b = other[c].astype(object).tolist()
        same = [
            (x is pd.NA or x is None or (isinstance(x, float) and math.isnan(x)))
            == (y is pd.NA or y is None or (isinstance(y, float) and math.isnan(y)))
            and (x is pd.NA or x is None or (isinstance(x, float) and math.isnan(x)) or x == y)
            for x, y in zip(a, b)
        ]
        assert all(same), c


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit", "etta": 1}, d), "etta"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit", "eta": [0.5, 2]}, d), "eta"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit", "eta": [object()]}, d), "eta"),
        (lambda d: imprl.sweep({"param": "implicit"}, d), "domain"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit"}, d, jobs=0), "jobs"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit"}, d, jobs=-2), "jobs"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit"}, d, jobs="2"), "jobs"),
        (lambda d: imprl.sweep({"domain": "chain", "param": "implicit"}, 3), "out"),
        (lambda d: imprl.sweep(5, d), "grid"),
        (lambda d: imprl.load_results(5), "path"),
    ],
)
def test_bad_sweep_arguments_are_named(tmp_path, call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_results_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        imprl.load_results(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        imprl.load_results(tmp_path / "empty")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="bad.parquet"):
        imprl.load_results(bad)
    with pytest.raises(ValueError, match="grid.toml"):
        imprl.sweep(tmp_path / "grid.toml", tmp_path / "out")


def interrupt_after(seconds):
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_a_sweep_and_keeps_what_finished(tmp_path):
    grid = {"domain": "mountain-car", "param": "implicit", "seed": list(range(40)), "steps": 100}
    out = tmp_path / "store"
    timer = interrupt_after(0.5)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        imprl.sweep(grid, out, jobs=1, progress=False)
    timer.join()
    assert time.monotonic() - t0 < 5
    kept = imprl.load_results(out)
    n_kept = kept.groupby("seed").ngroups
    assert 0 < n_kept < 40
    rest = imprl.sweep(grid, out, jobs=2, progress=False)
    assert rest["skipped"] == n_kept and rest["ran"] == 40 - n_kept


def test_ctrl_c_stops_a_run():
    timer = interrupt_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        imprl.run("mountain-car", "implicit", steps=10**7)
    timer.join()
    assert time.monotonic() - t0 < 5
    # The interpreter goes on normally.
    assert len(imprl.run("chain", "explicit", steps=10)["mse"]) == 2


def test_a_sweep_keeps_theta_as_the_cli_and_run_do(tmp_path, cli):
    """`sweep(save_params=True)` keeps each run's final theta: `load_results(table="theta")`
    equals `imprl export --table theta`, and each run's rows are `run(params=True)`'s theta."""
    grid = {"domain": "chain", "param": ["implicit", "explicit"], "steps": 15, "seed": [0, 3]}
    out = tmp_path / "kept"
    imprl.sweep(grid, out, jobs=1, progress=False, save_params=True)
    theta = imprl.load_results(out, table="theta")
    assert list(theta.columns[-2:]) == ["index", "theta"]
    assert len(theta) == 4 * 11 and theta["index"].dtype == np.int64
    text = cli("export", "--table", "theta", "--results", out).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [float(r["theta"]) for r in rows] == theta["theta"].tolist()
    for (param, seed), group in theta.groupby(["param", "seed"]):
        run = imprl.run("chain", param, steps=15, seed=seed, params=True)
        assert group.sort_values("index")["theta"].to_numpy().tobytes() == run["params"]["theta"].tobytes()
    # Without the option nothing is kept; an unknown table is named.
    imprl.sweep(grid, tmp_path / "plain", jobs=1, progress=False)
    assert len(imprl.load_results(tmp_path / "plain", table="theta")) == 0
    with pytest.raises(ValueError, match="`table`"):
        imprl.load_results(out, table="thetas")
