"""The paper's insight on state-dependent models, value-iteration-network style
(``imprl study state-dependent``; docs/state-dependent).

The paper studies a model that does not depend on the state and conjectures that its findings
carry over to the setting of value iteration networks, where a network maps an observation to a
model whose values are solved for. This study tests that on a generated family of gridworld
maps:

- **maps**: ``n × n`` grids with random walls (density 0.2; cells cut off from the goal become
  walls) and one goal; a fixed data policy moves toward the goal (probability 0.7, split among the
  moves that shorten the path) or in a uniformly random direction (0.3; a blocked move stays);
  the goal is absorbing. Reward 1 for entering the goal plus the offset ``c`` in every state,
  discount ``γ = 0.95`` (so ``c`` adds ``c/(1 − γ) = 20c`` to every value), and the exact ``V^π = (I − γP^π)⁻¹r`` per map by a linear solve. Wall cells are
  states with a self-loop and reward ``c``; they are outside the loss and the errors.
- **one network, three parameterizations** (the same convolutional trunk and inputs: walls, goal,
  ``c`` and the offset to the goal per cell):

  - *implicit*: the network outputs per cell a reward ``w`` and five local transition logits
    (stay, up, down, left, right; moves off the grid masked), i.e. a state-dependent model
    ``(w, F)``; ``θ̂ = (I − γσ(F))⁻¹w`` by ``imprl.jax.implicit_values`` (exact
    implicit-function-theorem gradient, SPEC §1);
  - *unroll:K*: the same model, ``θ_K`` after ``K`` steps of ``θ ← w + γσ(F)θ`` from 0, and its
    exact derivative (the value iteration network's recurrence; SPEC §8.3);
  - *explicit*: the network outputs ``θ`` per cell directly.

- **training**: the squared error to ``V^π`` on the free cells of a minibatch of training maps,
  Adam (optax); the value error ``e = θ − V^π`` on held-out test maps (disjoint from the training
  maps) every few updates, split as the paper splits the residual (SPEC §2): its component along
  ``1``, ``|mean e|``, and the rest, the RMS of ``e − mean e`` (both over a map's free cells,
  averaged over the test maps).

Everything a run does follows from its seed (maps, initialization, minibatches). Needs JAX and
optax (``pip install "./python[study]"``); a run computes in float64 (it turns on
``jax_enable_x64``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import numbers
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

GAMMA = 0.95
WALL_DENSITY = 0.2
TOWARD_GOAL = 0.7
#: The local moves of the model and of the data policy: stay, up, down, left, right.
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
CHANNELS = 5

# ---------------------------------------------------------------------------------------------
# Maps and their exact values.


@dataclass(frozen=True)
class Maps:
    """A set of ``count`` maps of ``n × n`` cells: ``walls`` (count, n, n) bool, ``goal``
    (count,) the goal's cell index (row-major)."""

    walls: np.ndarray
    goal: np.ndarray

    @property
    def n(self) -> int:
        return self.walls.shape[1]

    def __len__(self) -> int:
        return self.walls.shape[0]

    def take(self, idx: np.ndarray) -> "Maps":
        return Maps(self.walls[idx], self.goal[idx])


def _distances(walls: np.ndarray, goal: int) -> np.ndarray:
    """Shortest-path distances to ``goal`` over free cells (−1: unreachable or a wall)."""
    n = walls.shape[0]
    dist = np.full((n, n), -1, dtype=np.int64)
    gr, gc = divmod(int(goal), n)
    dist[gr, gc] = 0
    queue = deque([(gr, gc)])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES[1:]:
            rr, cc = r + dr, c + dc
            if 0 <= rr < n and 0 <= cc < n and not walls[rr, cc] and dist[rr, cc] < 0:
                dist[rr, cc] = dist[r, c] + 1
                queue.append((rr, cc))
    return dist


def generate_maps(rng: np.random.Generator, n: int, count: int) -> Maps:
    """``count`` distinct maps (no two share walls and goal): walls with density
    ``WALL_DENSITY``, a goal on a free cell, and every free cell the goal cannot be reached from
    made a wall."""
    if n < 2 or count < 1:
        raise ValueError(f"invalid maps: n = {n}, count = {count} (allowed: n >= 2, count >= 1)")
    walls_all, goals, seen = [], [], set()
    attempts = 0
    while len(goals) < count:
        attempts += 1
        if attempts > 100 * count + 10_000:
            raise ValueError(
                f"invalid value for `train_maps`: {count} distinct maps of size {n} (training "
                f"and test maps) could not be drawn: {len(goals)} in {attempts - 1} draws "
                f"(allowed: fewer maps or a larger size)"
            )
        walls = rng.random((n, n)) < WALL_DENSITY
        free = np.flatnonzero(~walls.ravel())
        if free.size < 2:
            continue
        goal = int(rng.choice(free))
        walls = walls | (_distances(walls, goal) < 0)
        if (~walls).sum() < 2:
            continue
        key = (walls.tobytes(), goal)
        if key in seen:
            continue
        seen.add(key)
        walls_all.append(walls)
        goals.append(goal)
    return Maps(np.stack(walls_all), np.asarray(goals, dtype=np.int64))


