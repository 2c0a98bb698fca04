"""``python -m lstmcore`` (console script ``lstmcore``): the command line.

    lstmcore [demo] [options]      year-ahead CO2 forecast with an LSTM beside naive baselines (default)
    lstmcore forecast [options]    CNN-LSTM forecaster (Kim & Cho 2019 layout) on the CO2 record
    lstmcore charlm [options]      character-level language model on the standard library's sources
    lstmcore adding [--T 100]      Hochreiter & Schmidhuber (1997) adding problem
    lstmcore temporal-order        Hochreiter & Schmidhuber (1997) temporal order problem (6a)
    lstmcore bench                 quick timing table: fast_lstm against the installed peers
    lstmcore info                  version, kernel path, threads, build details

Options may also come before the command (`lstmcore --quiet info`); with no command, `demo` runs.
One module per subcommand (NAME, HELP, add_arguments, run).  Errors are one line on stderr:
exit status 2 for a bad option (argparse), 1 for anything that fails while running.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence

from . import adding, bench, charlm, demo, forecast, info, temporal_order
from .common import CliError, Parser

COMMANDS = (demo, forecast, charlm, adding, temporal_order, bench, info)
NAMES = {command.NAME for command in COMMANDS}
DEFAULT = demo.NAME


def build_parser() -> Parser:
    parser = Parser(prog="lstmcore", formatter_class=argparse.RawDescriptionHelpFormatter, description="fast-lstm's command line: real data, classic experiments, "
                                                 "timings.  Options may come before or after the command; with no "
                                                 "command it runs `demo`.",
                    epilog="`lstmcore COMMAND --help` lists a command's options.  Exit status: 0 done, 1 failed while "
                           "running, 2 bad option, 3 criterion not met (adding, temporal-order).")
    parser.add_argument("--version", action="version", version=f"lstmcore {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=(command.__doc__ or "").strip(),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _version() -> str:
    import fast_lstm
    return fast_lstm.__version__


def _with_command_first(argv: List[str], takes_value: Dict[str, bool]) -> List[str]:
    """Options may come before the command: `lstmcore --quiet info` is `lstmcore info --quiet`.  The
    command is the first argument that is neither an option nor an option's value (`--prompt info`
    stays a prompt); with none, `demo`.  A top-level -h/--help/--version first, or a first argument
    that is not a command, is left to the top-level parser."""
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "--":
        option = argv[index]
        index += 2 if "=" not in option and _takes_value(option, takes_value) else 1
    if index < len(argv) and argv[index] in NAMES:
        return [argv[index], *argv[:index], *argv[index + 1:]]
    if argv and (argv[0] in ("-h", "--help", "--version") or not argv[0].startswith("-")):
        return argv
    return [DEFAULT, *argv]


def _takes_value(option: str, takes_value: Dict[str, bool]) -> bool:
    """Whether `option` reads the next argument; argparse also accepts an unambiguous prefix (--thr)."""
    if option in takes_value:
        return takes_value[option]
    readings = {value for name, value in takes_value.items() if name.startswith(option)}
    return readings == {True}


def _options(parser: argparse.ArgumentParser) -> Dict[str, bool]:
    """Every option string of every command -> whether it takes a value (argparse has no public way
    to list a parser's actions, hence _actions)."""
    takes_value: Dict[str, bool] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                takes_value.update(_options(command))
        for option in action.option_strings:
            takes_value[option] = action.nargs != 0
    return takes_value


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    return parser.parse_args(_with_command_first(list(argv), _options(parser)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    prog = f"lstmcore {args.command}"
    try:
        return args.run(args)
    except CliError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug or an unforeseen failure: still one line, the traceback on request
        if os.environ.get("LSTMCORE_DEBUG"):
            raise
        print(f"{prog}: error: {type(error).__name__}: {error} (LSTMCORE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
    return 1
