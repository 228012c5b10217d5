"""The model-file contract: round trip, and clear errors for every kind of mismatch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from digitnet.layers import Conv2D, Dense, Flatten
from digitnet.modelfile import (
    ModelFileError,
    load_model,
    npz_bytes,
    read_manifest,
    save_model,
    sha256_hex,
)
from digitnet.network import Network
from test_layers_gradcheck import with_trained_like_batchnorm


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Network, Path]:
    """A network whose BatchNorm statistics are not the fresh 0/1: a loader that dropped
    them would answer differently."""
    net = with_trained_like_batchnorm(Network.build("cnn", seed=3, c1=2, c2=3, hidden=8),
                                      np.random.default_rng(3))
    net.temperature = 1.7
    save_model(net, tmp_path, name="t", version="v1", metrics={"test_accuracy": 0.5})
    return net, tmp_path


def _images(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).random((n, 28, 28), dtype=np.float32)


def test_round_trip_predicts_identically(saved: tuple[Network, Path]) -> None:
    net, path = saved
    loaded = load_model(path)
    assert (loaded.name, loaded.version) == ("t", "v1")
    assert loaded.network.temperature == pytest.approx(1.7)
    assert loaded.manifest["metrics"]["test_accuracy"] == 0.5
    # The loaded network has its BatchNorm folded: equal up to float rounding.
    np.testing.assert_allclose(loaded.network.predict_proba(_images()),
                               net.predict_proba(_images()), rtol=1e-5, atol=1e-7)


def test_loaded_network_divides_logits_by_the_saved_temperature(
        saved: tuple[Network, Path]) -> None:
    """predict_proba is softmax(logits / T) with the manifest's T (1.7 here)."""
    network = load_model(saved[1]).network
    images = _images()
    z = network.logits(images).astype(np.float64) / 1.7
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(network.predict_proba(images), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arch", ["seed", "mlp"])
def test_round_trip_other_architectures(tmp_path: Path, arch: str) -> None:
    net = Network.build(arch, seed=1)
    save_model(net, tmp_path, name=arch, version="1", metrics={})
    np.testing.assert_array_equal(load_model(tmp_path).network.predict_proba(_images()),
                                  net.predict_proba(_images()))


def test_npz_holds_no_pickles(saved: tuple[Network, Path]) -> None:
    with np.load(saved[1] / "model.npz", allow_pickle=False) as npz:
        assert npz.files
        assert all(npz[k].dtype == np.float32 for k in npz.files)


def test_checksum_mismatch(saved: tuple[Network, Path]) -> None:
    path = saved[1]
    net = Network.build("cnn", seed=4, c1=2, c2=3, hidden=8)
    np.savez(path / "model.npz", **net.arrays())  # same shapes, other weights
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model(path)


def _edit_manifest(path: Path, edit) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_shape_mismatch(saved: tuple[Network, Path]) -> None:
    path = saved[1]
    _edit_manifest(path, lambda m: m["architecture"][0]["arrays"].update(W=[3, 3, 1, 2]))
    with pytest.raises(ModelFileError, match=r"shape mismatch for 0\.W"):
        load_model(path)


def test_config_that_does_not_fit_arrays(saved: tuple[Network, Path]) -> None:
    path = saved[1]
    _edit_manifest(path, lambda m: m["architecture"][0]["config"].update(c_out=5))
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(path)


def test_layer_whose_arrays_have_other_names(saved: tuple[Network, Path]) -> None:
    """The manifest's array list matches the file, but the layer it names builds others."""
    path = saved[1]
    pool = 1
    assert json.loads((path / "manifest.json").read_text())["architecture"][pool]["type"] \
        == "maxpool2"
    _edit_manifest(path, lambda m: m["architecture"][pool].update(type="batchnorm",
                                                                  config={"n": 2}))
    with pytest.raises(ModelFileError, match=r"do not fit.*1\.gamma"):
        load_model(path)


def test_model_of_another_preprocessing_is_refused(saved: tuple[Network, Path]) -> None:
    """Every loader (API, bench, canvas evaluation) refuses it, not the API alone."""
    path = saved[1]
    _edit_manifest(path, lambda m: m.update(preprocess_version="old"))
    with pytest.raises(ModelFileError, match="trained with preprocessing 'old'"):
        load_model(path)


def test_save_model_returns_the_manifest_read_manifest_reads(tmp_path: Path) -> None:
    written = save_model(Network.build("seed", seed=0), tmp_path, name="t", version="v",
                         metrics={})
    assert written == read_manifest(tmp_path) == load_model(tmp_path).manifest


def test_save_model_makes_missing_parent_directories(tmp_path: Path) -> None:
    """A training run's --out may name a directory not yet made, a level or more down."""
    net = Network.build("seed", seed=0)
    save_model(net, tmp_path / "runs" / "a", name="t", version="v", metrics={})
    np.testing.assert_array_equal(load_model(tmp_path / "runs" / "a").network.logits(_images()),
                                  net.logits(_images()))


def test_manifest_describes_the_input_the_network_takes(tmp_path: Path) -> None:
    """The manifest says what another runtime must feed the weights: 28x28 float32 with
    bright ink in [0, 1], what preprocessing makes."""
    written = save_model(Network.build("seed", seed=0), tmp_path, name="t", version="v",
                         metrics={})
    assert written["input"] == {"shape": [28, 28], "dtype": "float32", "range": [0, 1],
                                "ink": "bright"}
    assert written["classes"] == list(range(10))


def test_a_loaded_model_cannot_be_rebound(saved: tuple[Network, Path]) -> None:
    """The API shares one LoadedModel between requests: its network and manifest stay
    the ones verified together."""
    loaded = load_model(saved[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.network = Network.build("seed", seed=0)  # type: ignore[misc]


def test_read_manifest_reads_a_model_load_model_refuses(saved: tuple[Network, Path]) -> None:
    """A model of an older preprocessing still has a name, for the trainer to say what --out
    holds; only loading it is refused."""
    _edit_manifest(saved[1], lambda m: m.update(preprocess_version="old"))
    assert read_manifest(saved[1])["name"] == "t"
    (saved[1] / "manifest.json").write_text("[]")
    with pytest.raises(ModelFileError, match="not a JSON object"):
        read_manifest(saved[1])


def test_missing_array(saved: tuple[Network, Path]) -> None:
    path = saved[1]
    _edit_manifest(path, lambda m: m["architecture"][0]["arrays"].update(extra=[1]))
    with pytest.raises(ModelFileError, match="missing"):
        load_model(path)


@pytest.mark.parametrize("name", ["model.npz", "manifest.json"])
def test_missing_file(saved: tuple[Network, Path], name: str) -> None:
    (saved[1] / name).unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load_model(saved[1])


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "nope")


def test_corrupt_manifest(saved: tuple[Network, Path]) -> None:
    (saved[1] / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(saved[1])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(temperature=-1), "temperature"),  # loaded, it answered 6 for a 7
    (lambda m: m.update(temperature=0), "temperature"),
    (lambda m: m.update(temperature=float("nan")), "temperature"),
    (lambda m: m.update(temperature="1"), "temperature"),
    (lambda m: m.update(temperature=True), "temperature"),
    (lambda m: m.pop("temperature"), "temperature"),
    (lambda m: m.update(format_version=99), "format_version"),
    (lambda m: m.pop("format_version"), "format_version"),
    (lambda m: m.update(classes=list(range(9, -1, -1))), "classes"),
    (lambda m: m.update(architecture={"0": {}}), "architecture"),
    (lambda m: m["architecture"][0].update(arrays=[]), "architecture"),
    (lambda m: m["architecture"][0].update(config=None), "architecture"),
    (lambda m: m.update(weights_file="../model.npz"), "weights_file"),
    # float32 makes 1e-40 a denormal (logits / T overflow) and 1e-300 zero; calibration
    # never fits a T outside the range it searches
    (lambda m: m.update(temperature=1e-300), r"temperature must be a number in \[0\.05, 20"),
    (lambda m: m.update(temperature=1e-40), "temperature"),
    (lambda m: m.update(temperature=1e39), "temperature"),
    (lambda m: m.update(temperature=21), "temperature"),
    (lambda m: m["architecture"][10]["config"].update(eps=-100.0),
     r"layer 10: batchnorm eps must be a number in \(0, 0\.1\], got -100\.0"),
    (lambda m: m["architecture"][10]["config"].update(eps=0), "eps"),
    (lambda m: m["architecture"][10]["config"].update(eps=0.11), "eps"),  # just past 0.1
    # every answer the same digit (1e30), or NaN past float32 (1e39)
    (lambda m: m["architecture"][10]["config"].update(eps=1e30), "eps"),
    (lambda m: m["architecture"][10]["config"].update(eps=10**400), "eps"),
    (lambda m: m["architecture"][10]["config"].update(eps="1e-5"), "eps"),
    (lambda m: m["architecture"][12]["config"].update(rate=2.0),
     r"layer 12: dropout rate must be a number in \[0, 1\), got 2\.0"),
    (lambda m: m["architecture"][12]["config"].update(rate=1), "rate"),
    (lambda m: m["architecture"][12]["config"].update(rate=-0.1), "rate"),
    (lambda m: m["architecture"][0]["arrays"].update(b=2),  # a TypeError, not refused
     r"layer 0: the shape of array b must be a list of non-negative integers, got 2"),
    (lambda m: m["architecture"][0]["arrays"].update(b=[2.0]), "shape of array b"),
    (lambda m: m["architecture"][0]["arrays"].update(b=[-2]), "shape of array b"),
    (lambda m: m["architecture"][0]["arrays"].update(W=[5, 5, True, 2]), "shape of array W"),
    # 0 is a size (non-negative, as the refusal says): refused for the mismatch it is
    (lambda m: m["architecture"][0]["arrays"].update(b=[0]),
     r"shape mismatch for 0\.b: the manifest has \[0\], the file \[2\]"),
])
def test_manifest_fields_the_checksum_cannot_vouch_for(saved: tuple[Network, Path], edit,
                                                        message: str) -> None:
    _edit_manifest(saved[1], edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(saved[1])


@pytest.mark.parametrize("edit", [
    lambda m: m.update(temperature=0.05),
    lambda m: m.update(temperature=20.0),
    lambda m: m.update(temperature=20),  # a JSON integer
    lambda m: m["architecture"][10]["config"].update(eps=0.1),
    lambda m: m["architecture"][12]["config"].update(rate=0),
    lambda m: m["architecture"][12]["config"].update(rate=0.0),
], ids=["temperature-0.05", "temperature-20.0", "temperature-20", "eps-0.1", "rate-0",
        "rate-0.0"])
def test_manifest_values_at_the_closed_ends_of_their_ranges_load(
        saved: tuple[Network, Path], edit) -> None:
    """The ranges the refusals name are closed there ([0.05, 20], (0, 0.1], [0, 1)): a
    temperature fitted at calibration's bound, or a recipe without dropout, is a model."""
    _edit_manifest(saved[1], edit)
    assert load_model(saved[1]).network.predict_proba(_images()).shape == (4, 10)


ArraysEdit = Callable[[dict[str, np.ndarray]], None]


def _write_weights(path: Path, data: bytes) -> None:
    """`data` as model.npz, with the checksum the manifest then vouches for."""
    (path / "model.npz").write_bytes(data)
    _edit_manifest(path, lambda m: m.update(weights_sha256=sha256_hex(data)))


def _edit_arrays(path: Path, edit: ArraysEdit) -> None:
    """Change the weights and write their new checksum in the manifest, as whoever made a
    bad file would: what the checksum cannot catch."""
    with np.load(path / "model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    edit(arrays)
    _write_weights(path, npz_bytes(arrays))


def _changed(key: str, change: Callable[[np.ndarray], np.ndarray]) -> ArraysEdit:
    """An `_edit_arrays` edit: `arrays[key]` replaced by `change` of a copy of it."""
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = change(arrays[key].copy())
    return edit


def _first(value: float) -> Callable[[np.ndarray], np.ndarray]:
    """A `_changed` change: the array with its first value replaced by `value`."""
    def change(a: np.ndarray) -> np.ndarray:
        a.flat[0] = value
        return a
    return change


@pytest.mark.parametrize(("edit", "message"), [
    (_changed("0.W", _first(np.nan)), r"arrays must be finite: NaN or infinity in 0\.W"),
    (_changed("13.b", _first(np.inf)), r"finite: NaN or infinity in 13\.b"),
    # var + eps stays positive: no NaN, only a wrong scale
    (_changed("6.var", _first(-1e-6)), r"BatchNorm running variances must be >= 0: 6\.var"),
    (_changed("10.var", lambda v: -v), r"variances must be >= 0: 10\.var"),
    (lambda a: a.update({k: v.astype(np.float64) for k, v in a.items()}),
     r"arrays must be float32: 0\.W \(float64\)"),
    (_changed("0.W", lambda w: (w * 100).astype(np.int32)), r"float32: 0\.W \(int32\)"),
    (_changed("0.b", lambda b: b > 0), r"float32: 0\.b \(bool\)"),
    (_changed("0.b", lambda b: b.astype(np.complex64) + 1j), r"float32: 0\.b \(complex64\)"),
    (_changed("0.b", lambda b: b.astype(str)), r"float32: 0\.b \(<U"),
])
def test_weights_the_checksum_cannot_vouch_for(saved: tuple[Network, Path], edit,
                                               message: str) -> None:
    """Each loaded silently: answers NaN (the API's /predict a 500 while /health said ok),
    or other than the file's float32 weights give."""
    _edit_arrays(saved[1], edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(saved[1])


def test_an_array_the_manifest_does_not_list_is_refused(saved: tuple[Network, Path]) -> None:
    """A file holding more than its manifest describes is not the file described, even if
    nothing would read the extra array."""
    _edit_arrays(saved[1], lambda a: a.update({"0.extra": np.zeros(2, np.float32)}))
    with pytest.raises(ModelFileError,
                       match=r"do not match manifest: the manifest has no \['0\.extra'\]$"):
        load_model(saved[1])


class _Touch:
    """Unpickling this creates `marker`: a weights file must never be unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[Path], None], tuple[Path]]:
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("content", ["garbage", "truncated", "pickled"])
def test_weights_numpy_cannot_read_safely_are_refused(saved: tuple[Network, Path],
                                                      content: str) -> None:
    """Bytes that are no npz, an npz cut short and an object array (a pickle) all fail as
    a ModelFileError naming the weights, and the pickle is never run."""
    path, marker = saved[1], saved[1] / "PWNED"
    data = (path / "model.npz").read_bytes()
    if content == "pickled":
        _edit_arrays(path, lambda a: a.update({"0.b": np.array([_Touch(marker)], dtype=object)}))
    else:
        _write_weights(path, b"not an npz file at all" if content == "garbage"
                       else data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cannot read weights"):
        load_model(path)
    assert not marker.exists()


def test_a_batchnorm_running_variance_of_zero_loads(saved: tuple[Network, Path]) -> None:
    """Variances must be >= 0, not > 0: a channel that never varied (a filter that never
    fires) is eps away from zero, and the network still answers."""
    _edit_arrays(saved[1], _changed("6.var", lambda v: np.zeros_like(v)))
    assert np.isfinite(load_model(saved[1]).network.predict_proba(_images())).all()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_weights_whose_logits_overflow_are_refused(tmp_path: Path) -> None:
    """Every weight finite, but a blank image's logits overflow float32: every answer NaN."""
    net = Network.build("seed", seed=0)
    net.layers[1].params["b"][:] = 1e30
    net.layers[3].params["W"][:] = 1e30
    save_model(net, tmp_path, name="t", version="v", metrics={})
    with pytest.raises(ModelFileError, match="logits for a blank image are not finite"):
        load_model(tmp_path)


@pytest.mark.parametrize(("config", "error"), [
    ({"rng": "x"}, "AttributeError"),  # a constructor argument no config holds
    ({"c_out": 10**12}, "MemoryError"),  # weights out of reach, allocated while building
])
def test_a_layer_config_no_layer_takes_is_a_model_file_error(saved: tuple[Network, Path],
                                                              config: dict, error: str) -> None:
    """The API answered 503 either way, but the CLIs (canvas_eval, bench) showed tracebacks."""
    _edit_manifest(saved[1], lambda m: m["architecture"][0]["config"].update(config))
    with pytest.raises(ModelFileError, match=f"manifest architecture is invalid: {error}"):
        load_model(saved[1])


def test_unknown_layer_type(saved: tuple[Network, Path]) -> None:
    _edit_manifest(saved[1], lambda m: m["architecture"][1].update(type="mystery"))
    with pytest.raises(ModelFileError, match="unknown layer type"):
        load_model(saved[1])


def test_network_without_one_output_per_class_is_refused(tmp_path: Path) -> None:
    """A last layer of 12 outputs loaded and answered 12 probabilities for 10 classes."""
    rng = np.random.default_rng(0)
    save_model(Network([Flatten(), Dense(784, 12, relu_next=False, rng=rng)]), tmp_path,
               name="t", version="v", metrics={})
    with pytest.raises(ModelFileError, match=r"gives 12 outputs an image.* 10 classes"):
        load_model(tmp_path)


def test_network_whose_output_is_not_one_row_an_image_is_refused(tmp_path: Path) -> None:
    """A last layer that keeps the image's shape (a conv, no Flatten or Dense after it) is
    refused, naming the shape an image gives."""
    save_model(Network([Conv2D(1, 2, 3, 1, rng=np.random.default_rng(0))]), tmp_path,
               name="t", version="v", metrics={})
    with pytest.raises(ModelFileError, match=r"gives \[28, 28, 2\] outputs an image"):
        load_model(tmp_path)


def test_layers_that_do_not_chain_are_refused(tmp_path: Path) -> None:
    """Each layer fits its own arrays, but 10 values reach a layer taking 12: once loaded,
    every prediction was a server error."""
    rng = np.random.default_rng(0)
    layers = [Flatten(), Dense(784, 10, rng=rng), Dense(12, 10, relu_next=False, rng=rng)]
    save_model(Network(layers), tmp_path, name="t", version="v", metrics={})
    with pytest.raises(ModelFileError, match="layers do not chain"):
        load_model(tmp_path)


def test_inference_in_passes_gives_the_same_answers(saved: tuple[Network, Path]) -> None:
    network = load_model(saved[1]).network
    images = _images(10)
    np.testing.assert_allclose(network.predict_proba(images, chunk=3),
                               network.predict_proba(images, chunk=None), rtol=1e-6, atol=1e-7)
    assert network.predict_proba(images[0], chunk=3).shape == (1, 10)  # one 28x28 image
