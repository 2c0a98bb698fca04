"""Shared fixtures: run a test on every SIMD path the CPU has, restore global settings afterwards.

fast_lstm is imported at collection time (the ISA list parametrizes tests), so a missing or broken
build fails the whole run loudly instead of skipping it.
"""

import os
import pathlib
import zlib

import fast_lstm
import pytest

_SOURCE_TREE = pathlib.Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    return f"fast_lstm {fast_lstm.__version__} from {pathlib.Path(fast_lstm.__file__).parent}, isa={fast_lstm.isa()}"


def pytest_sessionstart(session):
    # The tests are for the installed package: a copy imported from the source tree would have no kernels.
    location = pathlib.Path(fast_lstm.__file__).resolve()
    if _SOURCE_TREE / "python" in location.parents:
        raise pytest.UsageError(f"fast_lstm was imported from the source tree ({location}); install it first")


def pytest_collection_modifyitems(config, items):
    """FAST_LSTM_TEST_SAMPLE=N keeps every test function's first case and about 1/N of its other
    parameter cases, the same ones in every run (a hash of the test id); pytest reports the rest
    as deselected. .ci/sanitize.sh sets it: under AddressSanitizer every case took well over the
    90 minutes of CI on a 2-core Intel VM. The plain pass runs every case."""
    value = os.environ.get("FAST_LSTM_TEST_SAMPLE", "")
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(f"FAST_LSTM_TEST_SAMPLE must be a positive integer, got {value!r}")
    every = int(value)
    kept, deselected, functions = [], [], set()
    for item in items:
        function = item.nodeid.split("[", 1)[0]
        first_case = function not in functions
        functions.add(function)
        if first_case or zlib.crc32(item.nodeid.encode()) % every == 0:
            kept.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(params=fast_lstm.available_isas(), ids=str)
def each_isa(request):
    """Runs the test once per available ISA (test ids show which path ran), then restores the active one."""
    previous = fast_lstm._force_isa(request.param)
    assert fast_lstm.isa() == request.param
    yield request.param
    fast_lstm._force_isa(previous)


@pytest.fixture(params=["fused", "gemm"])
def each_recurrent_product(request):
    """Runs an LSTM test with the steps' recurrent product in the fused tile, then as a GEMM before
    the cell update (where the cell's gate count allows it; left alone, the shape decides), and
    restores the automatic choice."""
    previous = fast_lstm._force_recurrent_product(request.param)
    yield request.param
    fast_lstm._force_recurrent_product(previous)


@pytest.fixture
def restore_num_threads():
    """Lets a test change the thread count without leaking it into the tests that follow."""
    previous = fast_lstm.get_num_threads()
    yield
    fast_lstm.set_num_threads(previous)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, or a clean skip where it is not installed."""
    return pytest.importorskip("torch")
