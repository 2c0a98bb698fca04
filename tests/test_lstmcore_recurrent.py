"""lstmcore.layers.recurrent through lstmcore.LSTM: stacking, bidirectionality, lengths, dropout
between layers, recurrent dropout, state hand-off, init and options; against torch.nn.LSTM
(packed sequences for lengths), the numpy reference in tests/reference.py and float64 central
finite differences."""

from __future__ import annotations

import fast_lstm
import numpy as np
import pytest

import lstmcore
from lstmcore import LSTM
from lstmcore.layers.recurrent import reverse_in_length
from checks import numeric_gradient
from reference import lstm_forward_variants_ref
from test_lstmcore_layers import wrong_dys

B, T, D, H = 3, 5, 2, 3


def data(seed=0, batch=B, steps=T, features=D, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((batch, steps, features)).astype(dtype)


def check_layer_gradients(layer, x, forward_kwargs, output_weights, reseed=None, rtol=1e-5, atol=1e-8):
    """dx and every parameter gradient of L = sum(forward(x) * output_weights) vs central differences.

    reseed: a seed given to the layer's generator before each forward, so dropout masks repeat.
    """
    def run(training):
        if reseed is not None:
            layer.rng = np.random.default_rng(reseed)
        return layer.forward(x, training=training, **forward_kwargs)

    def loss():
        return float(np.sum(run(True) * output_weights))

    layer.zero_grad()
    run(True)
    dx = layer.backward(output_weights)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=rtol, atol=atol, err_msg="x")
    analytic = {name: grad.copy() for name, grad in layer.gradients().items()}
    for name, value in layer.parameters().items():
        np.testing.assert_allclose(analytic[name], numeric_gradient(loss, value), rtol=rtol, atol=atol, err_msg=name)


def torch_twin(torch, layer):
    twin = torch.nn.LSTM(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
                         bidirectional=layer.bidirectional, batch_first=True, dtype=torch.float64,
                         proj_size=layer.cell_options.get("proj_size", 0))
    with torch.no_grad():
        for name, value in layer.parameters().items():
            getattr(twin, name if layer.num_states > 1 else name + "_l0").copy_(torch.from_numpy(value))
    return twin


def assert_like_twin(layer, twin, pairs):
    """Each (ours, torch tensor) pair, and every parameter gradient of `layer` against its torch twin's."""
    def close(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-11)

    for ours, theirs in pairs:
        close(ours, theirs)
    for name, grad in layer.gradients().items():
        close(grad, getattr(twin, name if layer.num_states > 1 else name + "_l0").grad)


@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (2, True)])
def test_stacked_bidirectional_matches_torch(torch, num_layers, bidirectional):
    layer = LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, dtype=np.float64, seed=1)
    x = data(1)
    rng = np.random.default_rng(2)
    h0, c0 = (rng.standard_normal((layer.num_states, B, H)) for _ in range(2))
    dy = rng.standard_normal((B, T, layer.num_directions * H))
    dh_n = rng.standard_normal((layer.num_states, B, H))

    twin = torch_twin(torch, layer)
    x_t, h0_t, c0_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
    y_t, (h_n_t, c_n_t) = twin(x_t, (h0_t, c0_t))
    ((y_t * torch.from_numpy(dy)).sum() + (h_n_t * torch.from_numpy(dh_n)).sum()).backward()

    y, h_n, c_n = layer.forward(x, h0, c0, training=True, return_state=True)
    dx = layer.backward(dy, dh_n)
    assert_like_twin(layer, twin, [(y, y_t), (h_n, h_n_t), (c_n, c_n_t), (dx, x_t.grad), (layer.dh0, h0_t.grad),
                                   (layer.dc0, c0_t.grad)])


