"""What every subcommand shares: one-line errors, the common options, thread setup, timing,
saving the model and the optional plot."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Callable, NoReturn, Optional

import fast_lstm

from ..io import save

MAX_THREADS = 1024  # fast_lstm.set_num_threads accepts 1..1024


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): `prog: error: message (see prog --help)`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def bounded_int(lowest: int, highest: Optional[int] = None, reason: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from `lowest` to `highest` (None: no upper bound); `reason`, if
    given, says in the error message where the bound comes from."""
    if highest is not None:
        wanted = f"an integer from {lowest} to {highest}"
    else:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(lowest, f"an integer of at least {lowest}")
    if reason:
        wanted += f" ({reason})"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < lowest or (highest is not None and value > highest):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value
    return parse


positive_int = bounded_int(1)
non_negative_int = bounded_int(0)  # seeds: numpy and the layers refuse negative ones


def _float(text: str, wanted: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None


def positive_float(text: str) -> float:
    value = _float(text, "a positive number")
    if not (value > 0 and math.isfinite(value)):  # `not >` also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def finite_float(text: str) -> float:
    value = _float(text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """--threads, --seed, --quiet: on every subcommand."""
    group = parser.add_argument_group("common options")
    group.add_argument("--threads", type=bounded_int(1, MAX_THREADS), default=None, metavar="N",
                       help=f"kernel threads, 1 to {MAX_THREADS} (default: fast_lstm's, the CPUs this process may use)")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="seed of data, initial weights and shuffling, 0 or more (default 0)")
    group.add_argument("--quiet", action="store_true", help="no progress bar; print only the result lines")


def add_training_options(parser: argparse.ArgumentParser, *, epochs: int, hidden: int,
                         epochs_help: str = "training epochs") -> None:
    """--epochs, --hidden, --save, plus the runtime options: on every subcommand that trains."""
    add_runtime_options(parser)
    group = parser.add_argument_group("training options")
    group.add_argument("--epochs", type=positive_int, default=epochs, metavar="N",
                       help=f"{epochs_help} (default {epochs})")
    group.add_argument("--hidden", type=positive_int, default=hidden, metavar="H",
                       help=f"LSTM hidden units (default {hidden})")
    group.add_argument("--save", metavar="PATH", default=None,
                       help="write the trained model there (lstmcore.save; read back with lstmcore.load)")


def apply_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None) is not None:
        fast_lstm.set_num_threads(args.threads)


def check_writable(path: Optional[str], option: str) -> None:
    """Fail before any training if `path` cannot be written (missing directory, no permission, a directory)."""
    if path is None:
        return
    if path == "":
        raise CliError(f"{option}: empty path")
    if os.path.isdir(path):
        raise CliError(f"{option} {path}: is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise CliError(f"{option} {path}: not writable")


def save_model(model: Any, args: argparse.Namespace) -> None:
    if args.save is None:
        return
    try:
        save(model, args.save)
    except OSError as error:
        raise CliError(f"--save {args.save}: {error.strerror or error}") from None
    say(args, f"model saved to {args.save} (lstmcore.load reads it back)")


def say(args: argparse.Namespace, text: str = "") -> None:
    """A detail line: printed unless --quiet."""
    if not args.quiet:
        print(text, flush=True)


def show_progress(args: argparse.Namespace) -> bool:
    """fit's progress bar: never with --quiet; fit itself shows it only when stderr is a terminal."""
    return not args.quiet


def terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def header(args: argparse.Namespace, job: str) -> None:
    say(args, f"lstmcore {fast_lstm.__version__} {job}: isa={fast_lstm.isa()} "
              f"threads={fast_lstm.get_num_threads()} seed={args.seed}")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started


def matplotlib_pyplot() -> Any:
    """matplotlib.pyplot with a file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return None
    return pyplot
