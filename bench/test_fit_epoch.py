"""One training epoch of a whole model at the grid's medium shape: lstmcore against PyTorch.

  python bench/run.py -m fit       # both implementations at 1 and 2 threads (a few minutes)

LSTM(256 -> 256, many-to-one) + Dense(256 -> 1), MSE, Adam (lr 1e-3), batches of 64 taken in order
from 1024 sequences of T=100: one epoch is 16 optimizer steps (see fit_impls.py).  Marked `fit`;
a --quick run leaves it out.  Every benchmark records in extra_info: impl, shape, mode ("epoch"),
B, T, D, H, samples, batches, threads, flops (the LSTM's matmul FLOPs of the whole epoch) and the
mean loss over the dataset before and after the untimed check epoch; it is grouped by
"fit epoch <threads>T".  summary.py prints seconds per epoch and the ratio torch / lstmcore.

Before timing (untimed): the untrained model's loss over the dataset must equal the numpy
reference's (same model, same weights, same data), and after one epoch it must be finite and lower.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fit_impls

# Mean of 1024 squared float32 residuals of the LSTM's output; the implementations differ by ~1e-6.
LOSS_RTOL = 1e-3


@pytest.mark.fit
@pytest.mark.parametrize("impl", fit_impls.IMPLS, ids=lambda impl: f"epoch-{impl}")
def test_fit_epoch(interleaved, threads, impl):
    problem = fit_impls.fit_problem()
    shape = problem.shape

    def build_case(impl):
        peer = fit_impls.peer_for(impl)
        if not peer.available:
            pytest.skip(peer.reason)
        case = fit_impls.BUILDERS[impl](problem, threads)
        loss_before = float(case.output())
        np.testing.assert_allclose(loss_before, fit_impls.reference_initial_loss(), rtol=LOSS_RTOL)
        case.run()
        loss_after = float(case.output())
        assert math.isfinite(loss_after) and loss_after < loss_before, (
            f"{impl}: one epoch took the loss from {loss_before} to {loss_after}"
        )
        case.info.update(loss_before=loss_before, loss_after_one_epoch=loss_after)
        return case

    interleaved(
        build_case,
        group=f"fit epoch {threads}T",
        impl=impl,
        version=fit_impls.peer_for(impl).version,
        shape=shape.name,
        mode="epoch",
        **shape.dims(),
        samples=fit_impls.SAMPLES,
        batches=fit_impls.SAMPLES // shape.B,
        threads=threads,
        flops=fit_impls.epoch_flops(),
    )
