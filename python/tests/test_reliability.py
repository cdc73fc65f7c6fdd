"""Hostile use of the Python package (README, *Reliability*): edited own-domain files are never
served from a cache, refused problems raise `ValueError` (never `PanicException`), and values
of the wrong kind are refused as the command line refuses them."""

import numpy as np
import pytest

import imprl


def two_states(reward, extra=""):
    return (
        "gamma = 0.9\nstates = 2\nactions = 1\ntransitions = [[[0.0, 1.0]], [[0.0, 1.0]]]\n"
        f"rewards = [[{reward}], [0.0]]\npolicy = [[1.0], [1.0]]\n{extra}"
    )


def test_an_edited_file_is_read_again(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text(two_states(1.0))
    first = imprl.run(f"file:{f}", "explicit", steps=3)
    f.write_text(two_states(5.0))
    second = imprl.run(f"file:{f}", "explicit", steps=3)
    assert first["mse"].tobytes() != second["mse"].tobytes()
    # The same as a fresh process reading the edited file: the CLI's numbers.
    f.write_text(two_states(1.0))
    again = imprl.run(f"file:{f}", "explicit", steps=3)
    assert again["mse"].tobytes() == first["mse"].tobytes()


def test_a_fixed_file_loads_and_an_edited_one_is_swept_under_its_new_hash(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text(two_states(1.0, "terminal = [0, 1]\n"))
    with pytest.raises(ValueError, match="terminal"):
        imprl.run(f"file:{f}", "explicit", steps=3)
    f.write_text(two_states(1.0))
    imprl.run(f"file:{f}", "explicit", steps=3)
    grid = {"domain": f"file:{f}", "param": "explicit", "steps": 2}
    out = tmp_path / "res"
    assert imprl.sweep(grid, out, progress=False)["ran"] == 1
    f.write_text(two_states(2.0))
    # The store holds runs of the old contents: the changed file is refused, not mixed.
    with pytest.raises(ValueError, match="changed"):
        imprl.sweep(grid, out, progress=False)


def test_no_training_rows_raise_value_error(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text(two_states(1.0, "terminal = [1]\nstart = [0.0, 1.0]\n"))
    with pytest.raises(ValueError, match="no training rows"):
        imprl.run(f"file:{f}", "explicit")
    with pytest.raises(ValueError, match="no training rows"):
        imprl.sweep({"domain": f"file:{f}", "param": "explicit"}, tmp_path / "res", progress=False)
    assert not (tmp_path / "res").exists()


def test_strings_for_numbers_are_refused_as_the_model_refuses_them():
    with pytest.raises(ValueError, match="`eta`"):
        imprl.run("chain", "implicit", eta="0.9")
    with pytest.raises(ValueError, match="`lr`"):
        imprl.run("chain", "implicit", lr="0.0625")
    with pytest.raises(ValueError, match="`eta`"):
        imprl.ImplicitModel(np.zeros(2), np.zeros((2, 2)), eta="0.9")


@pytest.mark.parametrize(
    "values",
    [np.array(["a", "b"]), np.ones(2, dtype=bool), np.ones(2) * (1 + 1j)],
)
def test_non_real_arrays_are_refused(values):
    with pytest.raises(ValueError, match="real"):
        imprl.ImplicitModel(values, np.zeros((2, 2)), eta=0.9)
    with pytest.raises(ValueError, match="real"):
        imprl.ImplicitModel(np.zeros(2), np.zeros((2, 2)).astype(values.dtype), eta=0.9)


def test_an_empty_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="`out`"):
        imprl.sweep({"domain": "chain", "param": "explicit", "steps": 1}, "", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_jobs_count_is_capped_and_said(tmp_path, capsys):
    grid = {"domain": "chain", "param": "explicit", "steps": 5, "seed": [0, 1, 2, 3]}
    summary = imprl.sweep(grid, tmp_path / "res", jobs=10000, progress=False)
    assert summary["ran"] == 4
    assert "capped at 4 workers" in capsys.readouterr().err