def test_lengths_match_torch_packed_sequences(torch):
    layer = LSTM(D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=3)
    lengths = np.array([5, 2, 4])
    x = data(3)
    x[1, 2:] = 7.0  # padding content must not matter
    rng = np.random.default_rng(4)
    dy, dh_n = rng.standard_normal((B, T, 2 * H)), rng.standard_normal((4, B, H))

    twin = torch_twin(torch, layer)
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.from_numpy(lengths), batch_first=True,
                                                     enforce_sorted=False)
    y_packed, (h_n_t, c_n_t) = twin(packed)
    y_t, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, batch_first=True, total_length=T)
    ((y_t * torch.from_numpy(dy)).sum() + (h_n_t * torch.from_numpy(dh_n)).sum()).backward()

    y, h_n, c_n = layer.forward(x, training=True, lengths=lengths, return_state=True)
    dx = layer.backward(dy, dh_n)
    assert_like_twin(layer, twin, [(y, y_t), (h_n, h_n_t), (c_n, c_n_t), (dx, x_t.grad)])
    assert not y[1, 2:].any() and not dx[1, 2:].any()


def test_lengths_equal_running_each_sequence_alone():
    """Independent of torch: a padded batch with lengths gives each sequence's unpadded result."""
    layer = LSTM(D, H, num_layers=2, bidirectional=True, return_sequences=True, dtype=np.float64, seed=5)
    lengths = np.array([3, 5, 1])
    x = data(5)
    y, h_n, c_n = layer(x, lengths=lengths, return_state=True)
    for b, length in enumerate(lengths):
        y_alone, h_alone, c_alone = layer(x[b:b + 1, :length], return_state=True)
        np.testing.assert_allclose(y[b, :length], y_alone[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h_n[:, b], h_alone[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c_n[:, b], c_alone[:, 0], rtol=1e-12, atol=1e-14)
        assert not y[b, length:].any()


def test_zero_length_keeps_initial_state_and_gets_no_gradient():
    layer = LSTM(D, H, dtype=np.float64, seed=6)
    x = data(6)
    h0 = np.random.default_rng(7).standard_normal((1, B, H))
    lengths = np.array([0, 5, 2])
    y, h_n, _ = layer.forward(x, h0, None, training=True, lengths=lengths, return_state=True)
    np.testing.assert_array_equal(h_n[0, 0], h0[0, 0])
    dx = layer.backward(np.ones_like(y))
    assert not y[0].any() and not dx[0].any()


def test_gradients_with_lengths_bidirectional_stacked_finite_differences():
    layer = LSTM(D, 2, num_layers=2, bidirectional=True, dtype=np.float64, seed=8)
    x = data(8, batch=2, steps=4)
    weights = np.random.default_rng(9).standard_normal((2, 4, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([4, 2])}, weights)


def test_peephole_identity_layers_gradients_finite_differences():
    layer = LSTM(D, 2, num_layers=2, bidirectional=True, dtype=np.float64, seed=10, peephole=True,
                 cell_activation="identity")
    assert layer.parameters()["weight_peephole_l1_reverse"].shape == (3, 2)
    x = data(11, batch=2, steps=4)
    weights = np.random.default_rng(12).standard_normal((2, 4, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([4, 3])}, weights)


@pytest.mark.parametrize("options", [{"forget_gate": False}, {"couple_input_forget": True}])
def test_three_gate_layers_gradients_finite_differences(options):
    layer = LSTM(D, 2, num_layers=2, bidirectional=True, dtype=np.float64, seed=15, **options)
    assert layer.parameters()["weight_hh_l0"].shape == (6, 2)
    assert not layer.parameters()["bias_ih_l0"].any()  # no forget gate to open
    x = data(16, batch=2, steps=4)
    weights = np.random.default_rng(17).standard_normal((2, 4, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([4, 3])}, weights)


def test_peephole_layer_runs_the_peephole_kernel():
    layer = LSTM(D, H, dtype=np.float64, seed=13, peephole=True)
    x = data(14)
    w = layer.parameters()
    expected = fast_lstm.lstm_forward(np.ascontiguousarray(x.transpose(1, 0, 2)), w["weight_ih"], w["weight_hh"],
                                      w["bias_ih"] + w["bias_hh"], peephole=w["weight_peephole"])[0]
    np.testing.assert_array_equal(layer.forward(x), expected.transpose(1, 0, 2))


def test_return_sequences_false_is_the_final_hidden_state():
    many = LSTM(D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=10)
    one = LSTM(D, H, num_layers=2, bidirectional=True, return_sequences=False, dtype=np.float64, seed=10)
    x, lengths = data(10), np.array([5, 3, 1])
    y_all = many(x, lengths=lengths)
    last = one(x, lengths=lengths)
    assert last.shape == (B, 2 * H)
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(last[b, :H], y_all[b, length - 1, :H])  # forward: at the length
        np.testing.assert_array_equal(last[b, H:], y_all[b, 0, H:])  # reverse: ends at step 0
    weights = np.random.default_rng(11).standard_normal((B, 2 * H))
    check_layer_gradients(one, x, {"lengths": lengths}, weights)


def test_dropout_and_recurrent_dropout_gradients_finite_differences():
    """Backward uses the very masks of the training forward (re-drawn identically from one seed)."""
    layer = LSTM(D, 2, num_layers=2, bidirectional=True, dropout=0.4, recurrent_dropout=0.3,
                 dtype=np.float64, seed=12)
    x = data(12, batch=2, steps=3)
    weights = np.random.default_rng(13).standard_normal((2, 3, 4))
    check_layer_gradients(layer, x, {}, weights, reseed=14)
    layer.rng = np.random.default_rng(14)
    assert not np.allclose(layer.forward(x, training=True), layer(x))  # dropout is active when training


def test_recurrent_dropout_is_one_mask_per_sequence_applied_in_the_recurrence():
    p = 0.4
    layer = LSTM(D, 16, recurrent_dropout=p, dtype=np.float64, seed=15)
    x = data(15, batch=32)
    y, h_n, c_n = layer.forward(x, training=True, return_state=True)
    (mask,) = layer.recurrent_masks
    assert mask.shape == (32, 16)
    assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - p)}
    assert 0.25 < np.mean(mask == 0) < 0.55
    bias = layer.bias_ih + layer.bias_hh
    y_ref, h_ref, c_ref = lstm_forward_variants_ref(x.transpose(1, 0, 2), layer.weight_ih, layer.weight_hh, bias,
                                                    recurrent_mask=mask)
    np.testing.assert_allclose(y, y_ref.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n[0], h_ref, rtol=1e-10, atol=1e-12)
    # Inference draws no mask: the plain LSTM.
    y_ref, _, _ = lstm_forward_variants_ref(x.transpose(1, 0, 2), layer.weight_ih, layer.weight_hh, bias)
    np.testing.assert_allclose(layer(x), y_ref.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)


