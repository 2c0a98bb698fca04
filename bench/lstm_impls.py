"""What the benchmark times: the shape grid, the data, and one builder per implementation.

Every builder takes the same float32 problem (PyTorch layout: x (T, B, D) time-major, w_ih (4H, D),
w_hh (4H, H), gate order i, f, g, o) and returns a `Case`: `run` is the timed call, `output` returns
y (T, B, H) once, untimed, so the suite can check that each implementation computes the LSTM it is
named after before timing it.  Peers that are not installed are recorded here with the reason, and
the tests skip them with that message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from typing import Callable, Optional

import numpy as np

# ---------------------------------------------------------------------------------------------
# The grid (BENCHMARKS.md).  B batch, T steps, D input, H hidden; 1 layer, 1 direction.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    B: int
    T: int
    D: int
    H: int

    def forward_flops(self) -> int:
        """Matmul FLOPs of one forward pass: input and recurrent GEMMs of the four gates."""
        return 2 * self.B * self.T * 4 * self.H * (self.D + self.H)

    def flops(self, mode: str) -> int:
        """Matmul FLOPs of one call in `mode` ("forward" or "train")."""
        return self.forward_flops() * mode_flops_factor(mode)

    def dims(self) -> dict:
        """B, T, D and H, as every benchmark records them in extra_info."""
        return dict(B=self.B, T=self.T, D=self.D, H=self.H)


GRID = {
    s.name: s
    for s in (
        Shape("tiny", B=1, T=100, D=64, H=64),
        Shape("small", B=32, T=100, D=128, H=128),
        Shape("medium", B=64, T=100, D=256, H=256),
        Shape("large", B=64, T=50, D=512, H=512),
        Shape("xlarge", B=128, T=50, D=1024, H=1024),
        Shape("long", B=16, T=200, D=64, H=128),
    )
}
QUICK_SHAPES = ("tiny", "small")
# Per-step latency: B=1, one step per call, state carried from call to call.
STREAM = Shape("stream", B=1, T=100, D=256, H=256)
THREADS = (1, 2)
MODES = ("forward", "train")
# A training step is a forward and a backward pass; the backward does two GEMMs per forward GEMM.
TRAIN_FLOPS_FACTOR = 3


def mode_flops_factor(mode: str) -> int:
    """FLOPs of a call in `mode` over those of a forward pass."""
    return TRAIN_FLOPS_FACTOR if mode == "train" else 1


SGEMM_N = 2048


# ---------------------------------------------------------------------------------------------
# Optional peers.  Each is imported once; a failure is kept as the skip message.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Peer:
    name: str
    module: Optional[object]
    reason: str  # why it is unavailable ("" when available)
    version: str = ""

    @property
    def available(self) -> bool:
        return self.module is not None


def _import_peer(name: str, import_name: str) -> Peer:
    try:
        module = __import__(import_name)
    except Exception as err:  # ImportError, or a broken install raising something else
        return Peer(name, None, f"{name} is not importable ({type(err).__name__}: {err})")
    return Peer(name, module, "", getattr(module, "__version__", "?"))


FAST_LSTM = _import_peer("fast_lstm", "fast_lstm")
TORCH = _import_peer("torch", "torch")
ORT = _import_peer("onnxruntime", "onnxruntime")
ONNX = _import_peer("onnx", "onnx")
if ORT.available and not ONNX.available:
    # The ORT peer builds its one-node model with onnx.helper.
    ORT = Peer("onnxruntime", None, f"onnxruntime needs the onnx package here: {ONNX.reason}")

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

# Order of the columns in the summary; fast_lstm first, the others are its peers.
# fast_lstm_packed: PackedLSTM.forward, the weights packed once outside the timed call (inference
# with fixed weights); fast_lstm's lstm_forward packs them in every call.
IMPLS_FORWARD = ("fast_lstm", "fast_lstm_packed", "torch", "onnxruntime", "numpy")
IMPLS_TRAIN = ("fast_lstm", "torch")
IMPLS_STREAM = ("fast_lstm", "fast_lstm_packed", "torch")
# The machine's limits, timed in the same cells as the LSTMs (see build_sgemm, build_sgemv,
# build_products).
LIMIT_GEMM = "numpy_sgemm"
LIMIT_STREAM = "numpy_sgemv"
LIMIT_PRODUCTS = "numpy_products"


def peer_for(impl: str) -> Peer:
    if impl in ("fast_lstm", "fast_lstm_packed"):
        peer = FAST_LSTM
        if impl == "fast_lstm_packed" and peer.available and not hasattr(peer.module, "PackedLSTM"):
            return Peer(impl, None, "fast_lstm has no PackedLSTM (yet)")
        return peer
    if impl == "torch":
        return TORCH
    if impl == "onnxruntime":
        return ORT
    if impl in ("numpy", LIMIT_GEMM, LIMIT_STREAM, LIMIT_PRODUCTS):
        return Peer(impl, np, "", np.__version__)
    raise ValueError(f"unknown implementation {impl!r}")


# ---------------------------------------------------------------------------------------------
# Thread counts: one call sets every library in the process, so a test at n threads runs every
# library that could be involved at n threads.
# ---------------------------------------------------------------------------------------------


def numpy_thread_control() -> str:
    if threadpoolctl is not None:
        return "threadpoolctl"
    return "OPENBLAS_NUM_THREADS=" + os.environ.get("OPENBLAS_NUM_THREADS", "<unset>")


def unavailable_reason(impl: str, threads: int) -> str:
    """Why `impl` cannot be timed at `threads` here ("" when it can): its peer is missing, or
    numpy's BLAS cannot be set to that thread count (numpy_skip_reason)."""
    peer = peer_for(impl)
    if not peer.available:
        return peer.reason
    return numpy_skip_reason(threads) if peer.module is np else ""


