"""Variable-length batches (`lengths`) and variational recurrent dropout (`recurrent_mask`).

The reference for lengths is independent of the kernels' row bookkeeping: each sequence is run
alone, for exactly its own length, through the numpy reference; the batched kernel must give the
same outputs, states and gradients (weight gradients summed over the sequences), zero outputs
and dx past each length, and dy there must not matter.
"""

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from reference import lstm_backward_ref, lstm_forward_ref, lstm_forward_variants_ref, lstm_loss, random_lstm_problem

DTYPES = [np.float32, np.float64]

# (T, B, D, H), lengths: unsorted, with ties, with 0 and T, already sorted, all full, all empty.
CASES = [
    ((5, 4, 3, 7), [2, 5, 0, 3]),
    ((6, 5, 17, 9), [6, 1, 6, 3, 3]),
    ((4, 3, 2, 33), [4, 3, 1]),
    ((3, 2, 5, 4), [3, 3]),
    ((3, 3, 2, 2), [0, 0, 0]),
    ((7, 9, 8, 17), [1, 7, 2, 6, 3, 5, 4, 7, 0]),
]


def case_id(case):
    (T, B, D, H), lengths = case
    return f"T{T}-B{B}-D{D}-H{H}-L{'.'.join(map(str, lengths))}"


def random_mask(B, H, dtype, seed=5, p=0.3):
    """A Gal-style dropout mask: zeros with probability p, survivors scaled by 1/(1-p)."""
    rng = np.random.default_rng(seed)
    return ((rng.random((B, H)) >= p) / (1.0 - p)).astype(dtype)


def per_sequence_reference(p, lengths, mask=None):
    """Forward and backward of each sequence alone, for its own length; assembled like the kernel's outputs.

    The sequences of one length run as one batch of the reference: its rows never meet."""
    T, B, D = p.x.shape
    H = p.w_hh.shape[1]
    y = np.zeros((T, B, H))
    h_n, c_n, dh0, dc0 = (np.zeros((B, H)) for _ in range(4))
    dx = np.zeros((T, B, D))
    dw_ih, dw_hh, db = np.zeros(p.w_ih.shape), np.zeros(p.w_hh.shape), np.zeros(p.b.shape)
    lengths = np.asarray(lengths)
    for length in np.unique(lengths):
        group = np.flatnonzero(lengths == length)
        if length == 0:
            h_n[group], c_n[group], dh0[group], dc0[group] = p.h0[group], p.c0[group], p.dh_n[group], p.dc_n[group]
            continue
        m = None if mask is None else mask[group]
        ys, hs, cs, cache = lstm_forward_ref(p.x[:length, group], p.w_ih, p.w_hh, p.b, p.h0[group], p.c0[group], m)
        y[:length, group], h_n[group], c_n[group] = ys, hs, cs
        grads = lstm_backward_ref(p.dy[:length, group], p.dh_n[group], p.dc_n[group], cache)
        dx[:length, group] = grads[0]
        dw_ih += grads[1]
        dw_hh += grads[2]
        db += grads[3]
        dh0[group], dc0[group] = grads[4], grads[5]
    return (y, h_n, c_n), (dx, dw_ih, dw_hh, db, dh0, dc0)


def run(p, lengths, mask=None, dy=None):
    y, h_n, c_n, cache = fast_lstm.lstm_forward(
        p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, training=True, lengths=lengths, recurrent_mask=mask
    )
    grads = fast_lstm.lstm_backward(p.dy if dy is None else dy, p.dh_n, p.dc_n, cache)
    return (y, h_n, c_n), grads


