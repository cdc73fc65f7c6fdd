"""`imprl study state-dependent` (python/imprl/state_dependent.py): the maps and their exact
values, the local model against the true one, a reduced study whose tables agree with its own
curves, determinism, and bad input."""

import csv
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imprl import state_dependent as sd
from imprl.jax import implicit_values

jax.config.update("jax_enable_x64", True)


def small(**kw):
    base = dict(sizes=(5,), offsets=(1.0,), methods=("explicit", "implicit", "unroll:3"),
                seeds=2, steps=30, every=10, batch=4, train_maps=16, test_maps=8, width=8,
                depth=2, lr=3e-3)
    base.update(kw)
    return sd.StudyOptions(**base)


def test_maps_are_distinct_reachable_and_their_values_exact():
    rng = np.random.default_rng(0)
    maps = sd.generate_maps(rng, 6, 40)
    keys = {(w.tobytes(), int(g)) for w, g in zip(maps.walls, maps.goal)}
    assert len(keys) == 40  # distinct: a split into training and test maps is disjoint
    for c in (0.0, 1.0, -2.5):
        values = sd.true_values(maps, c)
        for i in range(len(maps)):
            walls, goal = maps.walls[i], int(maps.goal[i])
            assert not walls.ravel()[goal]
            assert (sd._distances(walls, goal).ravel()[~walls.ravel()] >= 0).all()
            p = sd.policy_transitions(walls, goal)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-14)
            r = sd.rewards(p, goal, c)
            v = values[i]
            # The Bellman equation of the data policy, and entering the goal pays 1.
            np.testing.assert_allclose(v, r + sd.GAMMA * p @ v, rtol=0, atol=1e-12)
            assert v[goal] == pytest.approx(c / (1 - sd.GAMMA), abs=1e-12)
    # The offset adds c/(1 − γ) to every value: its component along 1.
    shift = sd.true_values(maps, 1.0) - sd.true_values(maps, 0.0)
    np.testing.assert_allclose(shift, 1 / (1 - sd.GAMMA), rtol=1e-12)


def test_the_local_model_of_the_true_transitions_gives_the_true_values():
    """The implicit parameterization can represent V^π exactly: the true P^π is local, and the
    dense logits built from its local logits give θ̂ = V^π through imprl.jax."""
    n = 6
    maps = sd.generate_maps(np.random.default_rng(3), n, 4)
    moves = sd.local_moves(n)
    mask = moves.sum(axis=0) > 0
    local = np.zeros((len(maps), n * n, len(sd.MOVES)))
    w = np.zeros((len(maps), n * n))
    for i in range(len(maps)):
        p = sd.policy_transitions(maps.walls[i], int(maps.goal[i]))
        # Each transition of P^π is one of the local moves.
        assert np.all((p > 0) <= mask)
        local[i] = np.log(np.maximum(np.einsum("akj,kj->ka", moves, p), 1e-300))
        w[i] = sd.rewards(p, int(maps.goal[i]), 0.5)
    logits = sd.model_logits(jnp.asarray(local), jnp.asarray(moves), jnp.asarray(mask))
    theta = implicit_values(w, logits, jnp.full(len(maps), sd.GAMMA))
    np.testing.assert_allclose(np.asarray(theta), sd.true_values(maps, 0.5), rtol=1e-10,
                               atol=1e-10)


