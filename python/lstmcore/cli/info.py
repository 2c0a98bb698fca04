"""`info`: what this installation is: versions, the kernel path in use and the paths available,
threads, where the compiled module lives and what its binary says about how it was built.

Build details are read, not assumed: the compiler identification strings the compiler left in the
module's ``.comment`` section (GCC and Clang write them there), the CPU features the kernel
selection can use from /proc/cpuinfo (Linux), and the FAST_LSTM_ISA override if set.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import sys
from typing import List, Optional

import numpy as np

import fast_lstm

from .common import add_runtime_options, apply_threads

NAME = "info"
HELP = "version, kernel (ISA) path, threads, build details"
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_runtime_options(parser)


def compiled_module() -> Optional[str]:
    core = getattr(fast_lstm, "_core", None)
    path = getattr(core, "__file__", None)
    if path:
        return path
    found = glob.glob(os.path.join(os.path.dirname(fast_lstm.__file__), "_core*"))
    return found[0] if found else None


def compiler_notes(path: str) -> List[str]:
    """The distinct 'GCC: (...) x.y' / 'clang version ...' strings in the binary (its .comment section)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return []
    found = re.findall(rb"(?:GCC: \([^)\x00]*\) [0-9][^\x00]{0,60}|clang version [0-9][^\x00]{0,80})", data)
    return sorted({item.decode("ascii", "replace").strip() for item in found})


def cpu_flags() -> Optional[List[str]]:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in CPU_FLAGS if flag in present]
    except OSError:
        return None
    return None


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    module = compiled_module()
    rows = [
        ("lstmcore / fast_lstm", fast_lstm.__version__),
        ("kernel path (ISA)", fast_lstm.isa()),
        ("available paths", ", ".join(fast_lstm.available_isas())),
        ("FAST_LSTM_ISA", os.environ.get("FAST_LSTM_ISA", "(not set)")),
        ("threads", f"{fast_lstm.get_num_threads()} (CPUs usable by this process: {_usable_cpus()})"),
    ]
    if not args.quiet:
        flags = cpu_flags()
        rows += [
            ("CPU", f"{platform.machine()}, flags: {' '.join(flags) if flags is not None else 'unknown'}"),
            ("fast_lstm package", os.path.dirname(fast_lstm.__file__)),
            ("compiled module", module or "(not found)"),
        ]
        if module:
            notes = compiler_notes(module)
            rows.append(("compiler (from binary)", "; ".join(notes) if notes else "(no identification strings found)"))
        rows += [
            ("lstmcore package", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
            ("python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"),
            ("numpy", np.__version__),
            ("platform", platform.platform()),
        ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
