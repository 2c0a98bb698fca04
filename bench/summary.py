"""Markdown summary of one benchmark run: fast_lstm beside its peers, per thread count.

  python bench/summary.py results.json     # results.json from pytest --benchmark-json

One table per thread count.  Per row (shape, mode): fast_lstm's median time, the spread of its
rounds (IQR / median), its GFLOP/s (matmul FLOPs, see test_grid.py), that rate as a fraction of
the numpy sgemm rate timed in the same cell (interleaved with it; the separate sgemm row of the run
when the cell has none), that sgemm rate, the same for numpy doing the shape's own matrix
products (lstm_impls.build_products: the limit of the shape), and for each peer present the ratio
peer median / fast_lstm median (above 1: fast_lstm is faster) with the peer's median beside it.
Without fast_lstm in the run, the peer cells show each peer's own median and GFLOP/s.  The stream
row is per step (its benchmark times 100 single-step calls).  The training epochs of a whole model
(test_fit_epoch.py, mode "epoch") get a small table of their own: seconds per epoch of lstmcore
and torch, and the ratio torch / lstmcore, per thread count; so do fast_lstm's 2-thread speedups
(test_scaling.py, scaling=True): its 1- and 2-thread medians from one interleaved cell, beside
numpy sgemm's speedup from the same cell.
"""

from __future__ import annotations

import argparse
import json
import sys

SHAPE_ORDER = ("tiny", "small", "medium", "large", "xlarge", "long", "stream")
MODE_ORDER = ("forward", "train", "step")
PEERS = ("torch", "onnxruntime", "numpy", "numpy_sgemv")
# The limits timed beside the LSTMs of a cell: a deep sgemm, and the shape's own products.
LIMITS = ("numpy_sgemm", "numpy_products")
# Another process using this fraction of the machine while a row was measured spoils the row.
BUSY_FRACTION = 0.15
# Mode of test_fit_epoch.py's rows: one training epoch of a whole model, not a kernel call.
EPOCH_MODE = "epoch"


def load(path: str) -> tuple[list[dict], dict]:
    with open(path) as f:
        data = json.load(f)
    return data.get("benchmarks", []), data


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def row_order(key: tuple) -> tuple:
    """Sort key of a (shape, mode) row: the grid's order, a shape's "(packed)" row after it."""
    shape, mode = key
    base = shape.split(" ")[0]
    order = SHAPE_ORDER.index(base) if base in SHAPE_ORDER else len(SHAPE_ORDER)
    return (order, shape, MODE_ORDER.index(mode) if mode in MODE_ORDER else 9)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}"


class Entry:
    def __init__(self, bench: dict):
        info = bench["extra_info"]
        self.impl = info["impl"]
        self.shape = info["shape"]
        self.mode = info["mode"]
        self.threads = info["threads"]
        self.flops = info.get("flops")
        self.steps = info.get("steps", 1)
        self.version = info.get("version", "")
        self.other_load = info.get("other_cpu_load")
        # test_scaling.py: fast_lstm or numpy's sgemm at this thread count, interleaved with
        # both at the other.
        self.scaling = bool(info.get("scaling"))
        # The stream benchmark times `steps` calls; everything below is per call.
        self.median = bench["stats"]["median"] / self.steps
        self.iqr_fraction = bench["stats"]["iqr"] / bench["stats"]["median"]
        self.flops_per_call = self.flops / self.steps if self.flops else None

    @property
    def gflops(self):
        return self.flops_per_call / self.median / 1e9 if self.flops_per_call else None

    @property
    def busy(self) -> bool:
        return self.other_load is not None and self.other_load >= BUSY_FRACTION