def numpy_skip_reason(threads: int) -> str:
    """Why numpy's rows cannot run at `threads` here ("" when they can).  Without threadpoolctl
    numpy's BLAS keeps the thread count it started with: OPENBLAS_NUM_THREADS (or
    OMP_NUM_THREADS), else every CPU the process may use.  Its rows at any other count would time
    a different machine, and the sgemm row would put the wrong limit under every fraction."""
    if threadpoolctl is not None:
        return ""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            started_with, source = int(value), f"{variable}={value}"
            break
    else:
        started_with, source = len(os.sched_getaffinity(0)), "OPENBLAS_NUM_THREADS unset: every CPU"
    if started_with == threads:
        return ""
    return (
        f"numpy's BLAS runs at {started_with} threads ({source}) and cannot be set to {threads} "
        "without threadpoolctl: pip install threadpoolctl"
    )


@contextlib.contextmanager
def all_libraries_at(threads: int):
    if FAST_LSTM.available:
        FAST_LSTM.module.set_num_threads(threads)
    if TORCH.available:
        TORCH.module.set_num_threads(threads)
    # onnxruntime takes its thread count per session (intra_op_num_threads), see build_onnxruntime.
    if threadpoolctl is not None:
        # BLAS (numpy's OpenBLAS) and OpenMP runtimes; without threadpoolctl numpy keeps the count
        # OPENBLAS_NUM_THREADS gave it at start-up, and the numpy rows are only valid at that count.
        with threadpoolctl.threadpool_limits(limits=threads):
            yield
    else:
        yield


# ---------------------------------------------------------------------------------------------
# Data: one float32 problem per shape, initialised like torch.nn.LSTM (U(-1/sqrt(H), 1/sqrt(H))).
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    shape: Shape
    x: np.ndarray  # (T, B, D)
    w_ih: np.ndarray  # (4H, D)
    w_hh: np.ndarray  # (4H, H)
    b_ih: np.ndarray  # (4H,)
    b_hh: np.ndarray  # (4H,)
    h0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)

    @property
    def b(self) -> np.ndarray:
        """The single bias of fast_lstm and of the numpy reference: b_ih + b_hh."""
        return self.b_ih + self.b_hh