def _step(n: int, cell: int, move: Tuple[int, int], walls: Optional[np.ndarray]) -> Optional[int]:
    """The cell a move leads to: ``None`` off the grid; the same cell into a wall (when
    ``walls`` is given)."""
    r, c = divmod(cell, n)
    rr, cc = r + move[0], c + move[1]
    if not (0 <= rr < n and 0 <= cc < n):
        return None
    if walls is not None and walls[rr, cc]:
        return cell
    return rr * n + cc


def policy_transitions(walls: np.ndarray, goal: int) -> np.ndarray:
    """``P^π`` (k × k, k = n²) of the data policy on one map: at a free cell other than the goal,
    probability ``TOWARD_GOAL`` split among the moves that shorten the path to the goal and
    ``1 − TOWARD_GOAL`` among the four moves (a move off the grid or into a wall stays); the
    goal and the walls are absorbing."""
    n = walls.shape[0]
    k = n * n
    dist = _distances(walls, goal).ravel()
    p = np.zeros((k, k))
    for s in range(k):
        if walls.ravel()[s] or s == goal:
            p[s, s] = 1.0
            continue
        nexts = [_step(n, s, mv, walls) for mv in MOVES[1:]]
        nexts = [s if j is None else j for j in nexts]
        better = [j for j in nexts if dist[j] >= 0 and dist[j] < dist[s]]
        for j in nexts:
            p[s, j] += (1.0 - TOWARD_GOAL) / 4.0
        for j in better:
            p[s, j] += TOWARD_GOAL / len(better)
    return p


def rewards(p: np.ndarray, goal: int, offset: float) -> np.ndarray:
    """``r^π`` of one map: reward 1 for entering the goal, ``r(s) = P^π(s, goal) + c`` (the goal
    itself, absorbing, earns only ``c``)."""
    r = p[:, goal] + float(offset)
    r[goal] = float(offset)
    return r


def true_values(maps: Maps, offset: float) -> np.ndarray:
    """``V^π = (I − γP^π)⁻¹r^π`` of every map (count, k), by a linear solve."""
    k = maps.n * maps.n
    out = np.empty((len(maps), k))
    for i in range(len(maps)):
        p = policy_transitions(maps.walls[i], int(maps.goal[i]))
        out[i] = np.linalg.solve(np.eye(k) - GAMMA * p, rewards(p, int(maps.goal[i]), offset))
    return out


def local_moves(n: int) -> np.ndarray:
    """The moves of the model's local transitions as 0/1 matrices ``T`` (5, k, k):
    ``T[a, i, j] = 1`` when move ``a`` leads from cell ``i`` to cell ``j`` (moves off the grid
    lead nowhere; walls are the model's to learn, so a move into a wall leads into it)."""
    k = n * n
    t = np.zeros((len(MOVES), k, k))
    for a, mv in enumerate(MOVES):
        for i in range(k):
            j = _step(n, i, mv, None)
            if j is not None:
                t[a, i, j] = 1.0
    return t


def inputs(maps: Maps, offset: float) -> np.ndarray:
    """The network's input (count, n, n, 5): wall, goal, the offset ``c``, and the row and
    column offsets to the goal divided by ``n``."""
    n = maps.n
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = np.zeros((len(maps), n, n, CHANNELS))
    x[..., 0] = maps.walls
    gr, gc = np.divmod(maps.goal, n)
    x[np.arange(len(maps)), gr, gc, 1] = 1.0
    x[..., 2] = offset
    x[..., 3] = (rows[None] - gr[:, None, None]) / n
    x[..., 4] = (cols[None] - gc[:, None, None]) / n
    return x


# ---------------------------------------------------------------------------------------------
# The network and the three parameterizations.


def _conv_init(rng: np.random.Generator, cin: int, cout: int) -> Tuple[np.ndarray, np.ndarray]:
    """He-initialized 3 × 3 convolution (HWIO) and zero bias."""
    w = rng.normal(0.0, math.sqrt(2.0 / (9 * cin)), size=(3, 3, cin, cout))
    return w, np.zeros(cout)


