# Type stub of the package `imprl`. The keywords of `run` are generated from the settings
# declaration (src/config/settings.rs): regenerate them with
# `cargo run --release --example python_stub`; `cargo test` checks them.
import os
from typing import Any, Dict, List, Literal, Mapping, Optional, TypedDict, Union

from typing_extensions import NotRequired

import numpy as np
import numpy.typing as npt
import pandas

_Path = Union[str, os.PathLike[str]]

class RunLog(TypedDict):
    timestep: npt.NDArray[np.float64]
    mse: npt.NDArray[np.float64]
    res_ones_norm: npt.NDArray[np.float64]
    res_ortho_norm: npt.NDArray[np.float64]
    residual_norm: npt.NDArray[np.float64]
    eta: NotRequired[npt.NDArray[np.float64]]
    diverged_at: Optional[int]
    lr: float
    unstable: bool
    params: NotRequired[Dict[str, npt.NDArray[Any]]]

class SweepSummary(TypedDict):
    total: int
    skipped: int
    ran: int
    diverged: int
    interrupted: bool
    wall_s: float

class Gradients(TypedDict):
    """`ImplicitModel.vjp`'s gradients, in the parameters' shapes (`eta`: a number for one η,
    an array of w's shape for η per state and pseudo-action)."""
    w: npt.NDArray[np.float64]
    logits: npt.NDArray[np.float64]
    eta: Union[float, npt.NDArray[np.float64]]

def run(
    # BEGIN run settings (generated from the declaration: cargo run --example python_stub)
    domain: str,
    param: Literal["explicit", "implicit", "explicit-matrix"],
    *,
    eta: float = ...,  # default: 0.95. Internal discount η of the implicit model; it also sets the explicit runs' initialization.
    lr: float = ...,  # default: the paper's best for domain, param and eta (own problems: from the data's second moment); times 1 - momentum for momentum; for adam a measured rate per domain and param. Learning rate α of the optimizer.
    offset: float = ...,  # default: 0. Reward offset c added to every reward.
    seed: int = ...,  # default: 0. Run seed: data, initialization and minibatches.
    steps: int = ...,  # default: 300. Number of SGD updates.
    batch_size: int = ...,  # default: 25. Minibatch size.
    eval_every: int = ...,  # default: 10. Evaluate on the test set every this many updates (and before the first and after the last).
    sampling: Literal["with-replacement", "without-replacement"] = ...,  # default: with-replacement. Minibatch sampling: with replacement (published runs) or without (the paper's prose).
    slip: Literal["published", "stay"] = ...,  # default: published. Four rooms' slip model: published (2/3 intended, 1/9 each other) or stay (the paper's prose).
    bias: bool = ...,  # default: false. Append a constant feature 1 (USE_BIAS; false in the published runs).
    solver: Literal["lu", "refine", "gmres", "auto", "published"] = ...,  # default: auto. The implicit model's linear solver: LU, refinement, GMRES, auto (LU for k <= 32, else GMRES), all exact to 1e-10; or published (the published runs' value iteration and JAX GMRES, unconverged results used).
    actions: int = ...,  # default: 1. Pseudo-actions m of the implicit model (1: the paper's Markov reward chain; docs/extensions.md).
    reduce: Literal["max", "logsumexp"] = ...,  # default: max. Bellman reduction over pseudo-actions: max (policy iteration) or logsumexp (Newton); the identity when actions = 1.
    temperature: float = ...,  # default: 1. Temperature τ of the logsumexp reduction.
    learn_eta: Literal["none", "scalar", "per-state-action"] = ...,  # default: none. Learn the internal discount η = σ(ρ) from eta as its start: no, one scalar, or one per state and pseudo-action.
    eta_lr_factor: float = ...,  # default: 1. Learning rate of a learned η's ρ as a factor of lr (the optimizer's rate; 1: the same rate).
    targets: str = ...,  # default: mc. Training targets: mc (truncated returns, published) or td:N (N-step TD, semi-gradient).
    optimizer: Literal["sgd", "momentum", "adam"] = ...,  # default: sgd. Optimizer of the parameters: plain SGD (published runs), heavy-ball momentum or Adam (docs/extensions.md).
    momentum: float = ...,  # default: 0.9. Heavy-ball momentum β of `optimizer = momentum` (m ← βm + g, ψ ← ψ − αm).
    adam_beta1: float = ...,  # default: 0.9. Adam's first-moment decay β₁ (`optimizer = adam`).
    adam_beta2: float = ...,  # default: 0.999. Adam's second-moment decay β₂ (`optimizer = adam`).
    adam_eps: float = ...,  # default: 1e-8. Adam's ε, added outside the square root (`optimizer = adam`).
    grad: str = ...,  # default: ift. Implicit model's gradient: ift (exact), unroll:K (VIN, θ_K from 0), unroll-warm:K, truncated:K (SPEC §8.3).
    # END run settings
    params: bool = False,
    save_every: Optional[int] = None,
) -> RunLog: ...
def sweep(
    grid: Union[Mapping[str, Any], _Path],
    out: _Path,
    jobs: Optional[int] = None,
    progress: bool = True,
    save_params: bool = False,
) -> SweepSummary: ...
def load_results(path: _Path, table: Literal["evals", "theta"] = "evals") -> pandas.DataFrame: ...
def export_parquet(results: _Path, out: _Path) -> int: ...
def settings() -> List[Dict[str, Any]]: ...