@functools.lru_cache(maxsize=None)
def problem(shape: Shape) -> Problem:
    rng = np.random.default_rng(20240531)
    B, T, D, H = shape.B, shape.T, shape.D, shape.H
    bound = 1.0 / np.sqrt(H)

    def uniform(*dims):
        return rng.uniform(-bound, bound, size=dims).astype(np.float32)

    return Problem(
        shape=shape,
        x=rng.standard_normal((T, B, D), dtype=np.float32),
        w_ih=uniform(4 * H, D),
        w_hh=uniform(4 * H, H),
        b_ih=uniform(4 * H),
        b_hh=uniform(4 * H),
        h0=rng.standard_normal((B, H), dtype=np.float32) * np.float32(0.5),
        c0=rng.standard_normal((B, H), dtype=np.float32) * np.float32(0.5),
    )


# ---------------------------------------------------------------------------------------------
# numpy reference: one GEMM for the input projection of all steps, then one GEMM per step.
# ---------------------------------------------------------------------------------------------


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))


def numpy_lstm_forward(x, w_ih, w_hh, b, h0, c0):
    """y, h_n, c_n of an LSTM with PyTorch's gate order i, f, g, o (all float32)."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    gates_x = (x.reshape(T * B, -1) @ w_ih.T + b).reshape(T, B, 4 * H)
    w_hh_t = w_hh.T
    hidden, cell = h0, c0
    y = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        gates = gates_x[t] + hidden @ w_hh_t
        i = _sigmoid(gates[:, 0 * H : 1 * H])
        f = _sigmoid(gates[:, 1 * H : 2 * H])
        g = np.tanh(gates[:, 2 * H : 3 * H])
        o = _sigmoid(gates[:, 3 * H : 4 * H])
        cell = f * cell + i * g
        hidden = o * np.tanh(cell)
        y[t] = hidden
    return y, hidden, cell


@functools.lru_cache(maxsize=None)
def reference_output(shape: Shape) -> np.ndarray:
    p = problem(shape)
    return numpy_lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[0]


# ---------------------------------------------------------------------------------------------
# Builders.  `run` is what is timed; everything else (weight copies, model building, session
# creation, output buffers of the gradient) happens here, untimed.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    run: Callable[[], object]
    output: Callable[[], np.ndarray]
    # Entered around the timed rounds (torch's inference_mode for forward); nullcontext otherwise.
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    info: dict = dataclasses.field(default_factory=dict)


def build_numpy(p: Problem, mode: str, threads: int) -> Case:
    assert mode == "forward"
    b = p.b

    def run():
        return numpy_lstm_forward(p.x, p.w_ih, p.w_hh, b, p.h0, p.c0)

    return Case(run=run, output=lambda: run()[0], info={"numpy_threads": numpy_thread_control()})


def build_fast_lstm(p: Problem, mode: str, threads: int) -> Case:
    fl = FAST_LSTM.module
    b = p.b
    info = {"isa": fl.isa()}
    if mode == "forward":

        def run():
            return fl.lstm_forward(p.x, p.w_ih, p.w_hh, b, p.h0, p.c0, training=False)

        return Case(run=run, output=lambda: run()[0], info=info)

    # Training step: gradient of sum(y) with respect to x, weights, bias, h0 and c0.
    dy = np.ones((p.shape.T, p.shape.B, p.shape.H), dtype=np.float32)

    def run():
        y, h_n, c_n, cache = fl.lstm_forward(p.x, p.w_ih, p.w_hh, b, p.h0, p.c0, training=True)
        return fl.lstm_backward(dy, None, None, cache)

    def output():
        return fl.lstm_forward(p.x, p.w_ih, p.w_hh, b, p.h0, p.c0, training=True)[0]

    return Case(run=run, output=output, info=info)


def build_fast_lstm_packed(p: Problem, mode: str, threads: int) -> Case:
    assert mode == "forward"
    fl = FAST_LSTM.module
    packed = fl.PackedLSTM(p.w_ih, p.w_hh, p.b)

    def run():
        return packed.forward(p.x, p.h0, p.c0)

    return Case(run=run, output=lambda: run()[0], info={"isa": fl.isa()})


def build_torch(p: Problem, mode: str, threads: int) -> Case:
    torch = TORCH.module
    s = p.shape
    lstm = torch.nn.LSTM(s.D, s.H)  # time-major like fast_lstm (batch_first=False)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p.w_ih))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p.w_hh))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p.b_ih))
        lstm.bias_hh_l0.copy_(torch.from_numpy(p.b_hh))
    x = torch.from_numpy(p.x.copy())
    h0 = torch.from_numpy(p.h0[None].copy())
    c0 = torch.from_numpy(p.c0[None].copy())
    if mode == "forward":

        def run():
            return lstm(x, (h0, c0))

        def output():
            with torch.inference_mode():
                return run()[0].numpy()

        return Case(run=run, output=output, context=torch.inference_mode)

    x.requires_grad_(True)
    h0.requires_grad_(True)
    c0.requires_grad_(True)
    leaves = [x, h0, c0, *lstm.parameters()]

    def run():
        for leaf in leaves:
            # Fresh gradients every step (as fast_lstm returns), not accumulation into old ones.
            leaf.grad = None
        y, _ = lstm(x, (h0, c0))
        y.sum().backward()
        return y

    def output():
        with torch.no_grad():
            return lstm(x, (h0, c0))[0].numpy()

    return Case(run=run, output=output)


def onnx_lstm_model(p: Problem):
    """A one-node ONNX model: the LSTM operator with the weights as initializers.

    ONNX orders the gates i, o, f, c where PyTorch orders them i, f, g(=c), o, so the four row
    blocks of every weight and bias are permuted.  ONNX keeps the two biases apart, concatenated
    as B = [Wb, Rb].
    """
    onnx = ONNX.module
    from onnx import TensorProto, helper, numpy_helper

    s = p.shape
    H = s.H

    def to_iofc(a):
        i, f, g, o = np.split(a, 4, axis=0)
        return np.ascontiguousarray(np.concatenate([i, o, f, g], axis=0))

    initializers = [
        numpy_helper.from_array(to_iofc(p.w_ih)[None], "W"),  # (1, 4H, D)
        numpy_helper.from_array(to_iofc(p.w_hh)[None], "R"),  # (1, 4H, H)
        numpy_helper.from_array(np.concatenate([to_iofc(p.b_ih), to_iofc(p.b_hh)])[None], "B"),
    ]
    f32 = TensorProto.FLOAT
    node = helper.make_node(
        "LSTM",
        inputs=["X", "W", "R", "B", "", "initial_h", "initial_c"],  # "" : no sequence_lens
        outputs=["Y", "Y_h", "Y_c"],
        hidden_size=H,
    )
    graph = helper.make_graph(
        [node],
        "lstm",
        inputs=[
            helper.make_tensor_value_info("X", f32, [s.T, s.B, s.D]),
            helper.make_tensor_value_info("initial_h", f32, [1, s.B, H]),
            helper.make_tensor_value_info("initial_c", f32, [1, s.B, H]),
        ],
        outputs=[
            helper.make_tensor_value_info("Y", f32, [s.T, 1, s.B, H]),
            helper.make_tensor_value_info("Y_h", f32, [1, s.B, H]),
            helper.make_tensor_value_info("Y_c", f32, [1, s.B, H]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # the IR version of opset 17; newer onnx packages default higher
    onnx.checker.check_model(model)
    return model


def build_onnxruntime(p: Problem, mode: str, threads: int) -> Case:
    assert mode == "forward"
    ort = ORT.module
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        onnx_lstm_model(p).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feeds = {"X": p.x, "initial_h": p.h0[None], "initial_c": p.c0[None]}
    output_names = ["Y", "Y_h", "Y_c"]

    def run():
        return session.run(output_names, feeds)

    return Case(run=run, output=lambda: run()[0][:, 0])


BUILDERS = {
    "fast_lstm": build_fast_lstm,
    "fast_lstm_packed": build_fast_lstm_packed,
    "torch": build_torch,
    "onnxruntime": build_onnxruntime,
    "numpy": build_numpy,
}


# ---------------------------------------------------------------------------------------------
# Stream: B=1, one step per call, the state carried by the caller from call to call.
# `run` makes T calls; the suite reports its time divided by T.
# ---------------------------------------------------------------------------------------------


def _packed_lstm_step(fl, p: Problem):
    """Per-step call through fast_lstm.PackedLSTM: weights packed once, outside the timing.

    PackedLSTM(w_ih, w_hh, b).step(x_t (B, D), h, c) -> (h_new, c_new).  The step allocates its
    outputs (no h_out/c_out buffers), as torch.nn.LSTMCell does.
    """
    packed = fl.PackedLSTM(p.w_ih, p.w_hh, p.b)

    def step(x_t, hidden, cell):
        return packed.step(x_t[0], hidden, cell)

    return step


def build_stream(impl: str, p: Problem, threads: int) -> Case:
    T = p.shape.T
    if impl in ("fast_lstm", "fast_lstm_packed"):
        fl = FAST_LSTM.module
        info = {"isa": fl.isa()}
        # Step t is x_steps[t], shaped (1, B=1, D) for a T=1 lstm_forward call (x_t[0] for step).
        x_steps = [np.ascontiguousarray(p.x[t : t + 1]) for t in range(T)]
        if impl == "fast_lstm_packed":
            step = _packed_lstm_step(fl, p)
        else:
            b = p.b

            def step(x_t, hidden, cell):
                _, hidden, cell, _ = fl.lstm_forward(x_t, p.w_ih, p.w_hh, b, hidden, cell)
                return hidden, cell

        def run():
            hidden, cell = p.h0, p.c0
            for x_t in x_steps:
                hidden, cell = step(x_t, hidden, cell)
            return hidden, cell

        return Case(run=run, output=lambda: run()[0], info=info)

    if impl == "torch":
        torch = TORCH.module
        s = p.shape
        lstm_cell = torch.nn.LSTMCell(s.D, s.H)
        with torch.no_grad():
            lstm_cell.weight_ih.copy_(torch.from_numpy(p.w_ih))
            lstm_cell.weight_hh.copy_(torch.from_numpy(p.w_hh))
            lstm_cell.bias_ih.copy_(torch.from_numpy(p.b_ih))
            lstm_cell.bias_hh.copy_(torch.from_numpy(p.b_hh))
        x_steps = [torch.from_numpy(p.x[t].copy()) for t in range(T)]  # each (B=1, D)
        h0 = torch.from_numpy(p.h0.copy())
        c0 = torch.from_numpy(p.c0.copy())

        def run():
            hidden, cell = h0, c0
            for x_t in x_steps:
                hidden, cell = lstm_cell(x_t, (hidden, cell))
            return hidden, cell

        def output():
            with torch.inference_mode():
                return run()[0].numpy()

        return Case(run=run, output=output, context=torch.inference_mode)

    raise ValueError(f"unknown stream implementation {impl!r}")


def stream_reference_last_hidden(p: Problem) -> np.ndarray:
    return numpy_lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[1]


# ---------------------------------------------------------------------------------------------
# The limits: numpy's own float32 matmul, beside the LSTMs in each cell.
# ---------------------------------------------------------------------------------------------


def build_sgemm(n: int = SGEMM_N) -> Case:
    """numpy float32 matmul, n x n by n x n: the machine's practical compute limit."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)

    def run():
        return np.matmul(a, b, out=out)

    return Case(run=run, output=lambda: out, info={"n": n, "numpy_threads": numpy_thread_control()})