def test_encoder_decoder_state_handoff_gradients():
    """Decoder starts from the encoder's final (h, c); the gradient flows back through dh0/dc0."""
    encoder = LSTM(D, 2, num_layers=2, dtype=np.float64, seed=16)
    decoder = LSTM(1, 2, num_layers=2, dtype=np.float64, seed=17)
    source, target_in = data(16, batch=2, steps=4), data(17, batch=2, steps=3, features=1)
    weights = np.random.default_rng(18).standard_normal((2, 3, 2))

    def loss():
        encoder(source)
        return float(np.sum(decoder(target_in, encoder.h_n, encoder.c_n) * weights))

    encoder.forward(source, training=True)
    decoder.forward(target_in, encoder.h_n, encoder.c_n, training=True)
    decoder.backward(weights)
    d_source = encoder.backward(None, decoder.dh0, decoder.dc0)
    np.testing.assert_allclose(d_source, numeric_gradient(loss, source), rtol=1e-5, atol=1e-8)
    for name, value in encoder.parameters().items():
        np.testing.assert_allclose(encoder.grads[name], numeric_gradient(loss, value), rtol=1e-5, atol=1e-8)


def test_stateful_carry_equals_one_long_run():
    layer = LSTM(D, H, num_layers=2, dtype=np.float64, seed=19)
    x = data(19, steps=7)
    whole = layer(x)
    layer.stateful = True
    layer.reset_states()
    parts = [layer(x[:, :3]), layer(x[:, 3:])]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-12, atol=1e-14)
    layer.reset_states()
    np.testing.assert_array_equal(layer(x[:, :3]), parts[0])


