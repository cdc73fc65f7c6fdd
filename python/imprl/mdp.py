"""Finite MDPs from NumPy arrays and from Gymnasium's toy-text tables (SPEC §9.3).

An :class:`Mdp` is the TOML file of ``--domain file:PATH`` (SPEC §8.6, docs/own-problems.md)
held as arrays: it is written to that format (``to_toml``) and validated by the same Rust code,
so a bad array raises ``ValueError`` with the file format's message (``transitions[3][1]:
probabilities sum to 0.97, not 1``). Wherever a domain is accepted (``imprl.run``,
``imprl.sweep``) an ``Mdp`` runs as the file it writes: a file named by the hash of its text,
so that the results store records it as an own domain with its content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _imprl

PathLike = Union[str, "os.PathLike[str]"]


def _floats(x: Any, field: str) -> np.ndarray:
    """``x`` as a float64 array, or ``ValueError`` naming ``field``."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{field}: expected an array of numbers ({e})") from None
    return a


def _toml_list(a: np.ndarray) -> str:
    """A nested TOML array of ``a``'s numbers, each in its shortest exact form."""
    if a.ndim == 1:
        return "[" + ", ".join(map(repr, a.tolist())) + "]"
    return "[" + ", ".join(_toml_list(row) for row in a) + "]"