def assert_matches(outputs, grads, expected_outputs, expected_grads, dtype):
    for name, actual, expected in zip(("y", "h_n", "c_n"), outputs, expected_outputs):
        assert_close(name, actual, expected, dtype, FORWARD_TOL[dtype])
    for name, actual, expected in zip(("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0"), grads, expected_grads):
        assert_close(name, actual, expected, dtype, GRADIENT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_lengths_match_each_sequence_run_alone(each_isa, each_recurrent_product, case, dtype):
    shape, lengths = case
    p = random_lstm_problem(*shape, dtype, seed=3)
    outputs, grads = run(p, np.array(lengths))
    assert_matches(outputs, grads, *per_sequence_reference(p, lengths), dtype)
    # Zero exactly, not approximately, past each length.
    for b, length in enumerate(lengths):
        assert not outputs[0][length:, b].any()
        assert not grads[0][length:, b].any()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_lengths_with_spread_rows_match_each_sequence_run_alone(each_isa, each_recurrent_product, dtype):
    """Rows of D = 2 KB: dx and dW_ih go through the backward's spread-row scratch (see
    test_lstm_spread_rows.py), here with the rows of a sorted, gapped batch (66 rows, deep enough
    for dW to be spread)."""
    D = 2048 // np.dtype(dtype).itemsize
    lengths = [6, 2, 0, 6, 5, 6, 1, 6, 6, 4, 3, 6, 5, 6, 4, 0]
    p = random_lstm_problem(6, len(lengths), D, 40, dtype, seed=12)
    assert_matches(*run(p, lengths), *per_sequence_reference(p, lengths), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES[:3], ids=case_id)
def test_recurrent_mask_matches_the_reference(each_isa, each_recurrent_product, case, dtype):
    shape, lengths = case
    p = random_lstm_problem(*shape, dtype, seed=4)
    mask = random_mask(shape[1], shape[3], dtype)
    full = [shape[0]] * shape[1]
    outputs, grads = run(p, None, mask)
    assert_matches(outputs, grads, *per_sequence_reference(p, full, mask), dtype)
    outputs, grads = run(p, lengths, mask)
    assert_matches(outputs, grads, *per_sequence_reference(p, lengths, mask), dtype)


def test_an_all_ones_mask_and_full_lengths_change_nothing(each_isa):
    p = random_lstm_problem(5, 3, 4, 6, np.float64, seed=8)
    plain = run(p, None)
    same = run(p, [5, 5, 5], np.ones((3, 6)))
    for a, b in zip(plain[0] + plain[1], same[0] + same[1]):
        np.testing.assert_array_equal(a, b)


def test_dy_past_a_length_is_ignored(each_isa):
    p = random_lstm_problem(4, 3, 2, 5, np.float64, seed=9)
    lengths = [2, 4, 1]
    poisoned = p.dy.copy()
    for b, length in enumerate(lengths):
        poisoned[length:, b] = np.nan
    _, clean = run(p, lengths)
    _, ignored = run(p, lengths, dy=poisoned)
    for a, b in zip(clean, ignored):
        np.testing.assert_array_equal(a, b)


def test_inference_and_training_forward_agree(each_isa):
    p = random_lstm_problem(6, 4, 5, 9, np.float32, seed=12)
    lengths, mask = [3, 6, 0, 5], random_mask(4, 9, np.float32)
    inference = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, lengths=lengths, recurrent_mask=mask)
    training = fast_lstm.lstm_forward(
        p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, training=True, lengths=lengths, recurrent_mask=mask
    )
    assert inference[3] is None
    for a, b in zip(inference[:3], training[:3]):
        np.testing.assert_array_equal(a, b)


def test_gradients_with_lengths_and_mask_match_finite_differences(each_isa, each_recurrent_product):
    p = random_lstm_problem(4, 3, 3, 5, np.float64, seed=13)
    lengths, mask = np.array([2, 4, 3]), random_mask(3, 5, np.float64)
    _, grads = run(p, lengths, mask)

    def loss(inputs):
        y, h_n, c_n, _ = fast_lstm.lstm_forward(*inputs, lengths=lengths, recurrent_mask=mask)
        return lstm_loss(y, h_n, c_n, p)

    for position, (name, analytic) in enumerate(zip(("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0"), grads)):
        inputs = [a.copy() for a in p[:6]]
        numeric = numeric_gradient(lambda: loss(inputs), inputs[position])
        assert_close(name, analytic, numeric, np.float64, FINITE_DIFFERENCE_TOL)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_lengths_match_torch_packed_sequences(torch, each_isa, dtype):
    T, B, D, H = 7, 5, 6, 11
    lengths = [4, 7, 1, 7, 3]
    p = random_lstm_problem(T, B, D, H, dtype, seed=21)
    lstm = torch.nn.LSTM(D, H).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p.w_ih))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p.w_hh))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p.b))
        lstm.bias_hh_l0.zero_()
    x = torch.from_numpy(p.x.copy()).requires_grad_()
    h0 = torch.from_numpy(p.h0.copy())[None].requires_grad_()
    c0 = torch.from_numpy(p.c0.copy())[None].requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    y_packed, (h_n, c_n) = lstm(packed, (h0, c0))
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    loss = (y * torch.from_numpy(p.dy)).sum() + (h_n[0] * torch.from_numpy(p.dh_n)).sum()
    loss = loss + (c_n[0] * torch.from_numpy(p.dc_n)).sum()
    loss.backward()

    outputs, grads = run(p, lengths)
    expected_outputs = (y.detach().numpy(), h_n[0].detach().numpy(), c_n[0].detach().numpy())
    expected_grads = (x.grad, lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad, lstm.bias_ih_l0.grad, h0.grad[0], c0.grad[0])
    assert_matches(outputs, grads, expected_outputs, [g.numpy() for g in expected_grads], dtype)