def test_reverse_in_length_is_an_involution_that_keeps_padding():
    sequence = np.arange(4 * 3).reshape(4, 3, 1)  # (T, B, 1)
    lengths = np.array([4, 2, 0])
    flipped = reverse_in_length(sequence, lengths)
    np.testing.assert_array_equal(flipped[:, 0, 0], sequence[::-1, 0, 0])
    np.testing.assert_array_equal(flipped[:, 1, 0], sequence[[1, 0, 2, 3], 1, 0])
    np.testing.assert_array_equal(flipped[:, 2, 0], sequence[:, 2, 0])
    np.testing.assert_array_equal(reverse_in_length(flipped, lengths), sequence)


def test_glorot_orthogonal_init_is_the_default():
    layer = LSTM(5, 4, num_layers=2, bidirectional=True, seed=20, dtype=np.float64)
    for name, value in layer.parameters().items():
        if name.startswith("weight_hh"):
            for gate in range(4):
                block = value[gate * 4:(gate + 1) * 4]
                np.testing.assert_allclose(block @ block.T, np.eye(4), atol=1e-12)
        elif name.startswith("weight_ih"):
            bound = np.sqrt(6.0 / (value.shape[0] + value.shape[1]))
            assert np.abs(value).max() <= bound and value.std() > bound / 4
        elif name.startswith("bias_ih"):
            np.testing.assert_array_equal(value, np.repeat([0.0, 1.0, 0.0, 0.0], 4))  # forget gate: 1
        else:
            assert not value.any()
    again = LSTM(5, 4, num_layers=2, bidirectional=True, init="glorot_orthogonal", seed=20, dtype=np.float64)
    for name, value in layer.parameters().items():
        np.testing.assert_array_equal(value, again.parameters()[name])


def test_parameter_names_and_shapes_follow_pytorch():
    layer = LSTM(D, H, num_layers=2, bidirectional=True)
    shapes = {name: value.shape for name, value in layer.parameters().items()}
    assert shapes["weight_ih_l0"] == (4 * H, D) and shapes["weight_ih_l1_reverse"] == (4 * H, 2 * H)
    assert shapes["weight_hh_l1"] == (4 * H, H) and shapes["bias_hh_l0_reverse"] == (4 * H,)
    assert len(shapes) == 16 and layer.output_shape((None, D)) == (None, 2 * H)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_layers": 0}, ValueError, "num_layers"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"recurrent_dropout": -0.1}, ValueError, "recurrent_dropout"),
    ({"init": "zeros"}, ValueError, "init"),
    ({"colour": "blue"}, TypeError, "colour"),
    ({"peephole": "yes"}, TypeError, "peephole"),
    ({"cell_activation": "relu"}, ValueError, "cell_activation"),
    ({"proj_size": -1}, ValueError, "proj_size"),
    ({"proj_size": 1.5}, ValueError, "proj_size"),
    ({"forget_gate": False, "couple_input_forget": True}, ValueError, "couple_input_forget"),
    ({"forget_gate": 0}, TypeError, "forget_gate"),
    ({"couple_input_forget": True, "peephole": True}, ValueError, "peephole"),
])
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        LSTM(D, H, **kwargs)


def test_bad_lengths_are_refused():
    layer = LSTM(D, H)
    x = data(0, dtype=np.float32)
    for lengths, error in ((np.array([1, 2]), ValueError), (np.array([1, 2, 6]), ValueError),
                           (np.array([1.0, 2.0, 3.0]), TypeError), ([1, 2, 3], TypeError)):
        with pytest.raises(error, match="lengths"):
            layer(x, lengths=lengths)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "packed"])
