"""Shared fixtures: the command-line binary the package is compared with."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def find_cli() -> Path:
    """The `imprl` binary: $IMPRL_BIN, else the release build under $CARGO_TARGET_DIR or the
    repository's target/."""
    candidates = []
    if os.environ.get("IMPRL_BIN"):
        candidates.append(Path(os.environ["IMPRL_BIN"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "imprl")
    candidates.append(REPO / "target" / "release" / "imprl")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(
        "the imprl binary was not found (tried "
        + ", ".join(str(c) for c in candidates)
        + "): build it with `cargo build --release` or set IMPRL_BIN"
    )


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI with the given arguments; returns the completed process."""
    binary = find_cli()

    def call(*args, check=True):
        p = subprocess.run(
            [str(binary), *map(str, args)], capture_output=True, text=True
        )
        if check and p.returncode != 0:
            raise AssertionError(f"imprl {' '.join(map(str, args))}: {p.stderr}")
        return p

    return call