def build_products(p: Problem, mode: str) -> Case:
    """numpy float32 matmul doing exactly the matrix products of this shape's LSTM call, and
    nothing else (no cell update, no bias): the compute limit of the shape itself.  The n=2048
    sgemm is the limit of a deep, square product; an LSTM's products are as shallow as D and H
    (64-128 on small and long), and T of them (B rows each) are separate calls."""
    return build_matrix_products(p.x, p.w_ih, p.w_hh, mode)


def build_matrix_products(x_steps: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, mode: str) -> Case:
    """The matrix products of a recurrent layer of G gates (w_ih (G*H, D), w_hh (G*H, H); G = 4
    for the LSTM, 3 for the GRU) over x_steps (T, B, D), timed by build_products and the GRU's
    cells.

    forward: X W_ih^T over all T*B rows, then h_t W_hh^T for each step.  train: those, then per
    step (backwards) dG_t W_hh, and dG^T X, dG^T H_prev, dG W_ih over all rows: the products of
    a training step, whose FLOPs (3x the forward's) are the ones the suite counts.  The
    operands other than x and the weights are random: only the shapes and the call pattern
    matter here."""
    T, B, D = x_steps.shape
    G, H = w_ih.shape[0], w_hh.shape[1]  # G = gates * H
    N = B * T
    rng = np.random.default_rng(1)
    x = x_steps.reshape(N, D)
    w_ih_t, w_hh_t = w_ih.T, w_hh.T  # views: BLAS reads them transposed, no copy
    h_prev = rng.standard_normal((T, B, H), dtype=np.float32)
    gates = np.empty((N, G), dtype=np.float32)
    step_gates = np.empty((B, G), dtype=np.float32)

    def forward():
        np.matmul(x, w_ih_t, out=gates)
        for t in range(T):
            np.matmul(h_prev[t], w_hh_t, out=step_gates)
        return step_gates

    if mode == "forward":
        return Case(run=forward, output=lambda: step_gates, info={"numpy_threads": numpy_thread_control()})

    d_gates = rng.standard_normal((T, B, G), dtype=np.float32)
    d_gates_rows = d_gates.reshape(N, G)
    d_gates_t = d_gates_rows.T
    h_prev_rows = h_prev.reshape(N, H)
    dh = np.empty((B, H), dtype=np.float32)
    dw_ih, dw_hh = np.empty((G, D), dtype=np.float32), np.empty((G, H), dtype=np.float32)
    dx = np.empty((N, D), dtype=np.float32)

    def train():
        forward()
        for t in reversed(range(T)):
            np.matmul(d_gates[t], w_hh, out=dh)
        np.matmul(d_gates_t, x, out=dw_ih)
        np.matmul(d_gates_t, h_prev_rows, out=dw_hh)
        np.matmul(d_gates_rows, w_ih, out=dx)
        return dx

    return Case(run=train, output=lambda: dx, info={"numpy_threads": numpy_thread_control()})


def build_sgemv(s: Shape = STREAM) -> Case:
    """The floor of a single step: numpy's float32 matrix-vector product over the step's weights,
    [W_ih | W_hh] (4H, D+H), once per step for the stream's T steps.  At B=1 a step must read
    every weight once (2 MB at D=H=256), so this is its memory-bound limit on this machine."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4 * s.H, s.D + s.H), dtype=np.float32)
    inputs = [rng.standard_normal(s.D + s.H, dtype=np.float32) for _ in range(s.T)]
    out = np.empty(4 * s.H, dtype=np.float32)

    def run():
        for v in inputs:
            np.matmul(weights, v, out=out)
        return out

    return Case(run=run, output=lambda: out, info={"numpy_threads": numpy_thread_control()})