def test_projection_stacked_bidirectional_matches_torch(torch, lengths):
    """proj_size=P: h has P features per direction, c keeps H; weight_hr per layer and direction."""
    P = 2
    layer = LSTM(D, H, num_layers=2, bidirectional=True, proj_size=P, dtype=np.float64, seed=31)
    assert layer.weight_hr_l1_reverse.shape == (P, H) and layer.weight_hh_l0.shape == (4 * H, P)
    assert layer.weight_ih_l1.shape == (4 * H, 2 * P) and layer.output_shape((None, D)) == (None, 2 * P)
    x = data(31)
    rng = np.random.default_rng(32)
    h0, c0 = rng.standard_normal((4, B, P)), rng.standard_normal((4, B, H))
    dy, dh_n, dc_n = rng.standard_normal((B, T, 2 * P)), rng.standard_normal((4, B, P)), rng.standard_normal((4, B, H))

    twin = torch_twin(torch, layer)
    x_t, h0_t, c0_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
    if lengths is None:
        y_t, (h_n_t, c_n_t) = twin(x_t, (h0_t, c0_t))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        y_packed, (h_n_t, c_n_t) = twin(packed, (h0_t, c0_t))
        y_t, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, batch_first=True, total_length=T)
    loss = (y_t * torch.from_numpy(dy)).sum() + (h_n_t * torch.from_numpy(dh_n)).sum()
    (loss + (c_n_t * torch.from_numpy(dc_n)).sum()).backward()

    y, h_n, c_n = layer.forward(x, h0, c0, training=True, return_state=True,
                                lengths=None if lengths is None else np.array(lengths))
    dx = layer.backward(dy, dh_n, dc_n)
    assert_like_twin(layer, twin, [(y, y_t), (h_n, h_n_t), (c_n, c_n_t), (dx, x_t.grad), (layer.dh0, h0_t.grad),
                                   (layer.dc0, c0_t.grad)])


def test_projection_with_every_option_gradients_finite_differences():
    layer = LSTM(D, 3, num_layers=2, bidirectional=True, proj_size=2, peephole=True, recurrent_dropout=0.3,
                 dropout=0.2, return_sequences=False, dtype=np.float64, seed=33)
    x = data(33, batch=2, steps=3)
    weights = np.random.default_rng(34).standard_normal((2, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([3, 2])}, weights, reseed=35)


def test_cell_recurrence_layer_keeps_g_rows_zero_and_matches_finite_differences():
    layer = LSTM(D, 3, num_layers=2, bidirectional=True, recurrence="cell", peephole=True, dtype=np.float64, seed=36)
    for name, value in layer.parameters().items():
        if name.startswith("weight_hh"):
            assert not value[6:9].any(), name  # the g rows: no recurrent term in the cell input
    x = data(36, batch=2, steps=3)
    weights = np.random.default_rng(37).standard_normal((2, 3, 6))
    layer.zero_grad()
    layer.forward(x, training=True, lengths=np.array([3, 2]))
    layer.backward(weights)
    for name, grad in layer.gradients().items():
        if name.startswith("weight_hh"):
            assert not grad[6:9].any(), name
    # Finite differences of everything but those frozen rows (their numeric gradient is not zero).
    frozen = {name: value[6:9].copy() for name, value in layer.parameters().items() if name.startswith("weight_hh")}

    def loss():
        return float(np.sum(layer.forward(x, training=True, lengths=np.array([3, 2])) * weights))

    for name, value in layer.parameters().items():
        numeric = numeric_gradient(loss, value)
        if name in frozen:
            numeric[6:9] = 0.0
        np.testing.assert_allclose(layer.grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)
    with pytest.raises(ValueError, match="recurrence"):
        LSTM(D, H, recurrence="cell", recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="recurrence"):
        LSTM(D, H, recurrence="state")


