"""One meaning for each architecture name: training and the benchmark read the recipe
(training.recipes)."""

from __future__ import annotations

import pytest
from digitnet.network import Network

from tools import bench_model
from training.recipes import RECIPES
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