def test_one_and_two_threads_are_bitwise_equal_with_lengths_and_mask(each_isa, each_recurrent_product, restore_num_threads):
    p = random_lstm_problem(20, 24, 64, 96, np.float32, seed=30)  # big enough to use two threads
    lengths = np.random.default_rng(1).integers(0, 21, size=24)
    mask = random_mask(24, 96, np.float32)
    results = []
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        outputs, grads = run(p, lengths, mask)
        results.append(outputs + grads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_lengths_of_any_integer_dtype_or_a_list(each_isa):
    p = random_lstm_problem(4, 3, 2, 3, np.float64, seed=2)
    expected = run(p, np.array([1, 4, 2], dtype=np.int64))
    for lengths in ([1, 4, 2], np.array([1, 4, 2], dtype=np.uint8), np.array([1, 4, 2], dtype=np.int32)):
        got = run(p, lengths)
        for a, b in zip(expected[0] + expected[1], got[0] + got[1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "lengths, error, message",
    [
        (np.array([1.0, 2.0, 3.0]), TypeError, "lengths must be integers"),
        (np.array([True, False, True]), TypeError, "lengths must be integers"),
        (["a", "b", "c"], TypeError, "lengths must be integers"),
        (np.array([1, 2]), ValueError, r"lengths must have shape \(B,\)"),
        (np.array([[1, 2, 3]]), ValueError, r"lengths must have shape \(B,\)"),
        (np.array([1, -1, 2]), ValueError, r"lengths\[1\] = -1 is outside \[0, T\] = \[0, 4\]"),
        (np.array([1, 5, 2]), ValueError, r"lengths\[1\] = 5 is outside"),
        (np.array([1, 2, 2**64 - 1], dtype=np.uint64), ValueError, r"lengths\[2\] = 18446744073709551615 is outside"),
    ],
)
def test_bad_lengths_are_refused(lengths, error, message):
    p = random_lstm_problem(4, 3, 2, 3, np.float64, seed=2)
    with pytest.raises(error, match=message):
        fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, lengths=lengths)


@pytest.mark.parametrize(
    "mask, error, message",
    [
        (np.ones((3, 2)), ValueError, r"recurrent_mask must have shape \(B, H\) = \(3, 3\)"),
        (np.ones((3, 3), dtype=np.float32), TypeError, "recurrent_mask has dtype float32 but x has float64"),
        ([[1.0] * 3] * 3, TypeError, "recurrent_mask must be a numpy.ndarray"),
    ],
)
def test_bad_recurrent_masks_are_refused(mask, error, message):
    p = random_lstm_problem(4, 3, 2, 3, np.float64, seed=2)
    with pytest.raises(error, match=message):
        fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, recurrent_mask=mask)


@pytest.mark.parametrize("lengths", [None, [9, 8, 0, 9] * 10], ids=["full", "lengths"])
def test_inference_projects_in_windows_with_the_training_result(each_isa, each_recurrent_product, lengths):
    """The LSTM projects the inputs 512 KB of rows ahead, at least 256 rows and at most 4 MB:
    at H=1024 that is 256 float32 rows, so this batch (360 rows, or 260 with the lengths) takes
    two windows or more, in inference and (into its record) in training; the GRU's training
    projects all rows at once."""
    import reference_gru

    T, B, D, H = 9, 40, 8, 1024
    p = random_lstm_problem(T, B, D, H, np.float32, seed=41)
    inference = fast_lstm.lstm_forward(*p[:6], lengths=lengths)
    *training, cache = fast_lstm.lstm_forward(*p[:6], lengths=lengths, training=True)
    for a, b in zip(inference, training):
        np.testing.assert_array_equal(a, b)
    y_ref = lstm_forward_variants_ref(*p[:6], lengths=lengths)[0]
    np.testing.assert_allclose(inference[0], y_ref, rtol=0, atol=2e-5)
    # The gates recorded window by window give the reference's gradients.
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected = per_sequence_reference(p, [T] * B if lengths is None else lengths)[1]
    for name, actual, wanted in zip(("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0"), gradients, expected):
        assert_close(name, actual, wanted, np.float32, GRADIENT_TOL[np.float32])

    g = reference_gru.random_gru_problem(T, B, D, H, np.float32, seed=42)
    inference = fast_lstm.gru_forward(*g[:6], lengths=lengths)
    training = fast_lstm.gru_forward(*g[:6], lengths=lengths, training=True)[:2]
    for a, b in zip(inference, training):
        np.testing.assert_array_equal(a, b)
    y_ref = reference_gru.gru_forward_ref(*g[:6], lengths=lengths)[0]
    np.testing.assert_allclose(inference[0], y_ref, rtol=0, atol=2e-5)