class ImplicitModel:
    """The implicit layer (SPEC §1, §8.1): θ̂ = reduce_a (w[:, a] + η σ(F[:, a, :]) θ̂).

    `w` has shape (k,) or (k, m) and `logits` (k, k) or (k, m, k). With one pseudo-action this
    is the Markov reward chain θ̂ = (I − η σ(F))⁻¹ w (either reduction is the identity); with
    m > 1 the fixed point is solved by Newton's method (policy iteration for "max"; "logsumexp"
    is τ log Σ_a exp(Q_ka / τ) with τ = `temperature`).

    `eta` is one internal discount 0 <= η < 1, or an array of w's shape ((k, m), or (k,) for w
    of shape (k,)) of discounts η_ka per state and pseudo-action (SPEC §8.2:
    Q_ka = w_ka + η_ka (S_a θ)_k), each 0 <= η_ka < 1 (a ValueError names `eta`, its shape or
    the entry). A per-state-action η is solved by Newton's method also for m = 1 (equal to the
    one-η model to the solver's tolerance when all η_ka are equal); `eta` and vjp's "eta" are
    then arrays of w's shape.
    """

    def __init__(
        self,
        w: npt.ArrayLike,
        logits: npt.ArrayLike,
        eta: Union[float, npt.ArrayLike],
        reduce: Literal["max", "logsumexp"] = "max",
        temperature: float = 1.0,
    ) -> None: ...
    @property
    def theta(self) -> npt.NDArray[np.float64]: ...
    @property
    def w(self) -> npt.NDArray[np.float64]: ...
    @property
    def logits(self) -> npt.NDArray[np.float64]: ...
    @property
    def transitions(self) -> npt.NDArray[np.float64]: ...
    @property
    def eta(self) -> Union[float, npt.NDArray[np.float64]]: ...
    @property
    def k(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def reduce(self) -> str: ...
    @property
    def temperature(self) -> float: ...
    def vjp(self, g: npt.ArrayLike) -> Gradients:
        """Gradients of L for g = ∂L/∂θ̂ (shape (k,)), by the implicit function theorem
        (SPEC §8.2): with π = ∂reduce/∂Q and u = (I − J)⁻ᵀ g, J = Σ_a diag(π[:, a]) η S_a,
        w: u_k π_ka (shape of w), logits: η_ka u_k π_ka S_a,kj (θ̂_j − (S_a θ̂)_k) (shape of
        logits), eta: Σ_ka u_k π_ka (S_a θ̂)_k for one η, or u_k π_ka (S_a θ̂)_k in w's shape for
        η per state and pseudo-action."""
        ...
    def step(self, g: npt.ArrayLike, lr: float) -> None:
        """One plain SGD step on (w, logits) for g = ∂L/∂θ̂ (η stays), then θ̂ again; on failure
        the model is unchanged."""
        ...

class Mdp:
    """A finite MDP with an evaluated policy (SPEC §8.6, §9.3), from NumPy arrays."""
    P: npt.NDArray[np.float64]
    R: npt.NDArray[np.float64]
    policy: npt.NDArray[np.float64]
    gamma: float
    def __init__(
        self,
        P: npt.ArrayLike,
        R: npt.ArrayLike,
        policy: npt.ArrayLike,
        gamma: float,
        start: Optional[npt.ArrayLike] = None,
        terminal: Optional[List[int]] = None,
        features: Optional[npt.ArrayLike] = None,
        trajectories: Optional[int] = None,
        length: Optional[int] = None,
        keep: Optional[Literal["first", "all"]] = None,
    ) -> None: ...
    @property
    def n_states(self) -> int: ...
    @property
    def n_actions(self) -> int: ...
    @property
    def content_hash(self) -> str: ...
    def to_toml(self, path: _Path) -> "os.PathLike[str]": ...
    def values(self) -> npt.NDArray[np.float64]: ...
    def domain(self, directory: Optional[_Path] = None) -> str: ...
    @classmethod
    def from_gymnasium(cls, env: Any, policy: npt.ArrayLike, gamma: float, **data: Any) -> "Mdp": ...
