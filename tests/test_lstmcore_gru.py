"""lstmcore.GRU: the recurrent driver over the GRU kernels. Stacked and bidirectional layers with
lengths against torch.nn.GRU (packed sequences), float64 finite differences with dropout and
recurrent dropout, state hand-off, stateful carry, and the GRU inside Sequential, fit, save/load
and generate."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcore
from lstmcore import GRU
from checks import numeric_gradient
from reference_gru import gru_forward_ref
from test_lstmcore_recurrent import (
    RECURRENT_LAYOUTS, assert_like_twin, check_backward_refuses_wrong_dy, check_call_flags_are_bools,
    check_layer_gradients, data,
)

B, T, D, H = 3, 5, 2, 3


def torch_twin(torch, layer):
    twin = torch.nn.GRU(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
                        bidirectional=layer.bidirectional, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, value in layer.parameters().items():
            getattr(twin, name if layer.num_states > 1 else name + "_l0").copy_(torch.from_numpy(value))
    return twin


@pytest.mark.parametrize("num_layers, bidirectional, lengths", [(1, False, None), (2, False, None), (2, True, None),
                                                                (2, True, [5, 2, 4])],
                         ids=["single", "stacked", "stacked-bidirectional", "packed"])
def test_matches_torch(torch, num_layers, bidirectional, lengths):
    layer = GRU(D, H, num_layers=num_layers, bidirectional=bidirectional, dtype=np.float64, seed=1)
    x = data(1)
    rng = np.random.default_rng(2)
    h0 = rng.standard_normal((layer.num_states, B, H))
    dy = rng.standard_normal((B, T, layer.num_directions * H))
    dh_n = rng.standard_normal((layer.num_states, B, H))

    twin = torch_twin(torch, layer)
    x_t, h0_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0))
    if lengths is None:
        y_t, h_n_t = twin(x_t, h0_t)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        y_packed, h_n_t = twin(packed, h0_t)
        y_t, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, batch_first=True, total_length=T)
    ((y_t * torch.from_numpy(dy)).sum() + (h_n_t * torch.from_numpy(dh_n)).sum()).backward()

    y, h_n = layer.forward(x, h0, training=True, lengths=None if lengths is None else np.array(lengths),
                           return_state=True)
    dx = layer.backward(dy, dh_n)
    assert_like_twin(layer, twin, [(y, y_t), (h_n, h_n_t), (dx, x_t.grad), (layer.dh0, h0_t.grad)])


def test_gradients_with_lengths_bidirectional_stacked_finite_differences():
    layer = GRU(D, 2, num_layers=2, bidirectional=True, dtype=np.float64, seed=8)
    x = data(8, batch=2, steps=4)
    weights = np.random.default_rng(9).standard_normal((2, 4, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([4, 2])}, weights)


def test_many_to_one_with_dropout_and_recurrent_dropout_finite_differences():
    layer = GRU(D, 2, num_layers=2, bidirectional=True, dropout=0.4, recurrent_dropout=0.3,
                return_sequences=False, dtype=np.float64, seed=12)
    x = data(12, batch=2, steps=3)
    weights = np.random.default_rng(13).standard_normal((2, 4))
    check_layer_gradients(layer, x, {"lengths": np.array([3, 1])}, weights, reseed=14)


def test_recurrent_dropout_is_applied_in_the_recurrence_only():
    layer = GRU(D, 16, recurrent_dropout=0.4, dtype=np.float64, seed=15)
    x = data(15, batch=8)
    y = layer.forward(x, training=True)
    (mask,) = layer.recurrent_masks
    w = (layer.weight_ih, layer.weight_hh, layer.bias_ih, layer.bias_hh)
    y_ref, _, _ = gru_forward_ref(x.transpose(1, 0, 2), *w, recurrent_mask=mask)
    np.testing.assert_allclose(y, y_ref.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)
    y_ref, _, _ = gru_forward_ref(x.transpose(1, 0, 2), *w)
    np.testing.assert_allclose(layer(x), y_ref.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)


def test_encoder_decoder_state_handoff_gradients():
    encoder = GRU(D, 2, num_layers=2, dtype=np.float64, seed=16)
    decoder = GRU(1, 2, num_layers=2, dtype=np.float64, seed=17)
    source, target_in = data(16, batch=2, steps=4), data(17, batch=2, steps=3, features=1)
    weights = np.random.default_rng(18).standard_normal((2, 3, 2))

    def loss():
        encoder(source)
        return float(np.sum(decoder(target_in, encoder.h_n) * weights))

    encoder.forward(source, training=True)
    decoder.forward(target_in, encoder.h_n, training=True)
    decoder.backward(weights)
    d_source = encoder.backward(None, decoder.dh0)
    np.testing.assert_allclose(d_source, numeric_gradient(loss, source), rtol=1e-5, atol=1e-8)
    for name, value in encoder.parameters().items():
        np.testing.assert_allclose(encoder.grads[name], numeric_gradient(loss, value), rtol=1e-5, atol=1e-8)


def test_stateful_carry_equals_one_long_run():
    layer = GRU(D, H, num_layers=2, dtype=np.float64, seed=19)
    x = data(19, steps=7)
    whole = layer(x)
    layer.stateful = True
    layer.reset_states()
    parts = [layer(x[:, :3]), layer(x[:, 3:])]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-12, atol=1e-14)


def test_parameters_init_and_repr():
    layer = GRU(4, 6, num_layers=2, bidirectional=True, seed=0)
    shapes = {name: value.shape for name, value in layer.parameters().items()}
    assert shapes["weight_ih_l0"] == (18, 4) and shapes["weight_ih_l1_reverse"] == (18, 12)
    assert shapes["weight_hh_l1"] == (18, 6) and shapes["bias_hh_l0_reverse"] == (18,)
    assert len(shapes) == 16 and layer.weight_ih_l0.dtype == np.float32
    for gate in range(3):  # an orthogonal H x H block per gate
        block = layer.weight_hh_l0[gate * 6:(gate + 1) * 6].astype(np.float64)
        np.testing.assert_allclose(block @ block.T, np.eye(6), atol=1e-5)
    assert not layer.bias_ih_l0.any() and not layer.bias_hh_l0.any()
    assert repr(layer) == "GRU(4, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=float32)"


@pytest.mark.parametrize("kwargs, error", [(dict(peephole=True), TypeError), (dict(hidden_size=0), ValueError),
                                           (dict(dropout=1.5), ValueError)])
def test_bad_options_are_refused(kwargs, error):
    arguments = dict(input_size=D, hidden_size=H)
    arguments.update(kwargs)
    with pytest.raises(error):
        GRU(**arguments)


def test_bad_inputs_are_refused():
    layer = GRU(D, H, dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="x"):
        layer(data(0, features=D + 1))
    with pytest.raises(TypeError, match="x"):
        layer(data(0, dtype=np.float32))
    with pytest.raises(ValueError, match="h0"):
        layer(data(0), np.zeros((2, B, H)))
    with pytest.raises(RuntimeError):
        GRU(D, H, seed=0).backward(np.zeros((B, T, H), np.float32))


def test_a_gru_classifier_learns_trains_saves_and_loads(tmp_path):
    """Many-to-one: is the sum of the sequence positive? A stacked bidirectional GRU learns it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 12, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    model = lstmcore.Sequential(GRU(3, 16, num_layers=2, bidirectional=True, return_sequences=False, seed=1),
                                lstmcore.Dense(32, 2))
    history = lstmcore.fit(model, x, y, loss="cross_entropy", optimizer="adam", epochs=15, batch_size=32,
                           clip_norm=1.0, seed=2, progress=False)
    assert history.history["loss"][-1] < 0.35 * history.history["loss"][0]
    path = tmp_path / "gru.lstmcore"
    lstmcore.save(model, path)
    loaded = lstmcore.load(path)
    assert type(loaded.layers[0]) is GRU
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_generate_from_a_gru_forecaster():
    model = lstmcore.Sequential(GRU(1, 8, seed=3), lstmcore.TimeDistributed(lstmcore.Dense(8, 1)))
    seed = np.sin(np.linspace(0, 3, 20, dtype=np.float32)).reshape(1, 20, 1)
    generated = lstmcore.generate(model, seed, 5)
    # Step by step must equal one whole-sequence pass over the seed plus the fed-back predictions.
    whole = model.predict(np.concatenate([seed, generated[:, :-1]], axis=1))
    np.testing.assert_allclose(generated[0, :, 0], whole[0, 19:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", RECURRENT_LAYOUTS.values(), ids=RECURRENT_LAYOUTS)
def test_backward_refuses_a_dy_unlike_the_forward_output(options):
    check_backward_refuses_wrong_dy(GRU, options)


def test_call_flags_must_be_bools():
    check_call_flags_are_bools(GRU(D, H, seed=0))


@pytest.mark.parametrize("option", ["bidirectional", "return_sequences", "batch_first"])
@pytest.mark.parametrize("value", ["False", "no", None, 0, 1])
def test_bool_options_must_be_bools(option, value):
    with pytest.raises(TypeError, match=rf"^{option} "):
        GRU(D, H, **{option: value})
    layer = GRU(D, H, **{option: np.True_})
    assert type(getattr(layer, option)) is bool
