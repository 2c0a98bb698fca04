"""lstmcore.cli: `python -m lstmcore` runs the demo job; bad options fail with one clear line."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

import fast_lstm

CHECKSUM = re.compile(r"^checksum: sum\(y\)=(\S+) sum\|dW_hh\|=(\S+)$")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lstmcore", *args], capture_output=True, text=True, timeout=300
    )


def test_quiet_prints_only_the_checksum_line():
    result = run_cli("--quiet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    match = CHECKSUM.match(lines[0])
    assert match, lines[0]
    assert all(math.isfinite(float(value)) for value in match.groups())
    assert result.stderr == ""


def test_default_output_names_isa_threads_times_and_checksum():
    result = run_cli("--threads", "1", "--seed", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"isa={fast_lstm.isa()}" in out
    assert "threads=1" in out
    assert "seed 3" in out
    assert re.search(r"forward \(inference\): \d+\.\d+ ms/pass", out)
    assert re.search(r"training step \(forward \+ MSE gradient \+ backward\): \d+\.\d+ ms/step", out)
    assert CHECKSUM.match(out.splitlines()[-1])


def test_checksum_is_deterministic_across_runs_and_thread_counts():
    one = run_cli("--quiet", "--threads", "1")
    two = run_cli("--quiet", "--threads", "2")
    again = run_cli("--quiet", "--threads", "2")
    other_seed = run_cli("--quiet", "--seed", "1")
    assert one.returncode == two.returncode == again.returncode == other_seed.returncode == 0
    # The kernels promise bitwise-equal results at any thread count.
    assert one.stdout == two.stdout == again.stdout
    assert other_seed.stdout != one.stdout


@pytest.mark.parametrize(
    "args", [["--bogus"], ["--threads", "0"], ["--threads", "two"], ["--seed", "x"], ["extra"]]
)
def test_bad_option_fails_with_one_error_line_and_no_traceback(args):
    result = run_cli(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
