"""lstmcore.cli: every subcommand runs with tiny settings, prints a real metric and exits 0;
bad options and unusable paths fail with one line on stderr and no traceback."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import fast_lstm
import lstmcore
from lstmcore import cli
from lstmcore.cli import adding, bench, charlm, forecast, info

COMMANDS = ("demo", "forecast", "charlm", "adding", "temporal-order", "bench", "info")
TINY_FORECAST = ("--epochs", "1", "--hidden", "8", "--no-plot")
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


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
    (["charlm", "--epochs", "-1"], 2), (["adding", "--T", "5"], 2), (["temporal-order", "--T", "3"], 2),
    (["demo", "--save", "/nonexistent-dir/model.lstm"], 1), (["forecast", "--window", "8"], 2),
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


def refused_while_parsing(capsys, *args: str) -> str:
    """Runs the command line in-process on arguments it must refuse before any work: exit 2, one line."""
    with pytest.raises(SystemExit) as stop:
        cli.main(list(args))
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "error: argument" in lines[0], captured.err
    return lines[0]


TINY = {"demo": TINY_FORECAST, "forecast": TINY_FORECAST, "info": (), "bench": ("--quick", "--repeats", "1"),
        "charlm": ("--epochs", "1", "--hidden", "4", "--chars", "3000", "--steps", "20", "--sample", "0"),
        "adding": ("--T", "10", "--epochs", "1"), "temporal-order": ("--T", "10", "--epochs", "1")}


@pytest.mark.parametrize("command, option, value", [
    *((command, "--seed", "-1") for command in ("demo", "forecast", "charlm", "adding", "temporal-order", "bench")),
    ("info", "--threads", "5000"), ("forecast", "--lr", "-1"), ("forecast", "--lr", "nan"), ("forecast", "--lr", "inf"),
    ("adding", "--lr", "0"), ("temporal-order", "--lr", "inf"), ("charlm", "--sample", "-1"),
    ("charlm", "--temperature", "inf"), ("adding", "--T", "5"), ("temporal-order", "--T", "9"),
    ("forecast", "--window", "9"),
])
def test_meaningless_values_are_bad_options(capsys, command, option, value):
    # the tiny sizes first: a CLI that failed to refuse the value still ends quickly
    line = refused_while_parsing(capsys, command, *TINY[command], option, value)
    assert line.startswith(f"lstmcore {command}: error: argument {option}: expected "), line


@pytest.mark.parametrize("command", ["adding", "temporal-order"])
@pytest.mark.parametrize("bias", ["nan", "inf", "-inf"])
def test_non_finite_forget_bias_is_a_bad_option(capsys, command, bias):
    line = refused_while_parsing(capsys, command, "--T", "10", "--epochs", "1", f"--forget-bias={bias}")
    assert f"argument --forget-bias: expected a finite number, got {bias}" in line


def test_forecast_window_minimum_follows_the_layers(capsys):
    stages = forecast.feature_stages(seed=0)
    assert forecast.shortest_window(stages) == 10  # k=3, pool 2, twice: 10 -> 8 -> 4 -> 2 -> 1
    model = forecast.build_model(horizon=3, hidden=4, seed=0)
    assert model.predict(np.zeros((1, 10, 1), np.float32)).shape == (1, 3)
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 9, 1), np.float32))
    assert "expected an integer of at least 10" in refused_while_parsing(capsys, "forecast", "--window", "9")
    assert cli.parse_arguments(["forecast", "--window", "10"]).window == 10


def test_readme_lists_the_options_of_bench_and_info():
    match = re.search(r"`bench` takes (.*?); `info` takes (.*?) only\.", README.read_text(), re.S)
    assert match, "README must say which options bench and info take"
    for module, listed in ((bench, match.group(1)), (info, match.group(2))):
        parser = cli.Parser()
        module.add_arguments(parser)
        options = set(re.findall(r"--[a-z][a-z-]*", parser.format_help())) - {"--help"}
        assert options == set(re.findall(r"--[a-z][a-z-]*", listed)), module.NAME


def test_options_may_come_before_the_command():
    out = ok(run_cli("--threads", "1", "--quiet", "info"))
    assert re.search(r"threads\s+1 ", out) and "compiled module" not in out  # --quiet reached info
    args = cli.parse_arguments(["--seed", "3", "--thr", "2", "adding", "--T", "20"])
    assert (args.command, args.seed, args.threads, args.T) == ("adding", 3, 2, 20)
    args = cli.parse_arguments(["--prompt", "info", "charlm"])  # an option's value is not the command
    assert (args.command, args.prompt) == ("charlm", "info")
    args = cli.parse_arguments(["--save", "info"])
    assert (args.command, args.save) == ("demo", "info")
    assert cli.parse_arguments([]).command == "demo"


@pytest.mark.parametrize("chars", [30_000, 400_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_charlm_holds_out_about_one_character_in_ten(chars, seed):
    train, validation, files = charlm.read_text(charlm.stdlib_files(np.random.default_rng(seed)), chars)
    total = len(train) + len(validation)
    assert 0.08 <= len(validation) / total <= 0.12
    assert 0.8 * chars <= total <= 1.1 * chars and files >= 2


def test_adding_marks_two_pairs_and_keeps_the_end_marker_at_T10():
    T = 10
    x, target, lengths = adding.make(np.random.default_rng(0), 4000, T)
    rows = np.arange(len(x))
    markers = x[:, :, 1]
    assert (markers[rows, lengths - 1] == -1.0).all()  # the last pair is never one of the marked
    marked = markers == 1.0
    assert (marked.sum(axis=1) == 2).all()
    positions = np.sort(np.argwhere(marked)[:, 1].reshape(-1, 2), axis=1)
    assert (positions[:, 1] <= 9).all() and (positions[:, 0] < T // 2).all()
    # X2 is one of the first T/2 - 1 unmarked pairs: all T/2 - 1 of them when X1 lies beyond them
    assert set(positions[positions[:, 1] >= T // 2, 0]) == set(range(T // 2 - 1))
    values = np.where(marked, x[:, :, 0], 0.0).sum(axis=1)
    np.testing.assert_allclose(target[:, 0], 0.5 + values / 4, atol=1e-6)
