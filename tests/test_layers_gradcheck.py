"""Finite-difference checks of every hand-written backward pass (in float64)."""

from __future__ import annotations

import numpy as np
import pytest
from digitnet.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2, ReLU
from digitnet.losses import cross_entropy, log_softmax, nll, softmax
from digitnet.network import ARCHITECTURES, Network

EPS = 1e-6
TOL = 1e-6


def _to64(layer: Layer) -> Layer:
    for store in (layer.params, layer.state):
        for k in store:
            store[k] = store[k].astype(np.float64)
    return layer


def _numeric(f, arr: np.ndarray, rng: np.random.Generator, n: int = 25) -> tuple[list, list]:
    """Central differences of scalar f() w.r.t. a few random entries of arr (in place)."""
    idxs = [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(n)]
    grads = []
    for idx in idxs:
        old = arr[idx]
        arr[idx] = old + EPS
        up = f()
        arr[idx] = old - EPS
        down = f()
        arr[idx] = old
        grads.append((up - down) / (2 * EPS))
    return idxs, grads


def _rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(1e-8, abs(a) + abs(b))


def check_layer(layer: Layer, x: np.ndarray, seed: int = 0, reset=None) -> None:
    rng = np.random.default_rng(seed)
    _to64(layer)
    if reset:
        reset(layer)
    g = rng.standard_normal(layer.forward(x, train=True).shape)

    def loss() -> float:
        if reset:
            reset(layer)
        return float((layer.forward(x, train=True) * g).sum())

    loss()  # leave the caches of the unperturbed input for backward
    dx = layer.backward(g)
    analytic = {k: v.copy() for k, v in layer.grads.items()}
    targets = [("x", x, dx)] if dx is not None else []
    targets += [(k, layer.params[k], analytic[k]) for k in layer.params]
    assert targets, "nothing to check"
    for name, arr, grad in targets:
        idxs, numeric = _numeric(loss, arr, rng)
        for idx, num in zip(idxs, numeric, strict=True):
            err = _rel_err(grad[idx], num)
            assert err < TOL, f"{type(layer).__name__} d{name}{idx}: {grad[idx]} vs {num}"