def _read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_the_reduced_study_learns_writes_tables_that_agree_with_its_curves_and_resumes(tmp_path):
    opts = small(offsets=(0.0, 1.0))
    result = sd.run_study(str(tmp_path), opts, formats=("png",))
    names = sorted(os.path.basename(f) for f in result["files"])
    assert names == ["curves.csv", "state_dependent_5x5.png", "summary.csv", "summary.md"]
    curves = _read(tmp_path / "curves.csv")
    runs = {(r["offset"], r["method"], r["seed"]) for r in curves}
    assert len(runs) == 2 * 3 * 2
    for run in runs:
        mine = [r for r in result["curves"] if (repr(r["offset"]), r["method"], str(r["seed"]))
                == run]
        steps = [r["step"] for r in mine]
        assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == opts.steps
        # Training moves the held-out error down from the start.
        assert mine[-1]["test_rmse"] < 0.6 * mine[0]["test_rmse"], (run, mine[0], mine[-1])
        for r in mine:
            # RMSE² = (along 1)² + rest² per map, so the means obey ≤.
            assert max(r["test_one"], r["test_rest"]) <= r["test_rmse"] + 1e-12
    summary = _read(tmp_path / "summary.csv")
    assert len(summary) == 2 * 3 and all(r["best"] == "True" for r in summary)
    for row in summary:
        final = {}
        for r in curves:
            if (r["offset"], r["method"]) == (row["offset"], row["method"]):
                if int(r["step"]) >= final.get(r["seed"], (-1, None))[0]:
                    final[r["seed"]] = (int(r["step"]), r)
        for key in ("test_rmse", "test_one", "test_rest"):
            xs = [float(r[key]) for _, r in final.values()]
            assert float(row[key]) == pytest.approx(np.mean(xs), rel=1e-12)
            se = np.std(xs, ddof=1) / math.sqrt(len(xs))
            assert float(row[key + "_se"]) == pytest.approx(se, rel=1e-12)
    assert (tmp_path / "summary.md").read_text().count("| 5×5 |") == 6

    # Cut off in the middle of the last run's rows (a line without its newline): called again,
    # only that run runs, its maps made again from the seed, and gives the same numbers.
    path = tmp_path / "curves.csv"
    whole = path.read_text()
    lines = whole.splitlines(keepends=True)
    path.write_text("".join(lines[:-3]) + lines[-3][:7])
    told = []
    again = sd.run_study(str(tmp_path), small(offsets=(0.0, 1.0)), progress=told.append)
    assert len(told) == 1 and "unroll:3" in told[0] and "seed 1" in told[0]
    assert path.read_text() == whole  # bit for bit
    np.testing.assert_equal(again["summary"], result["summary"])
    told.clear()
    sd.run_study(str(tmp_path), small(offsets=(0.0, 1.0)), progress=told.append)
    assert told == [] and path.read_text() == whole
    with pytest.raises(ValueError, match="`out`.*steps"):
        sd.run_study(str(tmp_path), small(offsets=(0.0, 1.0), steps=31))
    assert path.read_text() == whole


def test_each_method_at_each_rate_and_its_best_by_training_loss(tmp_path):
    sd.run_study(str(tmp_path), small(methods=("implicit",), seeds=1, lr=(1e-4,),
                                      optimizer="sgd", steps=20))
    # A larger grid into the same directory reuses the run it has.
    told = []
    opts = small(methods=("implicit",), seeds=1, lr=(1e-4, 3e-3), optimizer="sgd", steps=20)
    result = sd.run_study(str(tmp_path), opts, progress=told.append)
    assert len(told) == 1 and "lr 0.003" in told[0]
    rows = result["summary"]
    assert [(r["lr"], r["seeds"]) for r in rows] == [(1e-4, 1), (3e-3, 1)]
    assert sum(r["best"] for r in rows) == 1
    best = min(rows, key=lambda r: (r["failed_runs"], sd._or_inf(r["train_loss"])))
    assert best["best"]
    # The training loss chooses; the held-out error is not consulted.
    for r in rows:
        finals = [c for c in result["curves"] if c["lr"] == r["lr"] and c["step"] == r["steps"]]
        assert r["train_loss"] == pytest.approx(np.mean([c["train_loss"] for c in finals]))
    assert "**" in (tmp_path / "summary.md").read_text()


def test_bad_options_are_named_before_any_work(tmp_path):
    for kw, name in ((dict(seeds=0), "seeds"), (dict(sizes=(1,)), "sizes"),
                     (dict(methods=("unroll:0",)), "methods"), (dict(lr=float("nan")), "lr"),
                     (dict(batch=99), "batch"), (dict(offsets=(float("inf"),)), "offsets"),
                     (dict(optimizer="rmsprop"), "optimizer")):
        with pytest.raises(ValueError, match=f"`{name}`"):
            sd.run_study(str(tmp_path / "never"), small(**kw))
        assert not (tmp_path / "never").exists()
    # 2 × 2 maps are few: more than exist is refused before any work, not drawn forever.
    with pytest.raises(ValueError, match="`train_maps`"):
        sd.run_study(str(tmp_path / "never"), small(sizes=(2,), train_maps=200, test_maps=8))
    assert not (tmp_path / "never").exists()
    assert sd.main(["--out", str(tmp_path / "x"), "--sizes", "2", "--train-maps", "200"]) == 2
    assert sd.main(["--out", str(tmp_path / "x"), "--test-maps", "100001"]) == 2
    assert sd.main(["--out", str(tmp_path / "x"), "--methods", "implicit,vin"]) == 2
    assert sd.main(["--out", str(tmp_path / "x"), "--steps", "many"]) == 2
    assert not (tmp_path / "x").exists()