def summarize(benchmarks: list[dict], meta: dict | None = None) -> str:
    all_entries = [Entry(b) for b in benchmarks if "impl" in b.get("extra_info", {})]
    entries = [e for e in all_entries if e.mode != EPOCH_MODE and not e.scaling]
    out = []
    if meta:
        machine = meta.get("machine_info", {})
        cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", ""))
        versions = sorted({f"{e.impl} {e.version}" for e in all_entries if e.impl not in LIMITS})
        out.append(f"Run {meta.get('datetime', '')} on {cpu}; {', '.join(versions)}.")
        out.append("")

    for threads in sorted({e.threads for e in entries}):
        at = [e for e in entries if e.threads == threads]
        sgemm = next((e for e in at if e.impl == "numpy_sgemm" and e.mode == "sgemm"), None)
        # The sgemm timed inside each cell, interleaved with its LSTMs: the limit of that row.
        cell_sgemm = {(e.shape, e.mode): e for e in at if e.impl == "numpy_sgemm" and e.mode != "sgemm"}
        cell_products = {(e.shape, e.mode): e for e in at if e.impl == "numpy_products"}
        out.append(f"### {threads} thread{'s' if threads > 1 else ''}")
        out.append("")
        if sgemm:
            out.append(
                f"numpy float32 matmul on its own (the limit): {fmt_ms(sgemm.median)} ms, "
                f"{sgemm.gflops:.0f} GFLOP/s{' (busy machine)' if sgemm.busy else ''}"
            )
        else:
            out.append("numpy float32 matmul on its own (the limit): not in this run")
        out.append("")
        peers = [p for p in PEERS if any(e.impl == p for e in at)]
        out.append(
            "| shape | mode | fast_lstm ms | IQR | GFLOP/s | of sgemm | sgemm GFLOP/s | "
            "of products | products GFLOP/s | "
            + " | ".join(f"{p} (ratio, ms)" for p in peers)
            + " |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(peers))

        by_row: dict[tuple, dict[str, Entry]] = {}
        for e in at:
            if e.impl in LIMITS:
                continue
            shape = e.shape
            impl = e.impl
            if impl == "fast_lstm_packed":
                # A row of its own: weights packed once (PackedLSTM), beside the same peers.
                shape, impl = f"{shape} (packed)", "fast_lstm"
            by_row.setdefault((shape, e.mode), {})[impl] = e

        any_busy = False
        for shape, mode in sorted(by_row, key=row_order):
            row = dict(by_row[(shape, mode)])
            if shape.endswith(" (packed)"):
                # Peers of the packed row are those of the plain row.
                for p, e in by_row.get((shape[: -len(" (packed)")], mode), {}).items():
                    if p != "fast_lstm":
                        row.setdefault(p, e)
            busy = any(e.busy for e in row.values())
            any_busy |= busy
            label = shape + (" *" if busy else "")
            mode_label = "step (per call)" if mode == "step" else mode
            fast = row.get("fast_lstm")
            limit = cell_sgemm.get((shape.removesuffix(" (packed)"), mode), sgemm)
            products = cell_products.get((shape.removesuffix(" (packed)"), mode))
            if fast:
                cells = [
                    fmt_ms(fast.median),
                    f"{100 * fast.iqr_fraction:.0f}%",
                    f"{fast.gflops:.1f}" if fast.gflops else "-",
                ]
            else:
                cells = ["-", "-", "-"]
            for bound in (limit, products):
                if fast and fast.gflops and bound and bound.gflops:
                    cells.append(f"{100 * fast.gflops / bound.gflops:.0f}%")
                else:
                    cells.append("-")
                cells.append(f"{bound.gflops:.0f}" if bound and bound.gflops else "-")
            for p in peers:
                e = row.get(p)
                if e is None:
                    cells.append("-")
                elif fast:
                    cells.append(f"{e.median / fast.median:.2f}x ({fmt_ms(e.median)})")
                else:
                    rate = f", {e.gflops:.1f} GFLOP/s" if e.gflops else ""
                    cells.append(f"{fmt_ms(e.median)} ms{rate}")
            out.append(f"| {label} | {mode_label} | " + " | ".join(cells) + " |")
        out.append("")
        out.append(
            "Ratio = peer median / fast_lstm median (above 1: fast_lstm is faster); the "
            "implementations of a row were timed in interleaved blocks, so they saw the same "
            "drift of the machine. IQR: spread of fast_lstm's rounds, relative to its median. "
            "GFLOP/s counts matmul FLOPs only; of sgemm: against the sgemm (n = 2048) timed in "
            "the same blocks (its rate in the next column); of products: against numpy doing "
            "this shape's own matrix products (the same FLOPs, no cell update), also in those "
            "blocks."
        )
        if any_busy:
            out.append(
                f"\\* another process used at least {BUSY_FRACTION:.0%} of the machine while this "
                "row was measured; its figures (2-thread ones above all) are not trustworthy."
            )
        out.append("")
    out.extend(scaling_table([e for e in all_entries if e.scaling]))
    out.extend(epoch_table([e for e in all_entries if e.mode == EPOCH_MODE]))
    return "\n".join(out)


def scaling_table(entries: list[Entry]) -> list[str]:
    """test_scaling.py's table: fast_lstm at 1 and 2 threads from one cell, its speedup, and numpy
    sgemm's speedup timed in the same blocks (what two cores gave a GEMM meanwhile)."""
    if not entries:
        return []
    out = [
        "### 2-thread speedup of fast_lstm (1 and 2 threads timed in interleaved blocks)",
        "",
        "| shape | mode | 1 thread ms | IQR | 2 threads ms | IQR | speedup | sgemm speedup | of sgemm's |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows: dict[tuple, dict[tuple, Entry]] = {}
    for e in entries:
        rows.setdefault((e.shape, e.mode), {})[(e.impl, e.threads)] = e
    any_busy = False
    for shape, mode in sorted(rows, key=row_order):
        row = rows[(shape, mode)]
        sgemm_busy = any(e.busy for key, e in row.items() if key[0] == "numpy_sgemm")
        line, busy = pair_row(
            [shape, mode], row.get(("fast_lstm", 1)), row.get(("fast_lstm", 2)), fmt_ms, first_over_second=True,
            also_busy=sgemm_busy,
        )
        ours = speedup(row.get(("fast_lstm", 1)), row.get(("fast_lstm", 2)))
        limit = speedup(row.get(("numpy_sgemm", 1)), row.get(("numpy_sgemm", 2)))
        line += f" {limit:.2f}x |" if limit else " - |"
        line += f" {ours / limit:.0%} |" if ours and limit else " - |"
        out.append(line)
        any_busy |= busy
    out.append("")
    out.append(
        "Speedup = 1-thread median / 2-thread median, both from the same interleaved blocks; sgemm "
        "speedup: numpy's float32 matmul (n = 2048) in those blocks too, and of sgemm's: the first "
        "speedup over the second."
    )
    out.extend(busy_footnote(any_busy))
    out.append("")
    return out


def speedup(one_thread: Entry | None, two_threads: Entry | None) -> float | None:
    """1-thread median / 2-thread median, None without both."""
    if not one_thread or not two_threads:
        return None
    return one_thread.median / two_threads.median


def epoch_table(entries: list[Entry]) -> list[str]:
    """test_fit_epoch.py's table: seconds per epoch and torch / lstmcore, per thread count."""
    if not entries:
        return []
    out = [
        f"### One training epoch, {entries[0].shape} shape (LSTM + Dense, MSE, Adam)",
        "",
        "| threads | lstmcore s/epoch | IQR | torch s/epoch | IQR | torch / lstmcore |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    any_busy = False
    for threads in sorted({e.threads for e in entries}):
        row = {e.impl: e for e in entries if e.threads == threads}
        line, busy = pair_row([str(threads)], row.get("lstmcore"), row.get("torch"), fmt_s, first_over_second=False)
        out.append(line)
        any_busy |= busy
    out.append("")
    out.append("Ratio above 1: lstmcore's epoch is faster. Medians of the timed epochs.")
    out.extend(busy_footnote(any_busy))
    out.append("")
    return out


def pair_row(labels: list[str], first: Entry | None, second: Entry | None, fmt,
             first_over_second: bool, also_busy: bool = False) -> tuple[str, bool]:
    """A row of a two-entry table: the labels (the first marked * when busy), each entry's median
    (formatted by fmt) and IQR, and the ratio of their medians. Also returns whether it is busy:
    either entry, or also_busy (another entry the caller adds to the row)."""
    busy = also_busy or any(e.busy for e in (first, second) if e)
    cells = [labels[0] + (" *" if busy else ""), *labels[1:]]
    for entry in (first, second):
        cells += [fmt(entry.median), f"{100 * entry.iqr_fraction:.0f}%"] if entry else ["-", "-"]
    if first and second:
        ratio = first.median / second.median if first_over_second else second.median / first.median
        cells.append(f"{ratio:.2f}x")
    else:
        cells.append("-")
    return "| " + " | ".join(cells) + " |", busy


def busy_footnote(any_busy: bool) -> list[str]:
    """The footnote of a small table with a row marked busy (another process used the machine)."""
    if not any_busy:
        return []
    return [f"\\* another process used at least {BUSY_FRACTION:.0%} of the machine meanwhile: not trustworthy."]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON file written by pytest --benchmark-json")
    args = parser.parse_args(argv)
    benchmarks, meta = load(args.results)
    if not benchmarks:
        print(f"{args.results}: no benchmarks in this file", file=sys.stderr)
        return 1
    print(summarize(benchmarks, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