def _x(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_dense() -> None:
    check_layer(Dense(7, 5), _x(4, 7))


def test_relu() -> None:
    check_layer(ReLU(), _x(6, 9))


def test_flatten() -> None:
    check_layer(Flatten(), _x(2, 3, 4, 5))


@pytest.mark.parametrize(("k", "pad"), [(3, 1), (5, 2), (3, 0)])
def test_conv(k: int, pad: int) -> None:
    check_layer(Conv2D(3, 4, k, pad, rng=np.random.default_rng(2)), _x(2, 6, 6, 3))


def test_conv_without_input_grad_still_gives_weight_grads() -> None:
    conv = Conv2D(1, 2, 3, 1)
    conv.input_grad = False
    x = _x(2, 5, 5, 1)
    check_layer(conv, x)
    conv.forward(x, train=True)
    assert conv.backward(_x(2, 5, 5, 2)) is None  # the first layer's dx is never made


def test_the_first_conv_skips_its_input_gradient_only_with_nothing_trainable_upstream() -> None:
    """A BatchNorm before it needs that gradient: without it, its own never came (KeyError
    'gamma' at the first step)."""
    rng = np.random.default_rng(0)
    plain = Network([Conv2D(1, 2, 3, 1, rng=rng), Flatten(), Dense(28 * 28 * 2, 10, rng=rng)])
    assert plain.layers[0].input_grad is False
    normed = Network([BatchNorm(1), Conv2D(1, 2, 3, 1, rng=rng), Flatten(),
                      Dense(28 * 28 * 2, 10, rng=rng)])
    assert normed.layers[1].input_grad is True
    normed.forward(_x(4, 28, 28).astype(np.float32), train=True)
    normed.backward(_x(4, 10).astype(np.float32))
    assert {id(g) for _, g in normed.parameters()}  # every layer's gradients, BatchNorm's too
    assert normed.layers[0].grads["gamma"].shape == (1,)


def test_backward_stops_at_a_conv_that_gives_no_input_gradient() -> None:
    """Layers with nothing to learn before the first conv (a pool here) get no gradient
    to pass on: backward ends at the conv, which has its own."""
    rng = np.random.default_rng(0)
    net = Network([MaxPool2(), Conv2D(1, 2, 3, 1, rng=rng), Flatten(),
                   Dense(14 * 14 * 2, 10, rng=rng)])
    assert net.layers[1].input_grad is False
    net.forward(_x(4, 28, 28).astype(np.float32), train=True)
    net.backward(_x(4, 10).astype(np.float32))
    assert net.layers[1].grads["W"].shape == (3, 3, 1, 2)


# The gradient checks prove each backward matches its forward; these check the forwards
# themselves against the textbook definitions, written as plainly as possible.


def _conv_by_loops(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """Cross-correlation, stride 1, zero padding: y[n,i,j,o] = sum x[n,i+u,j+v,c] w[u,v,c,o] + b."""
    n, h, wd, _ = x.shape
    k, c_out = w.shape[0], w.shape[3]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    y = np.zeros((n, h + 2 * pad - k + 1, wd + 2 * pad - k + 1, c_out))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            patch = xp[:, i:i + k, j:j + k, :]
            y[:, i, j, :] = np.einsum("nuvc,uvco->no", patch, w) + b
    return y


@pytest.mark.parametrize(("c_in", "k", "pad", "train"), [
    (1, 5, 2, False), (1, 5, 2, True),  # the first conv: patch-major at inference
    (3, 3, 1, False), (3, 3, 1, True), (2, 3, 0, False),
])
def test_conv_forward_is_a_cross_correlation(c_in, k, pad, train) -> None:
    conv = _to64(Conv2D(c_in, 4, k, pad, rng=np.random.default_rng(3)))
    conv.params["b"] = _x(4, seed=4)
    x = _x(2, 9, 8, c_in)
    expected = _conv_by_loops(x, conv.params["W"], conv.params["b"], pad)
    np.testing.assert_allclose(conv.forward(x, train=train), expected, rtol=1e-12, atol=1e-12)


def test_dense_forward_is_an_affine_map() -> None:
    dense = _to64(Dense(3, 2))
    dense.params["W"] = np.array([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]])
    dense.params["b"] = np.array([0.25, -2.0])
    y = dense.forward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(y, [[1 + 4 + 0 + 0.25, -1 + 1 + 9 - 2]])


def test_maxpool_and_relu_forwards_by_hand() -> None:
    x = np.array([[1, 5, -2, 0],
                  [3, 2, -1, -3],
                  [0, 0, 7, 8],
                  [-4, 1, 9, 6]], dtype=float).reshape(1, 4, 4, 1)
    pooled = MaxPool2().forward(x)
    np.testing.assert_array_equal(pooled.reshape(2, 2), [[5, 0], [1, 9]])
    np.testing.assert_array_equal(ReLU().forward(x).reshape(4, 4), np.maximum(x, 0).reshape(4, 4))
    np.testing.assert_array_equal(ReLU().forward(np.array([-1.5, 0.0, 2.0])), [0, 0, 2])


def test_maxpool() -> None:
    check_layer(MaxPool2(), _x(2, 6, 4, 3))


def test_maxpool_ties_share_gradient() -> None:
    pool = MaxPool2()
    pool.forward(np.ones((1, 2, 2, 1)), train=True)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_allclose(dx.ravel(), [0.25] * 4)


@pytest.mark.parametrize("shape", [(8, 5), (3, 4, 4, 5)])
def test_batchnorm(shape: tuple[int, ...]) -> None:
    bn = BatchNorm(5)
    bn.params["gamma"] = np.random.default_rng(3).uniform(0.5, 2, 5)
    bn.params["beta"] = np.random.default_rng(4).standard_normal(5)
    check_layer(bn, _x(*shape))


@pytest.mark.parametrize("shape", [(8, 5), (3, 4, 4, 5)])
def test_batchnorm_running_statistics_follow_the_momentum(shape: tuple[int, ...]) -> None:
    """Inference uses the running mean and variance: a training pass must move them
    momentum * old + (1 - momentum) * batch (biased variance), and inference must not."""
    bn = BatchNorm(5, momentum=0.7)
    rng = np.random.default_rng(8)
    old_mean, old_var = rng.standard_normal(5), rng.uniform(0.5, 2.0, 5)
    bn.state = {"mean": old_mean.astype(np.float32), "var": old_var.astype(np.float32)}
    x = _x(*shape) * 3 + 1
    axes = tuple(range(len(shape) - 1))
    batch_mean = x.sum(axis=axes) / (x.size / 5)
    batch_var = ((x - batch_mean) ** 2).sum(axis=axes) / (x.size / 5)
    bn.forward(x, train=True)
    np.testing.assert_allclose(bn.state["mean"], 0.7 * old_mean + 0.3 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(bn.state["var"], 0.7 * old_var + 0.3 * batch_var, rtol=1e-5)
    after_train = {k: v.copy() for k, v in bn.state.items()}
    bn.forward(x, train=False)
    for k, v in after_train.items():
        np.testing.assert_array_equal(bn.state[k], v, err_msg=k)


def test_dropout_with_fixed_mask() -> None:
    def reset(layer: Layer) -> None:
        layer.rng = np.random.default_rng(5)

    check_layer(Dropout(0.5), _x(5, 8), reset=reset)


def test_dropout_keeps_the_mean_in_training() -> None:
    """Inverted dropout: what survives is scaled by 1/keep, so inference needs no change."""
    layer = Dropout(0.4, rng=np.random.default_rng(0))
    y = layer.forward(np.ones((200, 500), np.float32), train=True)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.6], rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.01)