# Layouts whose output differs in shape: time-major, many-to-one, stacked bidirectional.
RECURRENT_LAYOUTS = {
    "batch_first": {}, "time_major": {"batch_first": False}, "many_to_one": {"return_sequences": False},
    "stacked_bidirectional": {"num_layers": 2, "bidirectional": True},
}


def check_backward_refuses_wrong_dy(cls, options):
    """A dy unlike the training forward's y is refused naming dy, as is backward without such a forward."""
    layer = cls(D, H, seed=0, dtype=np.float32, **options)
    x = data(0, dtype=np.float32)
    x = x if layer.batch_first else np.ascontiguousarray(x.transpose(1, 0, 2))
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.ones_like(layer(x)))
    y = layer.forward(x, training=True)
    for dy, error in wrong_dys(y):
        with pytest.raises(error, match=r"^dy "):
            layer.backward(dy)
    assert layer.backward(np.ones_like(y)).shape == x.shape
    layer.forward(x, training=False)  # an inference forward drops the record
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.ones_like(y))


def check_call_flags_are_bools(layer):
    """training, return_state and input_grad: Python or numpy bools, nothing bool() would take."""
    x = data(0, dtype=layer.dtype)
    for bad in ("False", "no", 0, 1, None):
        with pytest.raises(TypeError, match=r"^training "):
            layer.forward(x, training=bad)
        with pytest.raises(TypeError, match=r"^return_state "):
            layer.forward(x, return_state=bad)
        with pytest.raises(TypeError, match=r"^return_state "):
            layer(x, return_state=bad)
    y = layer.forward(x, training=np.True_)
    for bad in ("False", "no", 0, None):
        with pytest.raises(TypeError, match=r"^input_grad "):
            layer.backward(np.ones_like(y), input_grad=bad)
    assert layer.backward(np.ones_like(y), input_grad=np.False_) is None
    assert isinstance(layer.forward(x, return_state=np.True_), tuple)


@pytest.mark.parametrize("options", RECURRENT_LAYOUTS.values(), ids=RECURRENT_LAYOUTS)
def test_backward_refuses_a_dy_unlike_the_forward_output(options):
    check_backward_refuses_wrong_dy(LSTM, options)


def test_call_flags_must_be_bools():
    check_call_flags_are_bools(LSTM(D, H, seed=0))


@pytest.mark.parametrize("option", ["bidirectional", "return_sequences", "batch_first", "peephole", "forget_gate",
                                    "couple_input_forget"])
@pytest.mark.parametrize("value", ["False", "no", None, 0, 1])
def test_bool_options_must_be_bools(option, value):
    with pytest.raises(TypeError, match=rf"^{option} "):
        LSTM(D, H, **{option: value})


@pytest.mark.parametrize("options", [
    {"forget_gate": np.False_}, {"peephole": np.True_}, {"couple_input_forget": np.True_}, {"peephole": np.False_},
    {"bidirectional": np.True_, "return_sequences": np.False_, "batch_first": np.True_},
], ids=["forget_gate", "peephole", "couple_input_forget", "no_peephole", "layer_flags"])
def test_numpy_bool_options_become_python_bools_and_save(tmp_path, options):
    layer = LSTM(D, H, seed=0, **options)
    config = layer.config()
    for name, value in options.items():
        if name in config:  # peephole=False is the standard cell: not kept
            assert type(config[name]) is bool and config[name] == value
    assert layer.gate_count == (3 if options.get("forget_gate") is np.False_ or "couple_input_forget" in options
                                else 4)
    x = data(1, dtype=np.float32)
    y = layer.forward(x, training=True)  # np.False_ once built 4-gate weights that every forward refused
    layer.backward(np.ones_like(y))
    lstmcore.save(layer, tmp_path / "layer.npz")  # json refuses numpy's bools
    np.testing.assert_array_equal(lstmcore.load(tmp_path / "layer.npz")(x), layer(x))
