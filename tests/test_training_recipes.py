"""One meaning for each architecture name: training, the benchmark and the card read the
recipe (training.recipes); the canvas set can be drawn from validation digits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from digitnet.modelfile import read_manifest, save_model
from digitnet.network import Network

from tools import bench_model
from tools.paths import SHIPPED_MODEL
from training import canvas_eval
from training.idx import load_split
from training.recipes import RECIPES
from training.split import split_data
from training.train import TrainConfig


def test_the_benchmark_trains_the_recipe_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bench_model --train-arch cnn` timed the wider 32/64 net (cnn_layers' defaults)."""
    built: list[dict] = []
    real_build = Network.build

    def recording_build(arch: str, seed: int = 0, **options: object) -> Network:
        built.append({"arch": arch, **options})
        return real_build(arch, seed=seed, **options)

    monkeypatch.setattr(Network, "build", recording_build)
    assert bench_model.train_throughput("cnn", {}, steps=1) > 0
    assert built == [{"arch": "cnn", **RECIPES["cnn"].arch_options}]
    assert bench_model.train_throughput("cnn", {"hidden": 32}, batch=8, steps=1) > 0
    assert built[-1] == {"arch": "cnn", **RECIPES["cnn"].arch_options, "hidden": 32}


def test_the_benchmark_refuses_an_option_the_arch_lacks(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench_model.main(["--train-arch", "cnn", "--option", "foo=1"])
    assert "foo: unknown option; valid for cnn: c1=16" in capsys.readouterr().err


def test_a_config_names_its_architecture() -> None:
    """`TrainConfig()` meant a cnn that is not the shipped recipe (15 epochs, no renormalize,
    the builder's 32/64 channels); there is no default architecture now."""
    with pytest.raises(TypeError):
        TrainConfig()  # type: ignore[call-arg]


def test_the_canvas_set_can_be_drawn_from_validation_digits(data_dir: Path,
                                                            tmp_path: Path) -> None:
    save_model(Network.build("seed"), tmp_path / "m", name="m", version="v", metrics={})
    argv = ["--data-dir", str(data_dir), "--model", str(tmp_path / "m"), "--mnist-count", "40",
            "--font-variants", "0", "--digits", "val", "--val-seed", "3", "--val-size", "200"]
    images, labels, origins, _ = canvas_eval._digits(canvas_eval.parse_args(argv), {})
    full = load_split(data_dir, "train")
    _, val, _ = split_data(full, full, val_size=200, seed=3, tiny=False)
    assert len(origins) == len(labels) == len(val.labels) == 200  # type: ignore[arg-type]
    index = [int(o.removeprefix("train[").removesuffix("]")) for o in origins]  # type: ignore
    assert (full.images[index] == val.images).all()  # the very digits that run validates on
    assert (images == val.images).all()
    assert canvas_eval.main([*argv, "--json", str(tmp_path / "c.json")]) == 0
    figures = json.loads((tmp_path / "c.json").read_text())
    assert figures["digits"] == "validation digits of training seed 3, val size 200"
    assert figures["count"] == 40


def test_the_cnn_recipe_is_the_one_the_shipped_model_was_trained_with() -> None:
    """`make train` reproduces the shipped weights only while the recipe is the shipped
    model's: its manifest (not the code) is the witness of both settings and network."""
    manifest = read_manifest(SHIPPED_MODEL)
    assert dataclasses.asdict(RECIPES["cnn"]) == manifest["training"]["config"]
    network = Network.build("cnn", **RECIPES["cnn"].arch_options)
    assert network.spec() == manifest["architecture"]
