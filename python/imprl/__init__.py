"""imprl from Python: training runs, sweeps into a results store, the tidy results table, and
the implicit layer as a NumPy building block (and, with the optional JAX, as a JAX function:
``imprl.jax.implicit_values``; importing ``imprl`` does not import JAX), and the state-dependent
study (``imprl.state_dependent``, with JAX and optax: ``imprl study state-dependent``).

The run settings are those of the command line and of TOML files (``imprl.settings()`` lists
them); every bad argument raises ``ValueError`` naming it, with the command line's message.
Long calls release the GIL and stop on Ctrl-C (``KeyboardInterrupt``); a sweep keeps the runs
it finished, and calling it again resumes.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

from . import _imprl
from ._imprl import ImplicitModel
from .mdp import Mdp, domain_name

__all__ = [
    "ImplicitModel",
    "Mdp",
    "export_parquet",
    "load_results",
    "run",
    "settings",
    "sweep",
]

def settings() -> List[Dict[str, Any]]:
    """The declared run settings, in order: ``name``, ``type`` (``float``, ``int``, ``bool`` or
    ``str``), ``choices`` (an enumeration's names), ``default`` (in words; ``None`` when
    required), ``allowed`` (in words) and ``doc``."""
    return _imprl.settings()


def run(
    domain: Union[str, Mdp],
    param: str,
    *,
    params: bool = False,
    save_every: Optional[int] = None,
    **settings: Any,
) -> Dict[str, Any]:
    """One training run, as ``imprl run --domain DOMAIN --param PARAM --SETTING VALUE ...``.

    ``domain`` is a domain's name or an :class:`Mdp` (run as the TOML file it writes, named by
    its content hash, under ``$IMPRL_CACHE/mdp`` or ``~/.cache/imprl/mdp``).

    Returns a dict of every column of the command's log: ``timestep``, ``mse``,
    ``res_ones_norm``, ``res_ortho_norm``, ``residual_norm`` and, for a run that learns its
    discount, ``eta`` (float64 arrays, one entry per evaluation; the same numbers as the
    command's CSV); ``diverged_at`` (``None``, or the update after which the run diverged; the
    log then stops at its last finite evaluation); ``lr``, the learning rate used (the
    given one, or the default for the run's settings: own problems' from their data); and
    ``unstable``, True when the run did not diverge but its test loss grew past 10⁶ times its
    first evaluation (the definition of ``imprl run``'s warning and the export's
    ``unstable_at``).

    With ``params=True`` the result also has ``params``: what the run learned, as the dict of
    NumPy arrays that ``imprl run --save-params FILE.npz`` writes (the same bits): ``theta``,
    the parameterization's own arrays (``w``, ``logits``, ``eta``, ``rho``, ``matrix``),
    ``values_test`` (``features_test @ theta``), ``features_test``, ``targets_test``,
    ``timestep``, ``diverged_at`` and ``settings`` (TOML text). ``save_every=N`` keeps
    checkpoints every ``N`` updates and at the last: every array of parameters and predictions
    then has a leading checkpoint axis, and ``timestep`` says when each was taken.

    Every run setting may be given as a keyword (the TOML names; see the list below or
    ``imprl.settings()``). A bad or unknown one raises ``ValueError`` naming it.
    """
    return _imprl.run(domain_name(domain), param, settings, params, save_every)


def sweep(
    grid: Union[Mapping[str, Any], str, "os.PathLike[str]"],
    out: Union[str, "os.PathLike[str]"],
    jobs: Optional[int] = None,
    progress: bool = True,
    save_params: bool = False,
) -> Dict[str, Any]:
    """Runs a grid into the results store in directory ``out`` (as ``imprl sweep``).

    ``grid`` is a dict of settings whose values may be lists (their Cartesian product; an
    ``"lr"`` entry may be a dict ``{"<domain>.<param>": [...]}``), or the path of a grid TOML
    file. Runs already in the store are skipped, so calling it again resumes an interrupted
    sweep. ``jobs`` worker threads (``None``: all cores); ``progress`` writes progress to
    ``sys.stderr``. Ctrl-C stops it (runs in flight finish and are stored) and raises
    ``KeyboardInterrupt``. ``save_params`` keeps every run's final value weights θ̂ in the
    store (``load_results(out, table="theta")`` reads them).

    A ``"domain"`` entry may hold :class:`Mdp` objects: each runs as the TOML file it writes
    to ``out/mdp/<content hash>.toml``, so the store records it as an own domain with its
    content hash and a later call with the same arrays resumes.

    Returns ``{"total", "skipped", "ran", "diverged", "interrupted", "wall_s"}``.
    """
    if isinstance(grid, Mapping) and isinstance(out, (str, os.PathLike)):
        d = grid.get("domain")
        many = isinstance(d, (list, tuple))
        if any(isinstance(x, Mdp) for x in (d if many else [d])):
            mdps = os.path.join(os.fspath(out), "mdp")
            grid = dict(grid)
            grid["domain"] = [domain_name(x, mdps) for x in d] if many else domain_name(d, mdps)
    return _imprl.sweep(grid, out, jobs, progress, save_params)


def load_results(
    path: Union[str, "os.PathLike[str]"], table: str = "evals"
) -> "pandas.DataFrame":  # noqa: F821
    """The tidy table of ``imprl export --format csv`` as a ``pandas.DataFrame``, from a results
    directory (of ``sweep``) or a Parquet file (of ``imprl export --format parquet``).

    One row per run and evaluation; every setting a column (floats ``float64``, integers
    ``int64``, booleans ``bool``, names ``str``), then ``timestep`` (``Int64``), ``mse``,
    ``res_ones_norm``, ``res_ortho_norm``, ``residual_norm`` (``float64``; NaN on the one row of
    a run that diverged before its first evaluation), ``diverged`` (``bool``) and
    ``diverged_at`` (``Int64``, ``<NA>`` for runs that did not diverge).

    ``table="theta"`` gives, from a results directory, the final value weights θ̂ that
    ``sweep(..., save_params=True)`` (``imprl sweep --save-params``) kept: every setting, then
    ``index`` (the component of θ̂, from 0) and ``theta``, one row per run and component, as
    ``imprl export --table theta``. A Parquet file is read as it is (either table).
    """
    import pandas as pd

    columns: Dict[str, Any] = {}
    for name, kind, values, extra, nullable in _imprl.load_table(path, table):
        if kind == "float":
            columns[name] = values
        elif kind == "int":
            columns[name] = pd.arrays.IntegerArray(values, extra) if nullable else values
        elif kind == "bool":
            columns[name] = pd.arrays.BooleanArray(values, extra) if nullable else values
        else:
            texts = np.empty(len(extra) + 1, dtype=object)
            texts[: len(extra)] = extra
            texts[-1] = None
            columns[name] = texts[values]
    return pd.DataFrame(columns)


def export_parquet(
    results: Union[str, "os.PathLike[str]"], out: Union[str, "os.PathLike[str]"]
) -> int:
    """Writes the tidy table of the results directory ``results`` to the Parquet file ``out``
    (as ``imprl export --format parquet``); returns the number of rows."""
    return _imprl.export_parquet(results, out)


def _settings_doc() -> str:
    lines = ["", "Run settings (keywords; defaults as on the command line):", ""]
    for s in _imprl.settings():
        if s["default"] is None:
            continue
        lines.append(f"    {s['name']} ({s['type']}): {s['doc']} Default: {s['default']}. "
                     f"Allowed: {s['allowed']}.")
    return "\n".join(lines) + "\n"


run.__doc__ = (run.__doc__ or "") + _settings_doc()
