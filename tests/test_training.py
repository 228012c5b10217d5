"""The training pipeline end to end on a tiny synthetic IDX set, through the CLI."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from digitnet.modelfile import load_model
from digitnet.network import ARCHITECTURES, Network
from digitnet.preprocess import normalize_batch

from tools.paths import ROOT
from training import cli, outdir
from training import train as train_module
from training.augment import AugmentConfig
from training.calibrate import expected_calibration_error, fit_temperature
from training.cli import RECIPES, main, make_config, parse_args, recipe_config
from training.idx import Split
from training.outdir import write_when_complete
from training.provenance import code_commit, model_version, reproduce_command
from training.recipes import arch_options
from training.split import TINY, SplitError, split_data
from training.train import TrainConfig, batch_bounds, lr_at, train


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class c is a bar at height c beside a fixed stroke: learnable in a few steps.

    The images are MNIST-normalised, as MNIST's are, so augmentation that
    re-normalises distorted digits trains on what validation and test show.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.float32)
    images[:, 4:25, 6:8] = 1
    for c in range(10):
        images[labels == c, 4 + 2 * c:7 + 2 * c, 6:22] = 1
    images += rng.random((n, 28, 28), dtype=np.float32) * 0.2 * images  # uneven ink
    return np.round(normalize_batch(images) * 255).astype(np.uint8), labels


def train_tiny(data_dir: Path, out: Path, seed: int = 7) -> Path:
    """`python -m training train ... --tiny` in a subprocess, as `make train-tiny`."""
    cmd = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
           "--arch", "cnn", "--tiny", "--seed", str(seed), "--out", str(out), "--overwrite"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    return out


@pytest.fixture(scope="module")
def first_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(data_dir, tmp_path_factory.mktemp("run1"))


def test_tiny_run_writes_a_loadable_model_and_card(first_run: Path) -> None:
    loaded = load_model(first_run)
    m = loaded.manifest
    # The bars are easy: healthy tiny runs score 1.0 (seeds 1-3, 7); one whose BatchNorm
    # never updates its running statistics scores 0.578.
    assert m["metrics"]["test_accuracy"] >= 0.9
    assert m["training"]["seed"] == 7
    assert "--tiny" in m["training"]["command"]
    assert m["training"]["config"]["arch_options"] == arch_options("cnn")  # every one
    assert m["training"]["config"]["renormalize"] is RECIPES["cnn"].renormalize
    # The distortions it trained with, every setting (a changed default must show).
    assert m["training"]["augmentation"] == asdict(AugmentConfig(renormalize=True))
    assert len(m["training"]["history"]) == 2
    assert m["temperature"] == m["metrics"]["temperature"]  # the fitted T is the one saved
    assert loaded.network.temperature == m["temperature"]
    assert m["metrics"]["test_nll_after"] <= m["metrics"]["test_nll_before"]
    for name in ("MODEL_CARD.md", "confusion_matrix.png", "learning_curves.png"):
        assert (first_run / name).stat().st_size > 0
    assert "confusion_matrix.png" in (first_run / "MODEL_CARD.md").read_text()


def test_same_seed_gives_identical_weights(data_dir: Path, first_run: Path,
                                           tmp_path: Path) -> None:
    second = train_tiny(data_dir, tmp_path / "run2")
    with np.load(first_run / "model.npz") as a, np.load(second / "model.npz") as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    meta = [json.loads((d / "manifest.json").read_text())["weights_sha256"]
            for d in (first_run, second)]
    assert meta[0] == meta[1]


def test_progress_lines(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main(["train", "--data-dir", str(data_dir), "--arch", "seed", "--tiny", "--out",
          str(tmp_path)])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2
    for word in ("loss", "acc", "val_acc", "time", "eta"):
        assert word in lines[0]


def test_options_override_the_recipe_and_reach_the_command(tmp_path: Path) -> None:
    args = parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path), "--arch",
                       "cnn", "--option", "c1=8", "--option", "hidden=32", "--no-renormalize",
                       "--val-size", "1000"])
    cfg = make_config(args)
    assert cfg.arch_options == {**arch_options("cnn"), "c1": 8, "hidden": 32}
    assert cfg.renormalize is False
    command = reproduce_command(args, cfg)
    assert "--option=c1=8" in command
    assert "--option=hidden=32" in command
    assert "--no-renormalize" in command
    assert make_config(parse_args(command.split()[3:])) == cfg
    assert parse_args(command.split()[3:]).val_size == 1000


def shown_options(arch: str) -> str:
    """'c1=16 ... dropout=0.4': every option of the layer builder, at the recipe's value where
    the recipe sets one, else the builder's default (so a recipe change moves this too)."""
    builder = inspect.signature(ARCHITECTURES[arch]).parameters.values()
    options = {p.name: p.default for p in builder if p.default is not inspect.Parameter.empty}
    return " ".join(f"{k}={v}" for k, v in {**options, **RECIPES[arch].arch_options}.items())