def test_the_command_runs_the_study_in_python(tmp_path):
    from conftest import find_cli

    env = dict(os.environ, IMPRL_PYTHON=sys.executable)
    binary = str(find_cli())
    out = tmp_path / "sd"
    args = [binary, "study", "state-dependent", "--out", str(out), "--sizes", "4",
            "--offsets", "1", "--methods", "implicit", "--seeds", "1", "--steps", "5",
            "--every", "5", "--train-maps", "8", "--test-maps", "4", "--batch", "4",
            "--format", "png"]
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert (out / "summary.md").is_file() and (out / "state_dependent_4x4.png").is_file()
    p = subprocess.run(args[:3] + ["--seeds", "0"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "`seeds`" in p.stderr
    env["IMPRL_PYTHON"] = str(tmp_path / "no-python")
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "IMPRL_PYTHON" in p.stderr


def _table_rows(text, header_start):
    """The rows (lists of cells) of the Markdown table whose header starts with `header_start`."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("*") for c in line.strip("|").split("|")])
    return rows


def _pm(cell):
    mean, se = cell.split(" ± ")
    return float(mean), float(se)


def test_the_docs_claims_are_the_shipped_tables():
    """docs/state-dependent: its result tables against the study's own summary.csv and
    curves.csv shipped beside it (rounded as printed)."""
    from conftest import REPO

    docs = REPO / "docs" / "state-dependent"
    text = (docs / "README.md").read_text()

    adam = {(int(r["size"]), float(r["offset"]), r["method"]): r
            for r in _read(docs / "adam" / "summary.csv")}
    methods = ["explicit", "implicit", "unroll:5", "unroll:20"]
    rows = _table_rows(text, "| maps | offset | explicit |")
    assert len(rows) == 4
    for cells in rows:
        n, c = int(cells[0].split("×")[0]), float(cells[1])
        for method, cell in zip(methods, cells[2:]):
            mean, se = _pm(cell)
            r = adam[(n, c, method)]
            assert mean == pytest.approx(float(r["test_rmse"]), abs=0.0011)
            assert se == pytest.approx(float(r["test_rmse_se"]), abs=0.0011)
            assert r["failed_runs"] == "0" and r["seeds"] == "5"

    curves = _read(docs / "adam" / "curves.csv")
    early = _table_rows(text, "| maps | update | explicit |")
    assert len(early) == 8
    for cells in early:
        n, step = int(cells[0].split("×")[0]), int(cells[1])
        for method, cell in zip(methods, cells[2:]):
            xs = [float(r["test_one"]) for r in curves if int(r["size"]) == n
                  and float(r["offset"]) == 1.0 and r["method"] == method
                  and int(r["step"]) == step]
            assert len(xs) == 5
            assert float(cell) == pytest.approx(np.mean(xs), rel=0.02, abs=0.006)

    sgd = {(float(r["offset"]), r["method"], float(r["lr"])): r
           for r in _read(docs / "sgd" / "summary.csv")}
    best = _table_rows(text, "| offset | method | best rate |")
    assert len(best) == 8
    for cells in best:
        r = sgd[(float(cells[0]), cells[1], float(cells[2]))]
        assert r["best"] == "True"
        for cell, key in zip(cells[3:6], ("test_rmse", "test_one", "test_rest")):
            mean, se = _pm(cell)
            assert mean == pytest.approx(float(r[key]), abs=0.0011)
            assert se == pytest.approx(float(r[key + "_se"]), abs=0.0011)
        # The largest rate with no failed run, as the table says.
        largest = float(cells[6].split()[0])
        ok = [lr for (c, m, lr), row in sgd.items()
              if (c, m) == (float(cells[0]), cells[1]) and row["failed_runs"] == "0"]
        assert max(ok) == largest


def test_a_shipped_run_is_reproduced_bit_for_bit():
    """The first implicit run of docs/state-dependent/adam (8 × 8, offset 0, seed 0) again from
    its seed: every evaluation the same bits as the shipped curves.csv."""
    from conftest import REPO

    opts = sd.StudyOptions()
    opts.check()
    rows = sd.run_one(opts, 8, 0.0, "implicit", 0)
    shipped = [sd._typed(r) for r in _read(REPO / "docs/state-dependent/adam/curves.csv")
               if (r["size"], r["method"], r["seed"]) == ("8", "implicit", "0")
               and float(r["offset"]) == 0.0]
    assert len(rows) == len(shipped) == 26
    np.testing.assert_equal(rows, shipped)
