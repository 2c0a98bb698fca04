#!/usr/bin/env bash
# Coverage-guided fuzzing of fast_lstm's argument parsing (tests/fuzz/fuzz_arguments.py, atheris)
# against the fast_lstm installed in the current python, for a bounded time. Fails (non-zero exit)
# on any finding: a crash, an exception other than TypeError/ValueError/MemoryError, or a result of
# the wrong shape. The reproducer is left as crash-* in the printed work directory.
#
# Usage: .ci/fuzz.sh [seconds]     (default: $FAST_LSTM_FUZZ_SECONDS, else 60)
# New inputs found go to a temporary copy of the corpus; tests/fuzz/corpus is never written.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
seconds="${1:-${FAST_LSTM_FUZZ_SECONDS:-60}}"

python -c "import atheris" 2>/dev/null || python -m pip install --quiet atheris

work="$(mktemp -d)"
cp -r tests/fuzz/corpus "$work/corpus"
echo "fuzzing for ${seconds}s in $work"
# Run from the work directory so the source tree cannot shadow the installed package. The virtual
# memory cap turns any runaway allocation into a MemoryError instead of the OOM killer.
cd "$work"
(
  ulimit -v 16000000
  python "$repo/tests/fuzz/fuzz_arguments.py" "$work/corpus" "$repo/tests/fuzz/corpus" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$work/" -print_final_stats=1
)
echo "no findings in ${seconds}s"
