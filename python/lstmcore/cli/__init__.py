"""``python -m lstmcore`` (console script ``lstmcore``): the command line.

    lstmcore [demo] [options]      year-ahead CO2 forecast with an LSTM beside naive baselines (default)
    lstmcore forecast [options]    CNN-LSTM forecaster (Kim & Cho 2019 layout) on the CO2 record
    lstmcore charlm [options]      character-level language model on the standard library's sources
    lstmcore adding [--T 100]      Hochreiter & Schmidhuber (1997) adding problem
    lstmcore temporal-order        Hochreiter & Schmidhuber (1997) temporal order problem (6a)
    lstmcore bench                 quick timing table: fast_lstm against the installed peers
    lstmcore info                  version, kernel path, threads, build details

One module per subcommand (NAME, HELP, add_arguments, run).  Errors are one line on stderr:
exit status 2 for a bad option (argparse), 1 for anything that fails while running.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from . import adding, bench, charlm, demo, forecast, info, temporal_order
from .common import CliError, Parser

COMMANDS = (demo, forecast, charlm, adding, temporal_order, bench, info)
DEFAULT = demo.NAME


def build_parser() -> Parser:
    parser = Parser(prog="lstmcore", formatter_class=argparse.RawDescriptionHelpFormatter, description="fast-lstm's command line: real data, classic experiments, "
                                                 "timings.  With no command (or only options) it runs `demo`.",
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


def _with_default_command(argv: List[str]) -> List[str]:
    """`lstmcore` and `lstmcore --quiet ...` mean `lstmcore demo ...`; top-level -h/--version stay."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        return [DEFAULT, *argv]
    return argv


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(arguments)
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
