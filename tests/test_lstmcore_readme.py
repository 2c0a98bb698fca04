"""The README's lstmcore examples run as written (each ```python block that calls lstmcore.fit),
in a scratch directory so the files they save land there."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "lstmcore.fit" in block]


def test_the_readme_has_an_lstmcore_example():
    assert BLOCKS, "README.md must show an lstmcore.fit example"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_as_written(tmp_path, index):
    source = BLOCKS[index]
    assert len(source.strip().splitlines()) < 15, "the README promises an example under 15 lines"
    done = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