def init_network(rng: np.random.Generator, width: int, depth: int, outputs: int) -> List[Any]:
    """``depth`` ReLU 3 × 3 convolutions of ``width`` channels and a 3 × 3 convolution head with
    ``outputs`` channels (its weights scaled by 0.1, so that a run starts near zero)."""
    layers, cin = [], CHANNELS
    for _ in range(depth):
        layers.append(_conv_init(rng, cin, width))
        cin = width
    w, b = _conv_init(rng, cin, outputs)
    layers.append((0.1 * w, b))
    return layers


@dataclass(frozen=True)
class Method:
    """A parameterization of the study: ``explicit``, ``implicit`` (exact IFT gradient) or
    ``unroll:K``."""

    name: str

    @property
    def outputs(self) -> int:
        return 1 if self.name == "explicit" else 1 + len(MOVES)

    @property
    def grad(self) -> Optional[str]:
        return None if self.name == "explicit" else ("ift" if self.name == "implicit" else self.name)


def parse_method(text: str) -> Method:
    """``explicit``, ``implicit`` or ``unroll:K`` (1 ≤ K ≤ 10000); a ``ValueError`` naming
    ``methods`` otherwise."""
    ok = text in ("explicit", "implicit")
    if text.startswith("unroll:"):
        tail = text[len("unroll:"):]
        ok = tail.isdigit() and 1 <= int(tail) <= 10000
        text = f"unroll:{int(tail)}" if ok else text
    if not ok:
        raise ValueError(
            f"invalid value for `methods`: {text!r} (allowed: explicit, implicit, unroll:K with "
            "1 <= K <= 10000)"
        )
    return Method(text)


def model_logits(local, moves, move_mask):
    """The dense logits (count, k, k) of local ones (count, k, 5): ``F[i, j]`` is the logit of
    the move from cell ``i`` to cell ``j`` (``moves`` from :func:`local_moves`), −∞ where no
    move leads (``move_mask = moves.sum(0) > 0``), so that ``σ(F)`` is the softmax over the
    moves."""
    import jax.numpy as jnp

    logits = jnp.einsum("bka,akj->bkj", local, moves)
    return jnp.where(move_mask, logits, -jnp.inf)


def _predict(method: Method, layers, x, moves, move_mask):
    """θ of a batch of maps (count, k) under ``method``."""
    import jax
    import jax.numpy as jnp

    from .jax import implicit_values

    h = x
    for i, (w, b) in enumerate(layers):
        h = jax.lax.conv_general_dilated(
            h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        ) + b
        if i + 1 < len(layers):
            h = jax.nn.relu(h)
    count, n = x.shape[0], x.shape[1]
    k = n * n
    out = h.reshape(count, k, -1)
    if method.name == "explicit":
        return out[..., 0]
    w = out[..., 0]
    logits = model_logits(out[..., 1:], moves, move_mask)
    # One η per map: with a scalar, a batch of k maps would read w (k, k) as one model with
    # k pseudo-actions.
    eta = jnp.full(w.shape[:1], GAMMA, dtype=w.dtype)
    return implicit_values(w, logits, eta, grad=method.grad, on_failure="nan")


# ---------------------------------------------------------------------------------------------
# The study.


@dataclass
class StudyOptions:
    """The study's design (defaults: the full size of docs/state-dependent)."""

    sizes: Sequence[int] = (8, 16)
    offsets: Sequence[float] = (0.0, 1.0)
    methods: Sequence[str] = ("explicit", "implicit", "unroll:5", "unroll:20")
    seeds: int = 5
    steps: int = 1000
    every: int = 50
    batch: int = 16
    train_maps: int = 512
    test_maps: int = 64
    #: Learning rates: every method runs at each; the figures and the comparison take each
    #: method's best by its final training loss (the held-out maps play no part in the choice).
    lr: Sequence[float] = (1e-3,)
    optimizer: str = "adam"
    width: int = 32
    depth: int = 4

    def check(self) -> None:
        """Every option checked before any work; a ``ValueError`` naming it."""
        def bad(name: str, value: Any, allowed: str) -> ValueError:
            return ValueError(f"invalid value for `{name}`: {value!r} (allowed: {allowed})")

        def integer(v: Any) -> bool:
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        def real(v: Any) -> bool:
            return (isinstance(v, numbers.Real) and not isinstance(v, bool)
                    and math.isfinite(float(v)))

        limits = {"seeds": 10_000, "steps": 1_000_000, "every": 1_000_000, "batch": 4096,
                  "train_maps": 100_000, "test_maps": 100_000, "width": 1024, "depth": 64}
        for name, most in limits.items():
            v = getattr(self, name)
            if not integer(v) or not 1 <= v <= most:
                raise bad(name, v, f"an integer 1 <= {name} <= {most}")
            setattr(self, name, int(v))
        if self.batch > self.train_maps:
            raise bad("batch", self.batch, f"at most train_maps = {self.train_maps}")
        if isinstance(self.lr, numbers.Real):
            self.lr = [self.lr]
        grid = {
            "sizes": (lambda n: integer(n) and 2 <= n <= 32, int,
                      "integers 2 <= n <= 32 (k = n² states)"),
            "offsets": (lambda c: real(c) and abs(c) <= 1e6, float,
                        "finite numbers with |c| <= 1e6"),
            "lr": (lambda x: real(x) and x > 0, float, "finite numbers > 0"),
        }
        for name, (ok, kind, allowed) in grid.items():
            values = list(getattr(self, name))
            if not values or not all(ok(v) for v in values):
                raise bad(name, values, allowed)
            setattr(self, name, list(dict.fromkeys(kind(v) for v in values)))
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", self.optimizer, ", ".join(OPTIMIZERS))
        if not self.methods or not all(isinstance(m, str) for m in self.methods):
            raise bad("methods", list(self.methods), "explicit, implicit, unroll:K")
        self.methods = list(dict.fromkeys(parse_method(m).name for m in self.methods))
        # Memory: the maps' inputs and values, and a few copies of the dense logits (k × k per
        # map) of the largest batch (the test maps are evaluated at once).
        k = max(self.sizes) ** 2
        maps = self.train_maps + self.test_maps
        need = 8 * (maps * k * (CHANNELS + 2) + 8 * max(self.batch, self.test_maps) * k * k)
        have = _available_memory()
        if have is not None and need > have:
            raise bad("sizes", self.sizes,
                      f"sizes, maps and batch whose data fit in the available memory "
                      f"(need about {need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB available)")


