"""The fuzz target of tests/fuzz/ in the ordinary test run: its corpus and a few thousand seeded
random inputs replay without findings (no atheris needed). The coverage-guided run itself is
.ci/fuzz.sh; set FAST_LSTM_FUZZ_SECONDS to run it from here too.
"""

import importlib.util
import os
import pathlib
import random
import subprocess

import fast_lstm
import pytest

FUZZ_DIR = pathlib.Path(__file__).resolve().parent / "fuzz"
CORPUS = sorted((FUZZ_DIR / "corpus").iterdir())


def load_target():
    spec = importlib.util.spec_from_file_location("fuzz_arguments", FUZZ_DIR / "fuzz_arguments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


target = load_target()


def test_corpus_is_there():
    assert len(CORPUS) >= 5


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_input_replays_without_findings(path, restore_num_threads):
    target.run_one(path.read_bytes(), fast_lstm)


def test_random_inputs_replay_without_findings(restore_num_threads):
    rng = random.Random(2024)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        try:
            target.run_one(data, fast_lstm)
        except BaseException as error:
            raise AssertionError(f"finding for input {data!r}") from error


def test_the_target_reports_a_wrong_exception():
    """The harness must be able to fail: an entry point that raises RuntimeError is a finding."""

    class Broken:
        def __getattr__(self, name):
            if name in ("get_num_threads", "isa", "set_num_threads", "_force_isa", "available_isas"):
                return getattr(fast_lstm, name)

            def broken(*args, **kwargs):
                raise RuntimeError("a C++ exception that escaped")

            return broken

    findings = 0
    rng = random.Random(7)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(40))
        try:
            target.run_one(data, Broken())
        except RuntimeError:
            findings += 1
    assert findings > 0


@pytest.mark.skipif(not os.environ.get("FAST_LSTM_FUZZ_SECONDS"), reason="set FAST_LSTM_FUZZ_SECONDS to fuzz")
def test_bounded_fuzzing_run_has_no_findings():
    script = FUZZ_DIR.parent.parent / ".ci" / "fuzz.sh"
    result = subprocess.run([str(script), os.environ["FAST_LSTM_FUZZ_SECONDS"]], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
