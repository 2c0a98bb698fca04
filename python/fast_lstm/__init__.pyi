"""Type stub for fast_lstm (kept in step with the bindings by tests/test_stub.py)."""

from typing import Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

FloatArray = npt.NDArray[np.floating]

class LstmCache:
    """Opaque record of a training forward pass, consumed by lstm_backward."""

    @property
    def dtype(self) -> np.dtype: ...
    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(T, B, D, H) of the forward pass that made this cache."""

class GruCache:
    """Opaque record of a training gru_forward pass, consumed by gru_backward."""

    @property
    def dtype(self) -> np.dtype: ...
    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(T, B, D, H) of the forward pass that made this cache."""

class PackedLSTM:
    """LSTM weights packed once for repeated inference: whole sequences or single steps."""

    def __init__(self, w_ih: FloatArray, w_hh: FloatArray, b: FloatArray) -> None: ...
    def step(
        self,
        x_t: FloatArray,
        h: FloatArray,
        c: FloatArray,
        *,
        h_out: Optional[FloatArray] = None,
        c_out: Optional[FloatArray] = None,
    ) -> Tuple[FloatArray, FloatArray]: ...
    def forward(
        self, x: FloatArray, h0: Optional[FloatArray] = None, c0: Optional[FloatArray] = None
    ) -> Tuple[FloatArray, FloatArray, FloatArray]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def isa(self) -> str: ...

def lstm_forward(
    x: FloatArray,
    w_ih: FloatArray,
    w_hh: FloatArray,
    b: FloatArray,
    h0: Optional[FloatArray] = None,
    c0: Optional[FloatArray] = None,
    *,
    training: bool = False,
    lengths: Optional[Union[npt.NDArray[np.integer], Sequence[int]]] = None,
    recurrent_mask: Optional[FloatArray] = None,
    peephole: Optional[FloatArray] = None,
    cell_activation: Literal["tanh", "identity"] = "tanh",
    forget_gate: bool = True,
    couple_input_forget: bool = False,
    w_hr: Optional[FloatArray] = None,
    recurrence: Literal["hidden", "cell"] = "hidden",
) -> Tuple[FloatArray, FloatArray, FloatArray, Optional[LstmCache]]: ...
def lstm_backward(
    dy: Optional[FloatArray],
    dh_n: Optional[FloatArray],
    dc_n: Optional[FloatArray],
    cache: LstmCache,
    *,
    input_grad: bool = True,
) -> Tuple[Optional[FloatArray], ...]:
    """(dx, dw_ih, dw_hh, db, dh0, dc0), then dpeephole when the forward pass had peepholes,
    then dw_hr when it had a projection. dx is None with input_grad=False (its GEMM skipped)."""
def gru_forward(
    x: FloatArray,
    w_ih: FloatArray,
    w_hh: FloatArray,
    b_ih: FloatArray,
    b_hh: FloatArray,
    h0: Optional[FloatArray] = None,
    *,
    training: bool = False,
    lengths: Optional[Union[npt.NDArray[np.integer], Sequence[int]]] = None,
    recurrent_mask: Optional[FloatArray] = None,
) -> Tuple[FloatArray, FloatArray, Optional[GruCache]]: ...
def gru_backward(
    dy: Optional[FloatArray],
    dh_n: Optional[FloatArray],
    cache: GruCache,
    *,
    input_grad: bool = True,
) -> Tuple[Optional[FloatArray], FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """(dx, dw_ih, dw_hh, db_ih, db_hh, dh0); dx is None with input_grad=False (its GEMM skipped)."""
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def buffer_cache_bytes() -> int: ...
def empty_buffer_cache() -> None: ...
def set_buffer_cache_limit(nbytes: int) -> None: ...
def get_buffer_cache_limit() -> int: ...
def isa() -> Literal["avx512", "avx2", "generic"]: ...
def available_isas() -> list[str]: ...
def _force_isa(name: str) -> str: ...
def _force_recurrent_product(name: Literal["auto", "fused", "gemm"]) -> str: ...
def _force_thread_split(name: Literal["auto", "units", "rows"]) -> str: ...
def _allow_carried_projection(allow: bool) -> bool: ...
def _carried_projection_tiles() -> int: ...
def _carried_input_grad_slices() -> int: ...
def _sigmoid(x: FloatArray) -> FloatArray: ...
def _tanh(x: FloatArray) -> FloatArray: ...