def _available_memory() -> Optional[int]:
    """``MemAvailable`` of /proc/meminfo in bytes (``None`` where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: The optimizers of the study (optax): Adam, the practice of VIN-style training, and plain
#: gradient descent, the setting of the paper's analysis (SPEC §2).
OPTIMIZERS = ("adam", "sgd")

#: Early evaluations (besides every ``every`` updates), for the first updates' decay.
EARLY = (1, 2, 5, 10, 20, 50)

#: The columns of ``curves.csv``, one row per evaluation.
CURVE_COLUMNS = ("size", "offset", "method", "lr", "seed", "step", "train_loss", "test_rmse",
                 "test_one", "test_rest", "failed_maps")


def _errors(theta: np.ndarray, values: np.ndarray, free: np.ndarray) -> Tuple[float, float, float, int]:
    """Over test maps (rows): the RMS value error, its component along ``1`` (|mean e|) and the
    RMS of the rest (``e − mean e``), each over a map's free cells and averaged over maps whose
    θ is finite; and the number of maps whose θ is not (a failed solve or divergence)."""
    ok = np.isfinite(theta).all(axis=1)
    rmse, one, rest = [], [], []
    for t, v, f in zip(theta[ok], values[ok], free[ok]):
        e = (t - v)[f]
        m = e.mean()
        rmse.append(math.sqrt(float(np.mean(e * e))))
        one.append(abs(float(m)))
        rest.append(math.sqrt(float(np.mean((e - m) ** 2))))
    nan = float("nan")
    if not rmse:
        return nan, nan, nan, int((~ok).sum())
    return float(np.mean(rmse)), float(np.mean(one)), float(np.mean(rest)), int((~ok).sum())


def run_one(opts: StudyOptions, n: int, offset: float, method: str, seed: int,
            data: Optional[Dict[str, Any]] = None, lr: Optional[float] = None
            ) -> List[Dict[str, Any]]:
    """One training run at learning rate ``lr`` (default: the first of ``opts.lr``); its
    evaluations as rows of ``CURVE_COLUMNS``. ``data`` (maps and their values of this size,
    offset and seed, from :func:`make_data`) is made when not given."""
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)
    m = parse_method(method)
    lr = float(opts.lr[0] if lr is None else lr)
    if data is None:
        data = make_data(opts, n, offset, seed)
    rng = np.random.default_rng([seed, n, 1])
    layers = init_network(rng, opts.width, opts.depth, m.outputs)
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in layers]
    moves = jnp.asarray(local_moves(n))
    mask = moves.sum(axis=0) > 0
    optimizer = getattr(optax, opts.optimizer)(lr)
    state = optimizer.init(params)

    def predict(params, x):
        return _predict(m, params, x, moves, mask)

    def loss(params, x, v, free):
        err = jnp.where(free, predict(params, x) - v, 0.0)
        return jnp.sum(err * err) / jnp.sum(free)

    @jax.jit
    def update(params, state, x, v, free):
        value, grads = jax.value_and_grad(loss)(params, x, v, free)
        steps, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, steps), state, value

    evaluate = jax.jit(predict)
    # Minibatches are cut on the host, so that every argument of a jitted call is ready when it
    # is made (a callback inside a jitted call whose arguments are still being computed can
    # deadlock on one core: imprl.jax), and each step waits for its loss.
    x_tr, v_tr, f_tr = (data[key] for key in ("x_train", "v_train", "free_train"))
    x_te = data["x_test"]
    rows, recent = [], deque(maxlen=opts.every)

    def record(step: int) -> None:
        theta = np.asarray(evaluate(params, x_te))
        rmse, one, rest, failed = _errors(theta, data["v_test"], data["free_test"])
        rows.append({
            "size": n, "offset": float(offset), "method": m.name, "lr": lr, "seed": seed,
            "step": step,
            "train_loss": float(np.mean(recent)) if recent else float("nan"),
            "test_rmse": rmse, "test_one": one, "test_rest": rest, "failed_maps": failed,
        })

    record(0)
    for step in range(1, opts.steps + 1):
        idx = rng.choice(len(data["v_train"]), size=opts.batch, replace=False)
        params, state, value = update(params, state, x_tr[idx], v_tr[idx], f_tr[idx])
        recent.append(float(value))
        if not math.isfinite(recent[-1]):
            record(step)
            break
        if step % opts.every == 0 or step == opts.steps or step in EARLY:
            record(step)
    return rows


def make_data(opts: StudyOptions, n: int, offset: float, seed: int) -> Dict[str, Any]:
    """The seed's training and test maps of size ``n`` (disjoint: drawn together, all
    distinct), the network inputs, the exact values and the free cells."""
    maps = generate_maps(np.random.default_rng([seed, n, 0]), n, opts.train_maps + opts.test_maps)
    train = maps.take(np.arange(opts.train_maps))
    test = maps.take(np.arange(opts.train_maps, len(maps)))
    out = {}
    for name, part in (("train", train), ("test", test)):
        out[f"x_{name}"] = inputs(part, offset)
        out[f"v_{name}"] = true_values(part, offset)
        out[f"free_{name}"] = ~part.walls.reshape(len(part), -1)
    return out


def run_study(out: str, opts: Optional[StudyOptions] = None, *, progress=None,
              formats: Sequence[str] = ("png",)) -> Dict[str, Any]:
    """Runs the whole study into ``out``: ``curves.csv`` (every evaluation of every run),
    ``summary.csv`` and ``summary.md`` (the final evaluation per size, offset and method: mean ±
    standard error over seeds) and a figure per map size. Returns ``{"curves", "summary",
    "files"}``. ``progress`` (a callable taking a line of text) is told of each run.

    Resumable: each finished run's evaluations are appended to ``curves.csv`` at once, and a
    study called again into the same ``out`` runs only what is missing, then writes the tables
    and figures of the grid asked for. The grid (:data:`GRID`: sizes, offsets, methods, learning
    rates, seeds) may grow or shrink between calls; the options that define a run (kept in
    ``study.json``) may not (``ValueError`` naming ``out``)."""
    opts = opts or StudyOptions()
    opts.check()
    # Maps of up to 4 × 4 cells are few: that every seed finds its maps is checked before any
    # work (larger sizes have more than 10⁸ distinct maps).
    for n in (n for n in opts.sizes if n <= 4):
        for s in range(opts.seeds):
            generate_maps(np.random.default_rng([s, n, 0]), n, opts.train_maps + opts.test_maps)
    os.makedirs(out, exist_ok=True)
    rows = _resume(out, opts)
    curves = os.path.join(out, "curves.csv")
    done = {_run_key(r) for r in rows}
    runs = [(n, c, s) for n in opts.sizes for c in opts.offsets for s in range(opts.seeds)]
    total = len(runs) * len(opts.methods) * len(opts.lr)
    count = len({_run_key(r) for r in rows if _in_grid(opts, r)})
    for n, c, s in runs:
        todo = [(m, lr) for m in opts.methods for lr in opts.lr if (n, c, m, lr, s) not in done]
        if not todo:
            continue
        data = make_data(opts, n, c, s)
        for method, lr in todo:
            t0 = time.perf_counter()
            mine = run_one(opts, n, c, method, s, data, lr)
            _append(curves, mine)
            rows.extend(mine)
            count += 1
            if progress is not None:
                last = mine[-1]
                progress(
                    f"[{count}/{total}] {n}x{n} offset {c:g} {method} lr {lr:g} seed {s}: test RMSE "
                    f"{last['test_rmse']:.4g} (along 1 {last['test_one']:.3g}, rest "
                    f"{last['test_rest']:.3g}) in {time.perf_counter() - t0:.1f} s"
                )
    # The grid's runs in the grid's order (a resumed study appends in the order it ran).
    order = {key: i for i, key in enumerate(
        (n, c, m, lr) for n in opts.sizes for c in opts.offsets for m in opts.methods
        for lr in sorted(opts.lr))}
    rows = sorted((r for r in rows if _in_grid(opts, r)),
                  key=lambda r: (order[_config_key(r)], r["seed"], r["step"]))
    files = [curves]
    summary = summarize(rows)
    files.append(_write_csv(os.path.join(out, "summary.csv"), SUMMARY_COLUMNS, summary))
    files.append(_write_markdown(os.path.join(out, "summary.md"), summary, opts))
    for n in opts.sizes:
        files.extend(draw(rows, n, out, formats, summary))
    return {"curves": rows, "summary": summary, "files": files}


#: The options that span the grid of runs: a study called again with other values of these
#: reuses the runs it has and runs the rest; the other options define every run and must match.
GRID = ("sizes", "offsets", "methods", "lr", "seeds")


def _options(opts: StudyOptions) -> Dict[str, Any]:
    """The options that define every run, as kept in ``study.json``."""
    return {k: v for k, v in vars(opts).items() if k not in GRID}


def _in_grid(opts: StudyOptions, row: Dict[str, Any]) -> bool:
    """Whether a stored run belongs to the grid of ``opts``."""
    return (row["size"] in opts.sizes and row["offset"] in opts.offsets
            and row["method"] in opts.methods and row["lr"] in opts.lr
            and row["seed"] < opts.seeds)


def _resume(out: str, opts: StudyOptions) -> List[Dict[str, Any]]:
    """The finished runs' evaluations already in ``out`` (none in a new directory), after
    checking that ``out`` holds this study; keeps the options in ``study.json``."""
    meta = os.path.join(out, "study.json")
    curves = os.path.join(out, "curves.csv")
    mine = _options(opts)
    if os.path.exists(meta):
        with open(meta) as f:
            theirs = json.load(f)
        if theirs != mine:
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ValueError(
                f"invalid value for `out`: {out!r} holds the study with other options "
                f"({', '.join(changed)}) (allowed: the same options to resume — sizes, "
                "offsets, methods, lr and seeds may change — or another directory)"
            )
    elif os.path.exists(curves):
        raise ValueError(
            f"invalid value for `out`: {out!r} has a curves.csv but no study.json (allowed: a "
            "directory of this study, or a new one)"
        )
    else:
        with open(meta, "w") as f:
            json.dump(mine, f, indent=1)
    if not os.path.exists(curves):
        _write_csv(curves, CURVE_COLUMNS, [])
        return []
    with open(curves, newline="") as f:
        text = f.read()
    # A run cut off while its rows were written has at most a last line without its newline.
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    parsed = [_typed(r) for r in csv.DictReader(lines)]
    finished = {
        _run_key(r)
        for r in parsed
        if r["step"] == opts.steps or (r["step"] > 0 and not math.isfinite(r["train_loss"]))
    }
    rows = [r for r in parsed if _run_key(r) in finished]
    if len(rows) != len(parsed) or len(lines) != len(text.splitlines()):
        _write_csv(curves, CURVE_COLUMNS, rows)  # the unfinished run's rows dropped
    return rows


def _config_key(r: Dict[str, Any]) -> Tuple[int, float, str, float]:
    """The configuration (size, offset, method, learning rate) of a row of ``curves.csv`` or
    ``summary.csv``: what the seeds of a summary row share."""
    return (r["size"], r["offset"], r["method"], r["lr"])


def _run_key(r: Dict[str, Any]) -> Tuple[int, float, str, float, int]:
    """What identifies a run in ``curves.csv``."""
    return _config_key(r) + (r["seed"],)


_TYPES = {"size": int, "seed": int, "step": int, "failed_maps": int, "method": str}


def _typed(row: Dict[str, str]) -> Dict[str, Any]:
    """A row of ``curves.csv`` with its types (floats for the rest)."""
    return {c: _TYPES.get(c, float)(row[c]) for c in CURVE_COLUMNS}


def _append(path: str, rows: List[Dict[str, Any]]) -> None:
    """Appends one run's rows to ``curves.csv`` and flushes them to disk."""
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        for r in rows:
            writer.writerow([_cell(r[c]) for c in CURVE_COLUMNS])
        f.flush()
        os.fsync(f.fileno())


