"""The README's Python example (a small sweep and Figure 2 from the data frame) runs."""

import os
import re

import pytest

from conftest import REPO


def test_the_readme_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "figure2.png").stat().st_size > 1000
    assert os.path.isdir(tmp_path / "runs-fig2")