class Mdp:
    """A finite MDP with an evaluated policy (SPEC §8.6, §9.3).

    ``P[s, a, s']`` transition probabilities (rows summing to 1 within 1e-9), rewards ``R[s, a]``
    or ``R[s, a, s']`` (then ``E[r | s, a] = Σ_{s'} P R``; training data sample the reward of
    the successor drawn), ``policy[s, a]`` the evaluated (and data-collecting) policy, ``gamma``
    in [0, 1). Optional: ``start`` (the start distribution, default uniform), ``terminal`` (a
    list of absorbing states of value 0 that end a rollout), ``features`` (``n × k``, default
    one-hot with terminal rows zero), and the data drawn per seed: ``trajectories`` rollouts of
    at most ``length`` steps, keeping ``"all"`` visited states or the ``"first"`` of each.

    Bad input raises ``ValueError`` naming the field as the TOML file's validation does.
    """

    def __init__(
        self,
        P: Any,
        R: Any,
        policy: Any,
        gamma: float,
        start: Optional[Any] = None,
        terminal: Optional[Sequence[int]] = None,
        features: Optional[Any] = None,
        trajectories: Optional[int] = None,
        length: Optional[int] = None,
        keep: Optional[str] = None,
    ) -> None:
        P = _floats(P, "transitions")
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            raise ValueError(
                f"transitions: expected an array of shape (n, m, n) with n, m >= 1, "
                f"found shape {P.shape}"
            )
        self.P = P
        self.R = _floats(R, "rewards")
        self.policy = _floats(policy, "policy")
        try:
            self.gamma = float(gamma)
        except (TypeError, ValueError):
            raise ValueError(f"gamma: expected a number, found {gamma!r}") from None
        self.start = None if start is None else _floats(start, "start")
        if terminal is None:
            self.terminal = None
        else:
            t = np.asarray(terminal)
            if t.ndim != 1 or (t.size and not np.issubdtype(t.dtype, np.integer)):
                raise ValueError(f"terminal: expected a list of state indices, found {terminal!r}")
            self.terminal = [int(s) for s in t]
        self.features = None if features is None else _floats(features, "features")
        self.data = {}
        for key, v in (("trajectories", trajectories), ("length", length), ("keep", keep)):
            if v is not None:
                self.data[key] = v
        self._text = self._toml_text()
        # The file format's validation, in Rust: ValueError with its message.
        _imprl.check_mdp(self._text)
        self._values: Optional[np.ndarray] = None

    @property
    def n_states(self) -> int:
        """Number of states ``n``."""
        return int(self.P.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions ``m``."""
        return int(self.P.shape[1])

    def _toml_text(self) -> str:
        n, m = self.P.shape[:2]
        lines = [
            "# A finite MDP (imprl, SPEC §8.6), written by imprl.Mdp.",
            f"gamma = {self.gamma!r}",
            f"states = {n}",
            f"actions = {m}",
            f"transitions = {_toml_list(self.P)}",
            f"rewards = {_toml_list(self.R) if self.R.ndim else repr(float(self.R))}",
            f"policy = {_toml_list(self.policy) if self.policy.ndim else repr(float(self.policy))}",
        ]
        if self.start is not None:
            lines.append(
                f"start = {_toml_list(self.start) if self.start.ndim else repr(float(self.start))}"
            )
        if self.terminal is not None:
            lines.append("terminal = [" + ", ".join(map(str, self.terminal)) + "]")
        if self.features is not None:
            f = self.features
            lines.append(f"features = {_toml_list(f) if f.ndim else repr(float(f))}")
        if self.data:
            lines.append("")
            lines.append("[data]")
            for key, v in self.data.items():
                lines.append(f"{key} = {json.dumps(v)}")
        return "\n".join(lines) + "\n"

    def to_toml(self, path: PathLike) -> Path:
        """Writes the MDP as a TOML file for ``--domain file:PATH``; returns the path."""
        p = Path(path)
        p.write_text(self._text, encoding="utf-8")
        return p

    def values(self) -> np.ndarray:
        """The exact policy values ``V^π = (I − γP_π)⁻¹ r_π`` (one LU, the test set's solve),
        one per state, terminal states held at 0 (reward offset 0)."""
        if self._values is None:
            self._values = np.asarray(_imprl.mdp_values(self._text), dtype=np.float64)
        return self._values.copy()

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the TOML text: the name of the file a run uses."""
        return hashlib.sha256(self._text.encode("utf-8")).hexdigest()

    def domain(self, directory: Optional[PathLike] = None) -> str:
        """The domain name ``file:PATH`` of this MDP: its TOML text written (once) to
        ``DIRECTORY/<content hash>.toml``; ``directory`` defaults to ``$IMPRL_CACHE/mdp`` or
        ``~/.cache/imprl/mdp``."""
        if directory is None:
            base = os.environ.get("IMPRL_CACHE") or os.path.join(
                os.path.expanduser("~"), ".cache", "imprl"
            )
            directory = os.path.join(base, "mdp")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{self.content_hash[:32]}.toml"
        if not p.is_file() or p.read_text(encoding="utf-8") != self._text:
            tmp = p.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(self._text, encoding="utf-8")
            os.replace(tmp, p)
        return f"file:{p}"

    def __repr__(self) -> str:
        return (
            f"Mdp(states={self.n_states}, actions={self.n_actions}, gamma={self.gamma!r}, "
            f"hash={self.content_hash[:12]})"
        )

    @classmethod
    def from_gymnasium(
        cls, env: Any, policy: Any, gamma: float, **data: Any
    ) -> "Mdp":
        """The MDP of a Gymnasium environment whose ``unwrapped.P`` is the toy-text table
        ``P[s][a] = [(p, s', r, done), ...]`` (FrozenLake, CliffWalking, Taxi, ...), with the
        evaluated ``policy`` (``n × m``, ``n`` the environment's states) and discount ``gamma``
        (SPEC §9.3):

        - entries with the same ``(s, a, s', done)`` are one transition: their ``p`` summed,
          their rewards averaged weighted by ``p``; rewards stay per transition ``r(s, a, s')``;
        - a transition with ``done`` leads to a terminal (absorbing, value 0) state: ``s'``
          itself when it is reached only with ``done`` (and is no start state), otherwise a
          terminal copy of ``s'`` added after the environment's ``n`` states (which keep their
          indices); copies take the policy row of their original;
        - the start distribution is the environment's initial-state distribution (``isd``, or
          ``initial_state_distrib``).

        ``data`` may set ``trajectories``, ``length`` and ``keep`` (as :class:`Mdp`). Needs
        ``gymnasium`` only for the environment itself (it is imported nowhere else).
        """
        u = getattr(env, "unwrapped", env)
        table = getattr(u, "P", None)
        if not isinstance(table, dict) or not table:
            raise ValueError("env: unwrapped.P is not a toy-text table {s: {a: [(p, s', r, done)]}}")
        n = len(table)
        if sorted(table) != list(range(n)):
            raise ValueError("env: unwrapped.P's states are not 0..n-1")
        m = len(table[0])
        isd = getattr(u, "isd", None)
        if isd is None:
            isd = getattr(u, "initial_state_distrib", None)
        start = None if isd is None else np.asarray(isd, dtype=np.float64).ravel()
        if start is not None and start.shape != (n,):
            raise ValueError(f"env: the initial-state distribution has shape {start.shape}, not ({n},)")
        # Which states are reached without `done` (or started in), which with `done`.
        live = np.zeros(n, dtype=bool) if start is None else start > 0
        if start is None:
            live[:] = True
        ended = np.zeros(n, dtype=bool)
        for s in range(n):
            if sorted(table[s]) != list(range(m)):
                raise ValueError(f"env: unwrapped.P[{s}] does not have the actions 0..{m - 1}")
            for a in range(m):
                for entry in table[s][a]:
                    if len(entry) != 4:
                        raise ValueError(
                            f"env: unwrapped.P[{s}][{a}] has an entry {entry!r}, not (p, s', r, done)"
                        )
                    p, nxt, _, done = entry
                    if not 0 <= int(nxt) < n:
                        raise ValueError(f"env: unwrapped.P[{s}][{a}] leads to state {nxt}, not in 0..{n - 1}")
                    if p > 0:
                        (ended if done else live)[int(nxt)] = True
        copies = [int(s) for s in np.flatnonzero(ended & live)]
        copy_of = {s: n + j for j, s in enumerate(copies)}
        terminal_env = [int(s) for s in np.flatnonzero(ended & ~live)]
        total = n + len(copies)
        P = np.zeros((total, m, total))
        R = np.zeros((total, m, total))
        for s in range(n):
            for a in range(m):
                # Per successor: Σ p, Σ p·r, and the reward when all its entries agree.
                groups: dict = {}
                for p, nxt, r, done in table[s][a]:
                    nxt = int(nxt)
                    to = copy_of.get(nxt, nxt) if done else nxt
                    q, qr, same = groups.get(to, (0.0, 0.0, float(r)))
                    groups[to] = (q + float(p), qr + float(p) * float(r),
                                  same if same == float(r) else None)
                for to, (q, qr, same) in groups.items():
                    P[s, a, to] = q
                    if q > 0:
                        R[s, a, to] = same if same is not None else qr / q
        for s in copies:
            P[copy_of[s], :, copy_of[s]] = 1.0
        pi = _floats(policy, "policy")
        if pi.shape != (n, m):
            raise ValueError(f"policy: expected shape ({n}, {m}) (the environment's states and actions), found {pi.shape}")
        pi = np.concatenate([pi, pi[copies]]) if copies else pi
        if start is not None:
            start = np.concatenate([start, np.zeros(len(copies))])
        return cls(
            P,
            R,
            pi,
            gamma,
            start=start,
            terminal=sorted(terminal_env + list(copy_of.values())) or None,
            **data,
        )


def domain_name(domain: Any, directory: Optional[PathLike] = None) -> Any:
    """``domain`` as a run setting: an :class:`Mdp` as its ``file:PATH`` name, anything else
    unchanged."""
    if isinstance(domain, Mdp):
        return domain.domain(directory)
    return domain