@pytest.mark.parametrize(("arch", "bad", "says"), [
    ("cnn", "c1", "expects NAME=VALUE"), ("cnn", "c1=", "expects NAME=VALUE"),
    ("cnn", "=8", "expects NAME=VALUE"), ("cnn", "c1=eight", "c1 takes an integer"),
    ("cnn", "foo=3", "foo: unknown option"),  # was a TypeError traceback
    ("cnn", "c1=0.5", "c1 takes an integer"), ("cnn", "c1=0", "at least 1"),
    ("cnn", "dropout=1", "must be in [0, 1)"), ("cnn", "dropout=nan", "must be in"),
    ("cnn", "k1=4", "cannot build cnn"),  # an even kernel changes the shapes
    ("mlp", "c1=8", f"valid for mlp: {shown_options('mlp')}"),
    ("seed", "hidden=8", "seed takes no options"),
])
def test_a_bad_option_is_a_usage_error_naming_the_valid_ones(
        tmp_path: Path, arch: str, bad: str, says: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path), "--arch", arch,
                    "--option", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
    if arch == "cnn" and ("NAME=VALUE" in says or "unknown" in says):
        assert f"valid for cnn: {shown_options('cnn')} (the recipe's values)" in err


def test_a_float_option_sets_the_dropout_rate(data_dir: Path, tmp_path: Path) -> None:
    args = parse_args(["train", "--data-dir", str(data_dir), "--out", str(tmp_path / "m"),
                       "--option", "dropout=0.25", "--option", "hidden=64"])
    cfg = make_config(args)
    assert cfg.arch_options == {**arch_options("cnn"), "dropout": 0.25, "hidden": 64}
    assert make_config(parse_args(reproduce_command(args, cfg).split()[3:])) == cfg
    assert main(["train", "--data-dir", str(data_dir), "--out", str(tmp_path / "m"), "--tiny",
                 "--epochs", "1", "--option", "dropout=0.25"]) == 0
    layers = json.loads((tmp_path / "m" / "manifest.json").read_text())["architecture"]
    assert [e["config"]["rate"] for e in layers if e["type"] == "dropout"] == [0.25]


def test_help_lists_the_options_and_the_defaults(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["train", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for shown in (shown_options("cnn"), shown_options("mlp"),
                  "--seed SEED seed of every random choice, the validation split included "
                  "(default: 1)", "(default: 5000; 300 with --tiny)", "(default: cnn)",
                  "--overwrite", "held out for validation"):
        assert shown in text


@pytest.mark.parametrize("flags", [["--batch-size", "-1"], ["--lr", "-0.003"], ["--lr", "nan"],
                                   ["--lr", "inf"],
                                   ["--epochs", "0"], ["--val-size", "-5"], ["--val-size", "0"]])
def test_values_that_cannot_train_are_usage_errors(tmp_path: Path, flags: list[str],
                                                    capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path), *flags])
    assert f"argument {flags[0]}: must be a positive number" in capsys.readouterr().err