def test_batchnorm_inference_with_zero_variance_stays_finite() -> None:
    bn = BatchNorm(3)
    bn.state["var"] = np.zeros(3, np.float32)
    y = bn.forward(np.ones((2, 3), np.float32), train=False)
    np.testing.assert_allclose(y, 1 / np.sqrt(bn.eps), rtol=1e-5)


def test_batchnorm_training_on_a_channel_with_no_spread_stays_finite() -> None:
    """A channel constant over the batch (a filter that never fires) has variance 0: without
    eps it normalises to 0/0, and one NaN spreads to every weight at the next step."""
    bn = BatchNorm(3)
    bn.params["beta"] = np.array([0.5, -1.0, 2.0], np.float32)
    x = _x(4, 3)
    x[:, 1] = 0.0
    y = bn.forward(x, train=True)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[:, 1], -1.0)  # beta: nothing to normalise
    assert np.isfinite(bn.backward(np.ones_like(y))).all()


def test_dropout_is_identity_at_inference() -> None:
    x = _x(5, 8)
    np.testing.assert_array_equal(Dropout(0.5).forward(x, train=False), x)


def test_cross_entropy_gradient() -> None:
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, 10))
    labels = rng.integers(0, 10, 5)
    _, d = cross_entropy(logits, labels)
    idxs, numeric = _numeric(lambda: cross_entropy(logits, labels)[0], logits, rng)
    for idx, num in zip(idxs, numeric, strict=True):
        assert abs(d[idx] - num) < 1e-5, (idx, d[idx], num)


def test_nll_is_the_loss_of_cross_entropy_and_takes_a_temperature() -> None:
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 10)) * 3
    labels = rng.integers(0, 10, 6)
    expected = -np.mean(np.log(softmax(logits / 2.0)[np.arange(6), labels]))
    assert nll(logits, labels, 2.0) == pytest.approx(expected, rel=1e-12)
    assert nll(logits, labels) == cross_entropy(logits, labels)[0]


def test_softmax_temperature() -> None:
    logits = _x(4, 10)
    p1, p2 = softmax(logits), softmax(logits, 2.0)
    np.testing.assert_allclose(p2.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p2, softmax(logits / 2.0), rtol=1e-12)
    assert (p2.max(axis=1) < p1.max(axis=1)).all()  # a higher temperature softens


def test_softmax_of_large_logits_at_the_lowest_temperature_stays_finite() -> None:
    """exp overflows float32 past 88: a logit of 10 at the lowest temperature a model may
    hold (0.05) is 200, and unshifted every answer of a sure model would be NaN."""
    logits = np.zeros((2, 10), np.float32)
    logits[0, 3], logits[1, 7] = 10.0, 1000.0
    for temperature in (0.05, 1.0):
        p = softmax(logits, temperature)
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
        assert p.argmax(axis=1).tolist() == [3, 7]


