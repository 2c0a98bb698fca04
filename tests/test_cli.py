"""lstmcore.cli: every subcommand runs with tiny settings, prints a real metric and exits 0;
bad options and unusable paths fail with one line on stderr and no traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import fast_lstm
import lstmcore

COMMANDS = ("demo", "forecast", "charlm", "adding", "temporal-order", "bench", "info")
TINY_FORECAST = ("--epochs", "1", "--hidden", "8", "--no-plot")


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstmcore", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_help_lists_every_command():
    out = ok(run_cli("--help"))
    for command in COMMANDS:
        assert command in out


def test_options_alone_run_demo_quietly_with_metric_beside_baselines():
    out = ok(run_cli("--quiet", *TINY_FORECAST, "--threads", "1"))
    assert "isa=" not in out  # --quiet: result lines only
    assert re.search(r"LSTM\s+RMSE\s+\d+\.\d+\s+MAE\s+\d+\.\d+", out)
    assert re.search(r"seasonal naive\s+RMSE\s+\d+\.\d+", out)
    assert re.search(r"last value\s+RMSE\s+\d+\.\d+", out)
    assert re.search(r"LSTM: validation RMSE \d+\.\d+ ppm vs .*wall time \d+\.\d+ s", out)


def test_demo_saves_a_loadable_model_and_reports_the_plot(tmp_path):
    model_path, plot_path = tmp_path / "demo.lstm", tmp_path / "demo.png"
    out = ok(run_cli("demo", "--epochs", "1", "--hidden", "8", "--seed", "2", "--save", str(model_path),
                     "--plot", str(plot_path)))
    assert "isa=" in out and "seed=2" in out and "2284 weeks" in out
    model = lstmcore.load(model_path)
    assert model.predict(np.zeros((1, 104, 1), np.float32)).shape == (1, 52)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plot skipped: matplotlib is not installed" in out and not plot_path.exists()
    else:
        assert plot_path.stat().st_size > 0


def test_forecast_cnn_lstm_prints_layout_and_metric():
    out = ok(run_cli("forecast", *TINY_FORECAST, "--window", "60", "--horizon", "13"))
    assert "Conv1D(1->32" in out and "MaxPool1D(2)" in out and "LSTM(32->8)" in out
    assert re.search(r"CNN-LSTM: validation RMSE \d+\.\d+ ppm vs", out)


def test_charlm_prints_perplexity_beside_unigram_and_a_sample():
    out = ok(run_cli("charlm", "--epochs", "1", "--hidden", "16", "--chars", "30000", "--steps", "50",
                     "--sample", "40", "--prompt", "import "))
    match = re.search(r"validation perplexity (\d+\.\d+) per character vs unigram baseline (\d+\.\d+)", out)
    assert match and 1.0 < float(match.group(1)) < 97.0 * 2
    assert "\nimport " in out  # the sample starts from the prompt


def test_adding_T20_meets_the_papers_criterion_within_budget():
    result = run_cli("adding", "--T", "20", "--epochs", "100", "--seed", "0")
    out = ok(result)
    match = re.search(r"adding problem T=20: criterion met after ([\d,]+) training sequences", out)
    assert match, out
    assert 0 < int(match.group(1).replace(",", "")) <= 200_000


def test_temporal_order_T20_meets_the_papers_criterion():
    out = ok(run_cli("temporal-order", "--T", "20", "--epochs", "20", "--quiet"))
    assert re.search(r"temporal order problem \(6a\) T=20: criterion met after [\d,]+ training sequences", out)


def test_unmet_criterion_exits_3_and_says_so():
    result = run_cli("adding", "--T", "20", "--epochs", "1", "--quiet")
    assert result.returncode == 3
    assert "criterion NOT met within 2,000 training sequences" in result.stdout


def test_bench_prints_a_table_with_fast_lstm_and_numpy():
    out = ok(run_cli("bench", "--quick", "--repeats", "1", "--hidden", "32"))
    assert re.search(r"T=100 B=32 H=32\s+forward\s+fast_lstm\s+\d+\.\d+", out)
    assert re.search(r"forward\s+numpy\s+\d+\.\d+\s+\d+\.\d+x", out)


def test_info_names_version_isa_and_threads():
    out = ok(run_cli("info", "--threads", "1"))
    assert fast_lstm.__version__ in out
    assert re.search(rf"kernel path \(ISA\)\s+{fast_lstm.isa()}", out)
    assert re.search(r"threads\s+1 ", out)


@pytest.mark.parametrize("args, status", [
    (["--bogus"], 2), (["--threads", "0"], 2), (["--threads", "two"], 2), (["--seed", "x"], 2), (["extra"], 2),
    (["charlm", "--epochs", "-1"], 2), (["adding", "--T", "5"], 1), (["temporal-order", "--T", "3"], 1),
    (["demo", "--save", "/nonexistent-dir/model.lstm"], 1), (["forecast", "--window", "8"], 1),
])
def test_bad_option_fails_with_one_error_line_and_no_traceback(args, status):
    result = run_cli(*args)
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr


def test_save_into_a_directory_path_fails_before_training(tmp_path):
    result = run_cli("adding", "--T", "20", "--save", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"lstmcore adding: error: --save {tmp_path}: is a directory"