def test_a_batch_of_one_image_is_a_usage_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """Every batch would be one image: batch norm's variance 0, nothing learnt."""
    with pytest.raises(SystemExit):
        parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path),
                    "--batch-size", "1"])
    assert "argument --batch-size: must be 2 or more" in capsys.readouterr().err
    args = parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path),
                       "--batch-size", "2"])
    assert args.batch_size == 2


def test_a_negative_seed_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """It once failed in numpy, after the data was read."""
    with pytest.raises(SystemExit):
        parse_args(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path), "--seed", "-1"])
    assert "argument --seed: must be a number 0 or over" in capsys.readouterr().err
    assert parse_args(["train", "--data-dir", "d", "--out", "o", "--seed", "0"]).seed == 0


def test_a_diverged_run_writes_no_model(data_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    """--lr 1000 blew the loss up to 4.8e19, and the model was written all the same."""
    out = tmp_path / "m"
    assert main(["train", "--data-dir", str(data_dir), "--out", str(out), "--tiny",
                 "--lr", "1000"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^error: training diverged at epoch \d: the loss is \S+ .*try a lower "
                     r"--lr \(now 1000\)$", err, re.MULTILINE), err
    assert not out.exists()


def test_a_validation_split_as_big_as_the_data_is_one_error_line(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """It was a SystemExit raised inside the library, without the CLI's "error:"."""
    assert main(["train", "--data-dir", str(data_dir), "--out", str(tmp_path / "m"),
                 "--val-size", "1600"]) == 1  # the synthetic set's 1,600 training images
    assert capsys.readouterr().err == (
        "error: --val-size 1600 leaves no training images (the training set has 1600)\n")
    assert not (tmp_path / "m").exists()


def test_missing_data_is_one_error_line_not_a_traceback(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: train-images-idx3-ubyte(.gz) not found")
    assert "Traceback" not in err


def test_tiny_honours_val_size_and_records_what_it_used(data_dir: Path, first_run: Path) -> None:
    full = Split(np.zeros((2000, 28, 28), np.float32), np.zeros(2000, np.int64))
    train_split, val, test = split_data(full, full, val_size=100, seed=0, tiny=True)
    assert (len(train_split.labels), len(val.labels), len(test.labels)) == (1200, 100, 1000)
    args = parse_args(["train", "--data-dir", "d", "--out", "o", "--tiny"])
    assert args.val_size == TINY["val"]  # the tiny default, not 5,000 it never used
    manifest = json.loads((first_run / "manifest.json").read_text())["training"]
    assert manifest["val_size"] == 300
    assert "--val-size 300" in manifest["command"]


def _files(directory: Path) -> dict[str, bytes]:
    """The files in `directory`, not its folders (the checkpoint's is one)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def no_data_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to read or fetch MNIST fails the test: checks must come first."""
    def fail(*_args: object) -> None:
        pytest.fail("data was read before --out was checked")
    monkeypatch.setattr(cli, "load_split", fail)
    monkeypatch.setattr(cli, "download", fail)


def test_an_out_holding_a_model_is_refused_before_any_data_is_read(
        first_run: Path, tmp_path: Path, no_data_read: None,
        capsys: pytest.CaptureFixture) -> None:
    out = shutil.copytree(first_run, tmp_path / "model")
    before = _files(out)
    assert main(["train", "--data-dir", str(tmp_path), "--out", str(out), "--download"]) == 1
    err = capsys.readouterr().err
    sha = json.loads((out / "manifest.json").read_text())["weights_sha256"]
    assert err == (f"error: --out {out} already holds a model (digitnet-cnn cnn-e2-s7-tiny, "
                   f"weights sha256 {sha[:12]}…); pass --overwrite to replace it\n")
    assert _files(out) == before


def test_overwrite_names_the_model_it_replaces(first_run: Path, data_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = shutil.copytree(first_run, tmp_path / "model")
    sha = json.loads((out / "manifest.json").read_text())["weights_sha256"]
    assert main(["train", "--data-dir", str(data_dir), "--arch", "seed", "--tiny",
                 "--out", str(out), "--overwrite"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"--overwrite: {out} holds digitnet-cnn cnn-e2-s7-tiny, weights sha256 "
                     f"{sha[:12]}…; the new model replaces it when training completes")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "seed-e2-s1-tiny"
    assert "--overwrite" in manifest["training"]["command"]  # the command as run


def _make_train(*variables: str, target: str = "train") -> list[str]:
    """The flags `make train` (or `target`) would pass (make -n: nothing runs)."""
    done = subprocess.run(["make", "-n", "--no-print-directory", target, *variables],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.replace("\\\n", " ").splitlines()  # a recipe line continued
    line = next(ln for ln in lines if " -m training train " in ln)
    return line.split()


def test_the_makefile_replaces_the_shipped_model_only_when_told() -> None:
    """`make train` is how the shipped model is replaced; the refusal must not stop it."""
    flags = _make_train()
    assert flags[flags.index("--out") + 1] == "layers/model/model"
    assert "--overwrite" in flags


@pytest.mark.parametrize(("variables", "expected"), [
    ([], "--resume"), (["RESTART=1"], "--restart"), (["RESTART=0"], "--resume")])
def test_make_train_goes_on_from_an_interrupted_runs_checkpoint(
        tmp_path: Path, variables: list[str], expected: str) -> None:
    """Re-run after a Ctrl-C, `make train` resumes (same recipe: the same weights); it starts
    again only when told, and without a checkpoint does neither."""
    assert not {"--resume", "--restart"} & set(_make_train(f"SHIPPED_MODEL={tmp_path}"))
    (tmp_path / ".checkpoint").mkdir()
    (tmp_path / ".checkpoint" / "checkpoint.json").write_text("{}")
    flags = _make_train(f"SHIPPED_MODEL={tmp_path}", *variables)
    assert expected in flags
    assert not {"--resume", "--restart"} - {expected} & set(flags)


def test_make_train_tiny_starts_again_over_an_interrupted_tiny_run() -> None:
    """A seconds-long run: after a Ctrl-C its checkpoint must not block the next one
    (make passes no --resume or --restart of the user's)."""
    flags = _make_train(target="train-tiny")
    assert {"--tiny", "--restart", "--overwrite"} <= set(flags)


@pytest.mark.parametrize("case", ["file", "under-a-file", "broken-link", "unwritable"])
def test_an_out_that_cannot_be_written_fails_first_in_one_line(
        tmp_path: Path, case: str, no_data_read: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """It used to train every epoch, then crash with a FileExistsError traceback."""
    (tmp_path / "a-file").write_text("not a model")
    out = {"file": tmp_path / "a-file", "under-a-file": tmp_path / "a-file" / "model",
           "broken-link": tmp_path / "link", "unwritable": tmp_path / "new" / "model"}[case]
    if case == "broken-link":
        out.symlink_to(tmp_path / "nowhere")
    if case == "unwritable":  # root ignores file modes: refuse the probe instead
        def refuse(**_kwargs: object) -> str:
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(outdir.tempfile, "mkdtemp", refuse)
    assert main(["train", "--data-dir", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}")
    assert err.count("\n") == 1
    assert {"file": "is a file, not a model directory", "under-a-file": "a-file is a file",
            "broken-link": "broken symbolic link", "unwritable": "Permission denied"}[case] in err


@pytest.fixture
def ctrl_c_as_typed() -> Iterator[None]:
    """SIGINT raising KeyboardInterrupt here and in children, even when the tests run as a
    background job: a shell starts those with SIGINT ignored, children inherit that, and a
    run then trained to its end and exited 0."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _long_run_over(first_run: Path, data_dir: Path, tmp_path: Path
                   ) -> tuple[Path, dict[str, bytes], subprocess.Popen[str]]:
    """`python -m training` started on a 50-epoch tiny run over a copy of `first_run`
    (--overwrite), its output piped: the copy, its files before, the process."""
    out = shutil.copytree(first_run, tmp_path / "model")
    cmd = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir), "--tiny",
           "--arch", "cnn", "--epochs", "50", "--out", str(out), "--overwrite"]
    before = _files(out)
    return out, before, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)


def _stopped_in_training(out: Path, err: str, said_first: str = "") -> tuple[int, int]:
    """(epoch stopped at, epoch of the checkpoint kept) from the one line a run stopped
    mid-training writes; the model in `out` untouched and only the checkpoint beside it."""
    said = re.fullmatch(rf"{re.escape(said_first)}interrupted at epoch (\d+) of 50; no new "
                        rf"model written to {re.escape(str(out))}; its checkpoint after epoch "
                        r"(\d+) of 50 is kept: --resume continues from there\n", err)
    assert said, err
    assert [p.name for p in out.iterdir() if p.is_dir()] == [".checkpoint"]
    return int(said[1]), int(said[2])


@pytest.mark.usefixtures("ctrl_c_as_typed")
def test_ctrl_c_during_training_says_where_and_leaves_out_whole(
        first_run: Path, data_dir: Path, tmp_path: Path) -> None:
    """A real SIGINT to `python -m training` after its second epoch: exit 130, one line, no
    traceback, saying which epoch --resume goes on from; the model in --out untouched, no
    scratch folder left, the checkpoint of the epochs done kept."""
    out, before, proc = _long_run_over(first_run, data_dir, tmp_path)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("epoch  2/50"):
                proc.send_signal(signal.SIGINT)
                break
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    stopped, kept = _stopped_in_training(out, err)
    # Sent once epoch 2 is reported: epoch 3 at the earliest, later if the parent was slow.
    assert stopped in (3, 4)
    assert kept == stopped - 1
    assert _files(out) == before
    saved = json.loads((out / ".checkpoint" / "checkpoint.json").read_text())
    assert saved["epoch"] == kept


def test_a_closed_output_pipe_stops_the_run_as_ctrl_c_would(
        first_run: Path, data_dir: Path, tmp_path: Path) -> None:
    """`python -m training train ... | head`: once the reader is gone the run stops with
    exit 141 (SIGPIPE's) and one line on stderr, no traceback; the model in --out untouched
    and the checkpoint of the epochs done kept, as after a Ctrl-C."""
    out, before, proc = _long_run_over(first_run, data_dir, tmp_path)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("epoch  2/50"):
                break
        proc.stdout.close()  # type: ignore[union-attr]
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 141, err
    stopped, kept = _stopped_in_training(out, err, "output's reader closed the pipe: ")
    assert kept == stopped - 1 >= 2
    assert _files(out) == before


def test_ctrl_c_before_the_model_is_written_leaves_only_the_checkpoint(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """No scratch folder, no model file; the last epoch's checkpoint, which --resume then
    finishes from without training again."""
    def stopped(*_args: object) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "write_model_card", stopped)  # while writing: folders exist
    out = tmp_path / "new" / "model"
    args = ["train", "--data-dir", str(data_dir), "--arch", "seed", "--tiny", "--out", str(out)]
    assert main(args) == 130
    assert capsys.readouterr().err == (f"interrupted while writing the model; no new model written "
                                       f"to {out}; its checkpoint after epoch 2 of 2 is kept: "
                                       "--resume continues from there\n")
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == [
        "new", "new/model", "new/model/.checkpoint", "new/model/.checkpoint/checkpoint.json",
        "new/model/.checkpoint/epoch-002.npz"]
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    said = capsys.readouterr().out
    assert "--resume: continuing from the checkpoint after epoch 2 of 2" in said
    assert not re.search("^epoch", said, re.MULTILINE)  # nothing left to train
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".npz", ".json")) == [
        "manifest.json", "model.npz"]


@pytest.mark.usefixtures("ctrl_c_as_typed")
def test_ctrl_c_while_the_files_move_waits_for_the_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The moves are not one atomic step: a Ctrl-C between two would leave new weights
    beside the old manifest. It is held until the manifest is in, then raised."""
    out = tmp_path / "model"
    out.mkdir()
    for name in ("model.npz", "manifest.json"):
        (out / name).write_text(f"old {name}")
    real_replace = os.replace

    def interrupted_replace(a: Path, b: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the first move starts
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    moved: list[bool] = []
    with pytest.raises(KeyboardInterrupt):
        write_when_complete(out, lambda d: [(d / n).write_text(f"new {n}") for n in
                                            ("manifest.json", "model.npz")],
                            on_moved=lambda: moved.append(True))
    assert moved == [True]
    assert {n: (out / n).read_text() for n in ("model.npz", "manifest.json")} == {
        "model.npz": "new model.npz", "manifest.json": "new manifest.json"}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_the_manifest_records_the_data_read_and_the_versions(first_run: Path,
                                                            data_dir: Path) -> None:
    import numpy
    import PIL

    training = json.loads((first_run / "manifest.json").read_text())["training"]
    expected = {p.name: hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
                for p in sorted(data_dir.iterdir())}
    assert training["data_sha256"] == expected
    assert len(expected) == 4
    assert training["versions"] == {"python": sys.version.split()[0],
                                    "numpy": numpy.__version__, "pillow": PIL.__version__}
    card = (first_run / "MODEL_CARD.md").read_text()
    assert f"numpy {numpy.__version__}" in card
    assert expected["t10k-images-idx3-ubyte.gz"][:16] in card


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_an_untracked_module_marks_the_commit_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "training").mkdir(parents=True)
    (repo / "training" / "cli.py").write_text("")
    (repo / ".gitignore").write_text("__pycache__/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "x")
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "training" / "__pycache__").mkdir()
    (repo / "training" / "__pycache__" / "cli.pyc").write_text("")  # ignored: still clean
    (repo / "notes.txt").write_text("")  # outside the code: still clean
    assert code_commit(repo) == head
    (repo / "training" / "new_module.py").write_text("")  # imported code the commit lacks
    assert code_commit(repo) == f"{head}-dirty"


@pytest.mark.parametrize("tiny", [False, True])
def test_training_and_validation_images_never_overlap(tiny: bool) -> None:
    n = 2000
    full = Split(np.arange(n, dtype=np.float32).reshape(n, 1, 1) * np.ones((1, 28, 28)),
                 np.zeros(n, np.int64))
    train_split, val, _ = split_data(full, full, val_size=100, seed=0, tiny=tiny)
    seen_train = set(train_split.images[:, 0, 0].tolist())
    seen_val = set(val.images[:, 0, 0].tolist())
    assert not seen_train & seen_val
    assert len(seen_train) == len(train_split.labels)  # no image twice
    if not tiny:
        assert len(seen_train) + len(seen_val) == n


def test_a_validation_split_that_takes_every_image_is_refused() -> None:
    full = Split(np.zeros((10, 28, 28), np.float32), np.zeros(10, np.uint8))
    with pytest.raises(SplitError, match="leaves no training images"):
        split_data(full, full, val_size=10, seed=0, tiny=False)


def test_model_files_move_in_only_when_all_are_written(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.npz").write_text("old weights")
    (out / "manifest.json").write_text("old manifest")

    def fails_half_way(directory: Path) -> None:
        (directory / "model.npz").write_text("new weights")
        raise RuntimeError("the card's plot failed")

    with pytest.raises(RuntimeError):
        write_when_complete(out, fails_half_way)
    assert (out / "model.npz").read_text() == "old weights"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.npz"]  # no scratch

    def stopped_half_way(directory: Path) -> None:  # Ctrl-C while the card is drawn
        (directory / "model.npz").write_text("new weights")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_when_complete(out, stopped_half_way)
    assert (out / "model.npz").read_text() == "old weights"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.npz"]

    moved: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (moved.append(Path(b).name),
                                                     real_replace(a, b)))
    write_when_complete(out, lambda d: [(d / n).write_text(f"new {n}") for n in
                                 ("manifest.json", "model.npz", "MODEL_CARD.md")])
    assert moved[-1] == "manifest.json"
    assert (out / "model.npz").read_text() == "new model.npz"
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "manifest.json", "model.npz"]


@pytest.mark.parametrize("stop", [RuntimeError("the card's plot failed"), KeyboardInterrupt()])
def test_a_model_that_never_came_leaves_none_of_the_folders_made_for_it(
        tmp_path: Path, stop: BaseException) -> None:
    """--out new/model, the run failing or stopped while writing: new/ and new/model/ go
    again (the ones there before stay), not left empty to be mistaken for a model's."""
    out = tmp_path / "new" / "model"

    def fails_half_way(directory: Path) -> None:
        (directory / "model.npz").write_text("new weights")
        raise stop

    with pytest.raises(type(stop)):
        write_when_complete(out, fails_half_way)
    assert list(tmp_path.iterdir()) == []


def test_a_model_folder_linked_elsewhere_is_written_through_the_link(tmp_path: Path) -> None:
    """The scratch folder is inside the target: the moves never cross file systems, and
    the link's parent need not be writable."""
    target = tmp_path / "elsewhere" / "model"
    target.mkdir(parents=True)
    link = tmp_path / "model"
    link.symlink_to(target)
    scratch: list[Path] = []

    def write(directory: Path) -> None:
        scratch.append(directory)
        (directory / "model.npz").write_text("weights")

    write_when_complete(link, write)
    assert scratch[0].parent == link  # not beside it, maybe on another file system
    assert link.is_symlink()
    assert (target / "model.npz").read_text() == "weights"
    assert [p.name for p in target.iterdir()] == ["model.npz"]


def test_one_cycle_schedule() -> None:
    peak, total, warm = 1.0, 100, 10
    lrs = [lr_at(s, total, warm, peak) for s in range(total)]
    assert lrs[0] < lrs[9] == pytest.approx(peak)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lrs[-1] < 0.01


def test_a_last_batch_of_one_image_joins_the_one_before() -> None:
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(9, 4) == [(0, 4), (4, 9)]  # not (8, 9): batch norm of one image
    assert batch_bounds(8, 4) == [(0, 4), (4, 8)]
    assert batch_bounds(1, 4) == [(0, 1)]


def test_training_never_steps_on_one_image_and_schedules_each_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A CNN's batch norm would see a variance of 0 and learn nothing from that step; the
    learning-rate schedule has one rate per batch taken, so it ends at its last step."""
    sizes: list[int] = []
    rates: list[float] = []
    real_step = train_module.train_step

    def recording_step(net: Network, opt, x: np.ndarray, y: np.ndarray):
        sizes.append(len(x))
        rates.append(opt.lr)
        return real_step(net, opt, x, y)

    monkeypatch.setattr("training.train.train_step", recording_step)
    images, labels = synthetic_digits(33, 3)
    data = Split(images.astype(np.float32) / 255, labels.astype(np.int64))
    cfg = TrainConfig(arch="cnn", arch_options={"c1": 2, "c2": 2, "hidden": 4}, epochs=2,
                      batch_size=16, lr=0.01, warmup_epochs=0.0, augment=False)
    train(cfg, data, data, log=lambda _: None)
    assert sizes == [16, 17] * 2
    assert rates == [lr_at(step, 4, 0, 0.01) for step in range(4)]


def test_train_returns_the_best_validation_epochs_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted validation: epoch 3 ties epoch 2's accuracy at a lower loss, epoch 4 has
    the lowest loss but worse accuracy. train() must hand back epoch 3's weights."""
    scripted = iter([(0.9, 0.6), (0.5, 0.8), (0.4, 0.8), (0.3, 0.7)])  # (loss, acc)
    seen: list[dict[str, np.ndarray]] = []

    def fake_evaluate(net: Network, split: Split) -> tuple[float, float]:
        seen.append({k: v.copy() for k, v in net.arrays().items()})
        return next(scripted)

    monkeypatch.setattr("training.train.evaluate", fake_evaluate)
    images, labels = synthetic_digits(64, 2)
    data = Split(images.astype(np.float32) / 255, labels.astype(np.int64))
    cfg = TrainConfig(arch="seed", epochs=4, batch_size=16, optimizer="sgd", lr=0.1,
                      weight_decay=0.0, warmup_epochs=0.0, augment=False)
    net, history = train(cfg, data, data, log=lambda _: None)
    assert [r.val_acc for r in history] == [0.6, 0.8, 0.8, 0.7]
    for other in (1, 3):  # epoch 3's weights differ from its neighbours'
        assert not np.array_equal(seen[2]["1.W"], seen[other]["1.W"])
    final = net.arrays()
    assert final.keys() == seen[2].keys()
    for k, v in seen[2].items():
        np.testing.assert_array_equal(final[k], v, err_msg=k)


def test_temperature_fit_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4000, 10)) * 3
    probs = np.exp(logits / 2.5)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in probs])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)


def test_ece_is_zero_for_perfect_calibration_and_large_for_overconfidence() -> None:
    labels = np.arange(10).repeat(10)
    confident_right = np.eye(10)[labels]
    assert expected_calibration_error(confident_right, labels) == pytest.approx(0.0)
    wrong = np.eye(10)[(labels + 1) % 10]
    assert expected_calibration_error(wrong, labels) == pytest.approx(1.0)


def _confident_rows(confidence: list[float], predicted: list[int]) -> np.ndarray:
    """Probability rows whose top class is `predicted` with that `confidence`."""
    probs = np.repeat((1 - np.array(confidence))[:, None] / 9, 10, axis=1)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_ece_weights_each_bin_by_its_count() -> None:
    """Bin 0.9: 3 rows, 2 right, |2/3 - 0.9|; bin 0.5: 1 row, right, |1 - 0.5|.

    Weighted 3/4 * 0.2333 + 1/4 * 0.5 = 0.3; an unweighted mean over bins gives 0.3667,
    one unbinned |acc - conf| 0.05, a per-row mean 0.4.
    """
    probs = _confident_rows([0.9, 0.9, 0.9, 0.5], predicted=[0, 1, 2, 3])
    labels = np.array([0, 1, 5, 3])
    expected = 3 / 4 * abs(2 / 3 - 0.9) + 1 / 4 * abs(1 - 0.5)
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)
    assert expected == pytest.approx(0.3)


@pytest.mark.parametrize(("flags", "version"), [
    ([], "cnn-e20-s1"), (["--option", "dropout=0.4"], "cnn-e20-s1"),  # the recipe's value
    (["--epochs", "5", "--seed", "3"], "cnn-e5-s3"), (["--tiny"], "cnn-e2-s1-tiny"),
])
def test_a_run_of_the_recipe_is_named_by_arch_epochs_and_seed(flags: list[str],
                                                               version: str) -> None:
    args = parse_args(["train", "--data-dir", "d", "--out", "o", *flags])
    assert model_version(make_config(args), recipe_config(args), args.tiny) == version


def test_a_run_off_its_recipe_has_a_version_of_its_own() -> None:
    """`--option c1=32` was named cnn-e20-s1, as the shipped model: /health could not tell."""
    versions = set()
    for flags in (["--option", "c1=32"], ["--option", "c1=32", "--option", "c2=64"],
                  ["--lr", "0.001"], ["--no-augment"], ["--batch-size", "64"]):
        args = parse_args(["train", "--data-dir", "d", "--out", "o", *flags])
        versions.add(version := model_version(make_config(args), recipe_config(args), args.tiny))
        assert re.fullmatch(r"cnn-e20-s1-[0-9a-f]{6}", version), (flags, version)
    assert len(versions) == 5