def test_log_softmax_of_large_logits_is_exact_and_finite() -> None:
    """log_softmax (the nll calibration minimises) works from the shifted logits: a sure
    model's logit of 1000, or of 10 at the lowest temperature, gives the log-probabilities
    (float64's logaddexp here), not the -inf left when exp(z) overflows. Its temperature
    defaults to 1."""
    logits = np.zeros((2, 10), np.float32)
    logits[0, 3], logits[1, 7] = 10.0, 1000.0
    for temperature in (0.05, 1.0):
        z = logits.astype(np.float64) / temperature
        expected = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
        np.testing.assert_allclose(log_softmax(logits, temperature), expected, rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_array_equal(log_softmax(logits), log_softmax(logits, 1.0))
    labels = np.array([3, 7])
    assert 0 <= nll(logits, labels, 0.05) < 1e-6


def test_whole_cnn_gradient() -> None:
    """Every layer chained: catches wiring mistakes the per-layer checks cannot."""
    net = Network.build("cnn", seed=0, c1=2, c2=3, hidden=4, k1=5, k2=3, dropout=0.0)
    for layer in net.layers:
        _to64(layer)
    rng = np.random.default_rng(7)
    x = rng.random((3, 28, 28, 1))
    labels = rng.integers(0, 10, 3)

    def loss() -> float:
        h = x
        for layer in net.layers:
            h = layer.forward(h, train=True)
        return cross_entropy(h, labels)[0]

    loss()
    h = x
    for layer in net.layers:
        h = layer.forward(h, train=True)
    net.backward(cross_entropy(h, labels)[1])
    for i, layer in enumerate(net.layers):
        for k, arr in layer.params.items():
            grad = layer.grads[k].copy()
            idxs, numeric = _numeric(loss, arr, rng, n=5)
            for idx, num in zip(idxs, numeric, strict=True):
                assert abs(grad[idx] - num) < 1e-6 + 1e-4 * abs(num), (i, k, idx, grad[idx], num)


def with_trained_like_batchnorm(net: Network, rng: np.random.Generator) -> Network:
    """Running statistics and affine parameters away from their initial 0/1."""
    for layer in net.layers:
        if isinstance(layer, BatchNorm):
            n = layer.n
            layer.params["gamma"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
            layer.params["beta"] = rng.normal(0, 0.5, n).astype(np.float32)
            layer.state["mean"] = rng.normal(0, 0.5, n).astype(np.float32)
            layer.state["var"] = rng.uniform(0.2, 3.0, n).astype(np.float32)
    return net


def test_folded_batchnorm_computes_the_same_function() -> None:
    rng = np.random.default_rng(5)
    net = with_trained_like_batchnorm(Network.build("cnn", seed=2, c1=4, c2=6, hidden=8), rng)
    net.temperature = 1.7  # not the default: folding must carry it over
    folded = net.for_inference()
    kinds = [layer.kind for layer in folded.layers]
    assert "batchnorm" not in kinds
    assert "dropout" not in kinds
    x = rng.random((5, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(folded.forward(x), net.forward(x), rtol=1e-4, atol=1e-4)
    assert folded.temperature == 1.7


def test_folding_scales_the_bias_before_a_batchnorm() -> None:
    """A bias before a BatchNorm does nothing in training, but trained weights hold whatever
    Adam made of it: folded, it is scaled with the weights (b * s + t)."""
    rng = np.random.default_rng(9)
    net = with_trained_like_batchnorm(Network.build("cnn", seed=2, c1=4, c2=6, hidden=8), rng)
    for layer in net.layers:
        if isinstance(layer, Dense | Conv2D):
            layer.params["b"] = rng.normal(0, 1, layer.params["b"].shape).astype(np.float32)
    x = rng.random((5, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(net.for_inference().forward(x), net.forward(x), rtol=1e-4,
                               atol=1e-4)


def test_folded_layers_carry_no_gradients_of_the_original() -> None:
    """Merged layers are new objects: after a backward pass of the original, they hold no
    gradients (the original's were for other weights), and the original keeps its own."""
    net = Network.build("cnn", seed=2, c1=2, c2=3, hidden=4)
    rng = np.random.default_rng(10)
    logits = net.forward(rng.random((3, 28, 28), dtype=np.float32), train=True)
    net.backward(cross_entropy(logits, rng.integers(0, 10, 3))[1])
    merged = [layer for layer in net.for_inference().layers if layer not in net.layers]
    assert len(merged) == 3  # each conv and the hidden dense, with their BatchNorm
    assert all(layer.grads == {} for layer in merged)
    assert all(layer.grads for layer in net.layers if isinstance(layer, Dense | Conv2D))


@pytest.mark.parametrize("k", [3, 5, 7])
def test_cnn_convs_keep_the_image_size_for_any_odd_kernel(k: int) -> None:
    """Each conv pads k // 2 (`--option k1=7 k2=5`): two pools leave 7x7 for the dense layer."""
    net = Network.build("cnn", seed=0, c1=2, c2=3, hidden=4, k1=k, k2=k)
    assert net.forward(np.zeros((2, 28, 28), np.float32)).shape == (2, 10)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_each_dense_is_initialised_for_what_follows_it(arch: str) -> None:
    """He initialisation before a ReLU (BatchNorm and Dropout between), Glorot for the
    logits: no ReLU after the last layer."""
    layers = Network.build(arch, seed=0).layers
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            after = [x for x in layers[i + 1:] if not isinstance(x, BatchNorm | Dropout)]
            assert layer.relu_next == (bool(after) and isinstance(after[0], ReLU)), (arch, i)
    assert isinstance(layers[-1], Dense)
    assert not layers[-1].relu_next


def test_batchnorm_with_a_negative_scale_is_not_folded_across_a_pool() -> None:
    """max(-x) != -max(x): such a BatchNorm stays, the answer stays right."""
    rng = np.random.default_rng(6)
    net = with_trained_like_batchnorm(Network.build("cnn", seed=2, c1=4, c2=6, hidden=8), rng)
    net.layers[2].params["gamma"][1] = -1.0
    folded = net.for_inference()
    assert [layer.kind for layer in folded.layers].count("batchnorm") == 1
    x = rng.random((5, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(folded.forward(x), net.forward(x), rtol=1e-4, atol=1e-4)
    assert net.layers[2].params["gamma"][1] == -1.0  # the original network is untouched


@pytest.mark.parametrize(("c_in", "k"), [(1, 5), (2, 3), (8, 3)])
def test_conv_inference_patch_layout_matches_training(c_in: int, k: int) -> None:
    """Inference may copy patches in the other order (long runs): same convolution."""
    conv = Conv2D(c_in, 4, k, k // 2, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).random((3, 10, 10, c_in), dtype=np.float32)
    np.testing.assert_allclose(conv.forward(x), conv.forward(x, train=True), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize(("c_in", "k", "size"), [(1, 5, 28), (16, 3, 14), (2, 3, 8), (3, 5, 6)])
def test_a_conv_and_its_pool_in_one_step_give_the_same_numbers(c_in, k, size) -> None:
    """forward_pooled (pixels in pool order, the bias added after pooling) is the two layers:
    patch-major (c_in = 1) and row-major patches alike."""
    rng = np.random.default_rng(7)
    conv = Conv2D(c_in, 4, k, k // 2, rng=rng)
    conv.params["b"] = rng.normal(size=4).astype(np.float32)
    x = rng.random((3, size, size, c_in), dtype=np.float32)
    two_steps = MaxPool2().forward(conv.forward(x))
    assert conv.pools_evenly(x.shape)
    np.testing.assert_allclose(conv.forward_pooled(x), two_steps, rtol=1e-6, atol=1e-6)
    assert not conv.pools_evenly((3, size + 1, size, c_in))  # an odd side: two steps


def test_inference_pools_in_one_step_with_the_same_answers() -> None:
    net = Network.build("cnn", seed=2, c1=4, c2=6, hidden=8)
    x = np.random.default_rng(8).random((5, 28, 28), dtype=np.float32)
    h = x.reshape(-1, 28, 28, 1)
    for layer in net.layers:
        h = layer.forward(h)
    np.testing.assert_allclose(net.forward(x), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.for_inference().forward(x), h, rtol=1e-4, atol=1e-4)


def test_inference_takes_the_one_step_path_and_training_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each conv followed by its pool goes through forward_pooled at inference (the speed
    the bench measures); training goes layer by layer, keeping what backward needs."""
    calls: list[tuple[int, ...]] = []
    pooled = Conv2D.forward_pooled

    def spy(self: Conv2D, x: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return pooled(self, x)

    monkeypatch.setattr(Conv2D, "forward_pooled", spy)
    net = Network.build("cnn", seed=2, c1=2, c2=3, hidden=4)
    x = np.zeros((2, 28, 28), np.float32)
    net.forward(x, train=True)
    assert calls == []
    net.forward(x)
    assert calls == [(2, 28, 28, 1), (2, 14, 14, 2)]


def test_a_conv_after_a_pool_without_one_after_it_goes_layer_by_layer() -> None:
    """Only a MaxPool2 right after a conv joins it: a conv after a pool is not merged with
    whatever follows it."""
    rng = np.random.default_rng(11)
    layers = [Conv2D(1, 2, 3, 1, rng=rng), MaxPool2(), Conv2D(2, 2, 3, 1, rng=rng), ReLU(),
              Flatten(), Dense(14 * 14 * 2, 10, relu_next=False, rng=rng)]
    x = rng.random((3, 28, 28), dtype=np.float32)
    h = x.reshape(-1, 28, 28, 1)
    for layer in layers:
        h = layer.forward(h)
    np.testing.assert_allclose(Network(layers).forward(x), h, rtol=1e-5, atol=1e-6)


def test_build_names_the_architectures_it_knows() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'cnn2'; choose from "
                                         r"\['cnn', 'mlp', 'seed'\]"):
        Network.build("cnn2")


def test_from_spec_without_a_temperature_is_uncalibrated() -> None:
    """T = 1 (softmax of the logits as they are), as a new Network's; the loader passes the
    manifest's."""
    net = Network.build("seed", seed=0)
    assert Network.from_spec(net.spec()).temperature == 1.0
    assert Network.from_spec(net.spec(), 1.7).temperature == 1.7


def test_logits_in_passes_are_inference_whatever_the_pass_size() -> None:
    """Beyond one pass of `chunk` images, each pass is still inference: the training copy's
    BatchNorm uses its running statistics and Dropout keeps every value."""
    rng = np.random.default_rng(12)
    net = with_trained_like_batchnorm(Network.build("cnn", seed=2, c1=2, c2=3, hidden=8), rng)
    x = rng.random((10, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(net.logits(x, chunk=3), net.logits(x, chunk=None), rtol=1e-5,
                               atol=1e-5)


def test_batchnorm_defaults_to_momentum_0_9_and_eps_1e_5() -> None:
    """cnn_layers builds BatchNorm(n): a training step moves the running mean 0.1 of the
    way, and inference on zero variance divides by sqrt(1e-5) without moving anything."""
    x = _x(4, 6, 6, 2).astype(np.float32)
    bn = BatchNorm(2)
    bn.forward(x, train=True)
    np.testing.assert_allclose(bn.state["mean"], 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    bn.state["var"] = np.zeros(2, np.float32)
    np.testing.assert_allclose(bn.forward(np.ones((1, 2), np.float32))[0],
                               1 / np.sqrt(1e-5) * (1 - bn.state["mean"]), rtol=1e-5)
    assert bn.state["var"].max() == 0  # that forward was inference: nothing moved


def test_dropout_defaults_to_rate_0_5() -> None:
    """In training it keeps 1 in 2 and scales them by 2."""
    y = Dropout(rng=np.random.default_rng(0)).forward(np.ones((50, 50), np.float32), train=True)
    np.testing.assert_array_equal(np.unique(y), [0.0, 2.0])


def test_conv2d_defaults_to_3x3_padded_by_1_and_dense_to_he_init() -> None:
    """Conv2D(c_in, c_out) is a 3x3 kernel keeping the size; Dense's default init is He's,
    the one for a ReLU next."""
    x = _x(4, 6, 6, 2).astype(np.float32)
    conv = Conv2D(2, 3)
    assert conv.params["W"].shape == (3, 3, 2, 3)
    np.testing.assert_allclose(conv.forward(x), _conv_by_loops(x, conv.params["W"], 0, 1),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(Dense(20, 10).params["W"],
                                  Dense(20, 10, relu_next=True).params["W"])


def test_a_forward_without_train_keeps_nothing_for_a_backward_pass() -> None:
    """Inference is the default: no layer keeps the caches backward needs, and Dropout
    hands x back."""
    x = _x(4, 6, 6, 2).astype(np.float32)
    assert Dropout(0.5).forward(x) is x
    for layer, inp in ((Dense(72, 3), x.reshape(4, -1)), (ReLU(), x), (Flatten(), x),
                       (Conv2D(2, 3), x), (MaxPool2(), x)):
        dy = layer.forward(inp)
        with pytest.raises((AttributeError, TypeError)):
            layer.backward(dy)
