"""The README's Python example (a small sweep and Figure 2 from the data frame) runs."""

import os
import re

import pytest

from conftest import REPO


def test_the_readme_install_line_brings_what_the_example_imports():
    """The README's `pip install` line names the extra whose packages the example imports (CI
    installs the package by that line, so the example below runs with exactly those)."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python") :]
    install = re.search(r'pip install "\./python\[(\w+)\]"', section)
    assert install, "the README installs the package with an extra"
    pyproject = (REPO / "python" / "pyproject.toml").read_text()
    extra = re.search(install.group(1) + r" = \[(.*?)\]", pyproject).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    imported = set()
    for line in code.splitlines():
        if line.startswith("import "):
            imported |= {m.strip().split(".")[0].split()[0] for m in line[7:].split(",")}
        elif line.startswith("from "):
            imported.add(line.split()[1].split(".")[0])
    imported -= {"imprl"}
    assert imported and all(name in extra for name in imported), (imported, extra)


def test_the_readme_example_runs(tmp_path, monkeypatch):
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