def _cell(x: Any) -> Any:
    return "" if x is None else (repr(x) if isinstance(x, float) else x)


#: The columns of ``summary.csv``: per size, offset, method and learning rate, the final
#: evaluation's mean and standard error over seeds (``train_loss``: the mean loss of the last
#: ``every`` updates), the first step at which the mean `1` component falls below a tenth of its
#: start, the runs with a non-finite θ, and whether the rate is the method's best.
SUMMARY_COLUMNS = ("size", "offset", "method", "lr", "best", "seeds", "steps", "train_loss",
                   "train_loss_se", "test_rmse", "test_rmse_se", "test_one", "test_one_se",
                   "test_rest", "test_rest_se", "one_tenth_step", "failed_runs")


def _mean_se(xs: Sequence[float]) -> Tuple[float, float]:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return float("nan"), float("nan")
    mean = float(np.mean(xs))
    se = float(np.std(xs, ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else float("nan")
    return mean, se


def _mean_curve(rows: List[Dict[str, Any]], key: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps, the mean over seeds of ``key`` at each and its standard error."""
    steps = sorted({r["step"] for r in rows})
    mean, se = [], []
    for t in steps:
        m, s = _mean_se([r[key] for r in rows if r["step"] == t])
        mean.append(m)
        se.append(s)
    return np.asarray(steps), np.asarray(mean), np.asarray(se)


def _groups(rows: List[Dict[str, Any]]):
    """The runs of each (size, offset, method, lr), in the order of ``rows``."""
    groups: Dict[Tuple[int, float, str, float], List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(_config_key(r), []).append(r)
    return groups.items()


def summarize(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows of ``summary.csv`` from the evaluations (``curves.csv``)."""
    out = []
    for (n, c, method, lr), group in _groups(rows):
        seeds = sorted({r["seed"] for r in group})
        final = [max((r for r in group if r["seed"] == s), key=lambda r: r["step"]) for s in seeds]
        row = {"size": n, "offset": c, "method": method, "lr": lr, "seeds": len(seeds),
               "steps": max(r["step"] for r in final)}
        for key in ("train_loss", "test_rmse", "test_one", "test_rest"):
            row[key], row[key + "_se"] = _mean_se([r[key] for r in final])
        steps, one, _ = _mean_curve(group, "test_one")
        below = [int(t) for t, v in zip(steps, one) if math.isfinite(v) and v <= one[0] / 10]
        row["one_tenth_step"] = below[0] if below else None
        row["failed_runs"] = sum(
            1 for r in final if r["failed_maps"] > 0 or not math.isfinite(r["train_loss"])
        )
        out.append(row)
    # Each method's best learning rate: fewest failed runs, then the lowest final training loss.
    best: Dict[Tuple[int, float, str], Dict[str, Any]] = {}
    for row in out:
        key = (row["size"], row["offset"], row["method"])
        score = (row["failed_runs"], _or_inf(row["train_loss"]))
        if key not in best or score < (best[key]["failed_runs"], _or_inf(best[key]["train_loss"])):
            best[key] = row
    for row in out:
        row["best"] = best[(row["size"], row["offset"], row["method"])] is row
    return out


def _or_inf(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def _write_csv(path: str, columns: Sequence[str], rows: List[Dict[str, Any]]) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_cell(r[c]) for c in columns])
    return path


def _write_markdown(path: str, summary: List[Dict[str, Any]], opts: StudyOptions) -> str:
    def pm(row, key):
        m, s = row[key], row[key + "_se"]
        return f"{m:.3g} ± {s:.2g}" if math.isfinite(s) else f"{m:.3g}"

    lines = [
        f"Final evaluation on {opts.test_maps} held-out maps per seed, after {opts.steps} updates "
        f"({opts.optimizer}; mean ± standard error over seeds): the training loss of the last "
        f"{opts.every} updates, the RMS value error on the held-out maps, its component along "
        f"`1` (|mean e|) and the RMS of the rest; the first evaluation at which the mean `1` "
        f"component is at most a tenth of its start; runs with a non-finite θ. **best**: the "
        f"method's learning rate chosen by training loss.",
        "",
        "| size | offset | method | lr | training loss | RMSE | along 1 | rest | "
        "1 below a tenth at | failed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        tenth = "—" if r["one_tenth_step"] is None else str(r["one_tenth_step"])
        lr = f"**{r['lr']:g}**" if r["best"] and len(opts.lr) > 1 else f"{r['lr']:g}"
        lines.append(
            f"| {r['size']}×{r['size']} | {r['offset']:g} | {r['method']} | {lr} | "
            f"{pm(r, 'train_loss')} | {pm(r, 'test_rmse')} | {pm(r, 'test_one')} | "
            f"{pm(r, 'test_rest')} | {tenth} | {r['failed_runs']}/{r['seeds']} |"
        )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def draw(rows: List[Dict[str, Any]], n: int, out: str, formats: Sequence[str],
         summary: Optional[List[Dict[str, Any]]] = None) -> List[str]:
    """The figure of size ``n``: for each offset (rows), the `1` component and the rest of the
    test value error (columns) against updates, one line per method at its best learning rate
    (``summary``'s choice; mean over seeds, a band of ± one standard error), both axes
    logarithmic (updates from 0: symmetric log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows) if summary is None else summary
    best = {_config_key(b) for b in summary if b["best"]}
    several = len({r["lr"] for r in rows}) > 1
    mine = [r for r in rows if r["size"] == n and _config_key(r) in best]
    offsets = sorted({r["offset"] for r in mine})
    methods = list(dict.fromkeys(r["method"] for r in mine))
    fig, axes = plt.subplots(len(offsets), 2, figsize=(10, 3.4 * len(offsets)), squeeze=False,
                             sharex=True)
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    for i, c in enumerate(offsets):
        for j, (key, title) in enumerate((("test_one", "along 1: |mean error|"),
                                          ("test_rest", "rest: RMS of error − mean"))):
            ax = axes[i][j]
            for method in methods:
                group = [r for r in mine if r["offset"] == c and r["method"] == method]
                if not group:
                    continue
                steps, mean, se = _mean_curve(group, key)
                label = f"{method} (lr {group[0]['lr']:g})" if several else method
                ax.plot(steps, mean, color=colors[method], label=label)
                se = np.nan_to_num(se)
                ax.fill_between(steps, np.maximum(mean - se, 1e-12), mean + se,
                                color=colors[method], alpha=0.2, linewidth=0)
            ax.set_yscale("log")
            ax.set_xscale("symlog", linthresh=1)  # the first updates (1, 2, 5, …) visible
            ax.set_title(f"{n}×{n} maps, offset c = {c:g}: {title}", fontsize=10)
            ax.set_ylabel("held-out value error")
            if i + 1 == len(offsets):
                ax.set_xlabel("update")
            ax.grid(True, which="major", alpha=0.3)
    for row in axes:
        row[0].legend(fontsize=8)
    fig.tight_layout()
    files = []
    for fmt in formats:
        path = os.path.join(out, f"state_dependent_{n}x{n}.{fmt}")
        fig.savefig(path, dpi=110 if fmt == "png" else None)
        files.append(path)
    plt.close(fig)
    return files


# ---------------------------------------------------------------------------------------------
# Command line: ``python -m imprl.state_dependent`` (``imprl study state-dependent`` runs it).


def _ints(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x]


def _floats(text: str) -> List[float]:
    return [float(x) for x in text.split(",") if x]


def main(argv: Optional[Sequence[str]] = None) -> int:
    d = StudyOptions()
    p = argparse.ArgumentParser(
        prog="imprl study state-dependent",
        description="The paper's insight on state-dependent (VIN-style) models: implicit, "
        "explicit and unrolled parameterizations of one network on gridworld maps "
        "(docs/state-dependent).",
    )
    p.add_argument("--out", default="study-state-dependent", help="output directory")
    p.add_argument("--seeds", type=int, default=d.seeds, help="seeds per configuration")
    p.add_argument("--steps", type=int, default=d.steps, help="updates per run")
    p.add_argument("--every", type=int, default=d.every, help="evaluate every this many updates")
    p.add_argument("--sizes", type=_ints, default=list(d.sizes), help="map sizes n (n × n)")
    p.add_argument("--offsets", type=_floats, default=list(d.offsets), help="reward offsets c")
    p.add_argument("--methods", type=lambda t: t.split(","), default=list(d.methods),
                   help="explicit, implicit, unroll:K (comma-separated)")
    p.add_argument("--train-maps", type=int, default=d.train_maps)
    p.add_argument("--test-maps", type=int, default=d.test_maps)
    p.add_argument("--batch", type=int, default=d.batch, help="maps per update")
    p.add_argument("--lr", type=_floats, default=list(d.lr),
                   help="learning rates (comma-separated; each method runs at each)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--format", choices=("png", "svg", "both"), default="both",
                   help="image formats of the figures")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    opts = StudyOptions(
        sizes=a.sizes, offsets=a.offsets, methods=a.methods, seeds=a.seeds, steps=a.steps,
        every=a.every, batch=a.batch, train_maps=a.train_maps, test_maps=a.test_maps, lr=a.lr,
        optimizer=a.optimizer,
    )
    try:
        opts.check()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    missing = [name for name in ("jax", "optax", "matplotlib") if not _importable(name)]
    if missing:
        print(
            f"error: the study needs {', '.join(missing)}: pip install \"./python[study]\"",
            file=sys.stderr,
        )
        return 2
    formats = ("png", "svg") if a.format == "both" else (a.format,)
    try:
        result = run_study(a.out, opts, progress=lambda line: print(line, flush=True),
                           formats=formats)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {a.out}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stopped; the finished runs are in {a.out}: the same command resumes",
              file=sys.stderr)
        return 130
    print(f"wrote {len(result['files'])} files to {a.out}")
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
