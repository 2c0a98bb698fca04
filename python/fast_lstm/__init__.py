"""fast_lstm: fused SIMD LSTM kernels for the CPU (forward and BPTT over whole sequences).

The compiled kernels live in ``fast_lstm._core``; this package re-exports them so that the
type stub (``__init__.pyi``) and ``py.typed`` ship with them (PEP 561).

Public API
----------
lstm_forward(x, w_ih, w_hh, b, h0=None, c0=None, *, training=False) -> (y, h_n, c_n, cache)
lstm_backward(dy, dh_n, dc_n, cache, *, input_grad=True) -> (dx, dw_ih, dw_hh, db, dh0, dc0)
gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0=None, *, training=False) -> (y, h_n, cache)
gru_backward(dy, dh_n, cache, *, input_grad=True) -> (dx, dw_ih, dw_hh, db_ih, db_hh, dh0)
PackedLSTM(w_ih, w_hh, b): weights packed once; .step(x_t, h, c) for streaming, .forward(x)
set_num_threads(n), get_num_threads(), isa(), available_isas(), __version__
buffer_cache_bytes(), empty_buffer_cache(), set_buffer_cache_limit(nbytes), get_buffer_cache_limit():
    large scratch buffers kept for reuse between calls (default limit 1 GiB)

Shapes are time-major: x (T, B, D), y (T, B, H); weights follow PyTorch's ``nn.LSTM``
(gate order i, f, g, o) and ``nn.GRU`` (r, z, n).  Non-finite values propagate like numpy's (NaN in, NaN out).
"""

from ._core import (
    GruCache,
    LstmCache,
    PackedLSTM,
    __version__,
    available_isas,
    buffer_cache_bytes,
    empty_buffer_cache,
    get_buffer_cache_limit,
    get_num_threads,
    gru_backward,
    gru_forward,
    isa,
    lstm_backward,
    lstm_forward,
    set_buffer_cache_limit,
    set_num_threads,
)
from ._core import (  # noqa: F401  (test hooks)
    _allow_carried_projection,
    _carried_input_grad_slices,
    _carried_projection_tiles,
    _force_isa,
    _force_recurrent_product,
    _force_thread_split,
    _sigmoid,
    _tanh,
)

__all__ = [
    "GruCache",
    "LstmCache",
    "PackedLSTM",
    "__version__",
    "available_isas",
    "buffer_cache_bytes",
    "empty_buffer_cache",
    "get_buffer_cache_limit",
    "get_num_threads",
    "gru_backward",
    "gru_forward",
    "isa",
    "lstm_backward",
    "lstm_forward",
    "set_buffer_cache_limit",
    "set_num_threads",
]
