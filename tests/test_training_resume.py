"""Checkpoint and --resume: an interrupted run goes on to the uninterrupted run's model.

Runs are tiny ones (synthetic digits, `data_dir`) through the CLI's `main`, stopped by a
Ctrl-C (KeyboardInterrupt) raised from the progress callback after an epoch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from digitnet.modelfile import npz_bytes, sha256_hex, shapes_of
from digitnet.optim import SGD, Adam
from test_idx import write_split
from test_training import synthetic_digits

from training import checkpoint, cli
from training.cli import main
from training.idx import Split
from training.outdir import check_out
from training.recipes import RECIPES, arch_options
from training.train import EpochRecord, TrainState, train

ARCHS = ["cnn", "mlp", "seed"]  # Adam + BatchNorm + Dropout; two Dropouts, one generator; SGD


def _args(data_dir: Path, out: Path, arch: str, *flags: str) -> list[str]:
    return ["train", "--data-dir", str(data_dir), "--arch", arch, "--tiny", "--epochs", "3",
            "--out", str(out), *flags]


def _stop_after(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """Ctrl-C as the progress hears that `epoch` is done (its checkpoint is saved by then)."""
    done = cli.Progress.epoch_done

    def stop(progress: cli.Progress, record: EpochRecord) -> None:
        done(progress, record)
        if record.epoch == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.Progress, "epoch_done", stop)


def _interrupted(data_dir: Path, out: Path, arch: str, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture, epoch: int = 1) -> str:
    """Run, stopped after `epoch`: what it said on stderr."""
    with monkeypatch.context() as m:
        _stop_after(m, epoch)
        assert main(_args(data_dir, out, arch)) == 130
    return capsys.readouterr().err


def _weights(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "model.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _without_timings(out: Path) -> dict[str, Any]:
    manifest = json.loads((out / "manifest.json").read_text())
    training = manifest.pop("training")
    del manifest["metrics"]["train_seconds"]
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in training["history"]]
    return {**manifest, "history": history, "config": training["config"]}


@pytest.fixture(scope="module")
def straight(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each architecture's run, uninterrupted."""
    runs = {}
    for arch in ARCHS:
        runs[arch] = tmp_path_factory.mktemp(f"straight-{arch}") / "model"
        assert main(_args(data_dir, runs[arch], arch)) == 0
    return runs


@pytest.mark.parametrize("arch", ARCHS)
def test_a_resumed_run_gives_the_uninterrupted_runs_model(
        arch: str, straight: dict[str, Path], data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Stopped after epoch 1 of 3, resumed: the same weights, bit for bit, and the same
    metrics and history but for the timings."""
    capsys.readouterr()
    out = tmp_path / "model"
    err = _interrupted(data_dir, out, arch, monkeypatch, capsys)
    assert err == (f"interrupted at epoch 2 of 3; no new model written to {out}; its checkpoint "
                   "after epoch 1 of 3 is kept: --resume continues from there\n")
    assert main(_args(data_dir, out, arch, "--resume")) == 0
    said = capsys.readouterr().out
    assert "--resume: continuing from the checkpoint after epoch 1 of 3" in said
    assert re.findall(r"^epoch +(\d)/3", said, re.MULTILINE) == ["2", "3"]
    expected, got = _weights(straight[arch]), _weights(out)
    assert got.keys() == expected.keys()
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
    assert _without_timings(out) == _without_timings(straight[arch])
    assert not (out / ".checkpoint").exists()


def test_each_epoch_is_saved_and_the_checkpoint_goes_once_the_model_is_in(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "model"
    saved: list[tuple[int, list[str]]] = []
    done = cli.Progress.epoch_done

    def look(progress: cli.Progress, record: EpochRecord) -> None:
        about = json.loads((out / ".checkpoint" / "checkpoint.json").read_text())
        saved.append((about["epoch"], sorted(p.name for p in (out / ".checkpoint").iterdir())))
        done(progress, record)

    monkeypatch.setattr(cli.Progress, "epoch_done", look)
    assert main(_args(data_dir, out, "seed")) == 0
    assert saved == [(e, ["checkpoint.json", f"epoch-00{e}.npz"]) for e in (1, 2, 3)]
    assert not (out / ".checkpoint").exists()
    assert (out / "model.npz").is_file()


@pytest.mark.parametrize(("flags", "differs"), [
    (["--lr", "0.5"], "config.lr 0.1 (now 0.5)"),
    (["--epochs", "4"], "config.epochs 3 (now 4)"),
    (["--seed", "2"], "config.seed 1 (now 2)"),
    (["--val-size", "200"], "val_size 300 (now 200)"),
])
def test_resuming_with_other_settings_is_refused_in_one_line(
        flags: list[str], differs: str, data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model"
    _interrupted(data_dir, out, "seed", monkeypatch, capsys)
    before = (out / ".checkpoint" / "checkpoint.json").read_text()
    assert main(_args(data_dir, out, "seed", "--resume", *flags)) == 1  # the last --epochs
    assert capsys.readouterr().err == (
        f"error: --resume: the checkpoint in {out / '.checkpoint'} is of a run with other "
        f"settings: {differs}; resume it with the same arguments, or start again with "
        "--restart instead of --resume\n")
    assert (out / ".checkpoint" / "checkpoint.json").read_text() == before


def test_resuming_on_other_data_is_refused(data_dir: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model"
    _interrupted(data_dir, out, "seed", monkeypatch, capsys)
    other = tmp_path / "other-mnist"
    other.mkdir()
    write_split(other, *synthetic_digits(1600, 5), gz=True, split="train")
    write_split(other, *synthetic_digits(1000, 1), gz=True, split="t10k")
    assert main(_args(other, out, "seed", "--resume")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is of a run with other settings: data_sha256.train-images-idx3-ubyte.gz" in err
    assert "split_labels_sha256" in err


@pytest.mark.parametrize("damage", ["arrays", "json", "missing arrays"])
def test_a_damaged_checkpoint_is_refused_in_one_line(
        damage: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model"
    _interrupted(data_dir, out, "seed", monkeypatch, capsys)
    arrays, about = out / ".checkpoint" / "epoch-001.npz", out / ".checkpoint" / "checkpoint.json"
    if damage == "arrays":  # one byte of a weight flipped
        data = bytearray(arrays.read_bytes())
        data[len(data) // 2] ^= 1
        arrays.write_bytes(bytes(data))
    elif damage == "json":
        about.write_text(about.read_text()[:100])  # cut short
    else:
        arrays.unlink()
    assert main(_args(data_dir, out, "seed", "--resume")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint ")
    assert err.count("\n") == 1
    assert {"arrays": "is corrupt: checksum mismatch", "json": "is unreadable",
            "missing arrays": "is corrupt: missing weights file"}[damage] in err
    if damage == "json":  # without --resume: named as unreadable, not a traceback either
        assert main(_args(data_dir, out, "seed")) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {out} holds a checkpoint of an interrupted run "
                              "(checkpoint ")
        assert err.count("unreadable") == 1


def _rewrite_arrays(directory: Path, change: Any) -> None:
    """Change a checkpoint's arrays and write their new sha256 in checkpoint.json, as a tool
    that rewrote them would: what the checksum cannot catch."""
    about = json.loads((directory / "checkpoint.json").read_text())
    path = directory / about["arrays_file"]
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    path.write_bytes(data := npz_bytes(arrays))
    about["arrays_sha256"] = sha256_hex(data)
    (directory / "checkpoint.json").write_text(json.dumps(about))


def _rewrite_about(directory: Path, change: Any) -> None:
    about = json.loads((directory / "checkpoint.json").read_text())
    change(about)
    (directory / "checkpoint.json").write_text(json.dumps(about))


@pytest.mark.parametrize(("arch", "damage", "said"), [
    # resumed with exit code 0, the first moment silently restarted at zero
    ("mlp", lambda d: _rewrite_arrays(d, lambda a: a.pop("opt:m.0")),
     "its opt arrays are not the optimiser's: the file is missing ['m.0']"),
    # a ValueError traceback, once the data was read
    ("mlp", lambda d: _rewrite_arrays(d, lambda a: a.update({"opt:m.0": np.zeros(3, "f4")})),
     "its opt arrays are not the optimiser's: shape mismatch for m.0: the optimiser has "
     "[784, 800], the file [3]"),
    ("seed", lambda d: _rewrite_arrays(d, lambda a: a.pop("opt:velocity.3")),
     "its opt arrays are not the optimiser's: the file is missing ['velocity.3']"),
    ("seed", lambda d: _rewrite_arrays(d, lambda a: a.update({"opt:t": np.array(1)})),
     "its opt arrays are not the optimiser's: the optimiser has no ['t']"),
    # resumed, to train on from NaN until the epoch's end called it diverged
    ("seed", lambda d: _rewrite_arrays(d, lambda a: a["net:1.W"].__setitem__((0, 0), np.nan)),
     "its net arrays: arrays must be finite: NaN or infinity in 1.W"),
    ("seed", lambda d: _rewrite_arrays(
        d, lambda a: a.update({"best:1.b": a["best:1.b"].astype("f8")})),
     "its best arrays: arrays must be float32: 1.b (float64)"),
    # a traceback, once the data was read
    ("seed", lambda d: _rewrite_about(d, lambda a: a.update(best="ab")),
     "best must be [val_acc, -val_loss], two numbers, got 'ab'"),
    # compared with each epoch's (val_acc, -val_loss): a TypeError at a tie
    ("seed", lambda d: _rewrite_about(d, lambda a: a.update(best=[0.5, None])),
     "best must be [val_acc, -val_loss], two numbers, got [0.5, None]"),
])
def test_a_checkpoint_that_does_not_fit_its_run_is_refused_in_one_line(
        arch: str, damage: Any, said: str, data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Its checksum right (re-computed), what it holds not this run's: refused before the
    data is read."""
    out = tmp_path / "model"
    _interrupted(data_dir, out, arch, monkeypatch, capsys)
    damage(out / ".checkpoint")
    with monkeypatch.context() as m:
        m.setattr(cli, "load_split", lambda *_: pytest.fail("data read before the refusal"))
        assert main(_args(data_dir, out, arch, "--resume")) == 1
    assert capsys.readouterr().err == (f"error: checkpoint {out / '.checkpoint'} does not fit "
                                       f"this run: {said}\n")


def test_a_checkpoint_is_not_thrown_away_without_resume_or_restart(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Refused before any data is read, --overwrite (the model's) or not; --restart starts
    again, saying so, and its first checkpoint replaces the old one."""
    out = tmp_path / "model"
    _interrupted(data_dir, out, "seed", monkeypatch, capsys, epoch=2)
    with monkeypatch.context() as m:
        m.setattr(cli, "load_split", lambda *_: pytest.fail("data read before the refusal"))
        for flags in ([], ["--overwrite"]):
            assert main(_args(data_dir, out, "seed", *flags)) == 1
            assert capsys.readouterr().err == (
                f"error: --out {out} holds a checkpoint of an interrupted run at epoch 2/3: "
                "--resume to continue it, or --restart to start again\n")
    assert check_out(out, overwrite=False) is None  # a checkpoint is not a model
    _stop_after(monkeypatch, 1)
    assert main(_args(data_dir, out, "seed", "--restart")) == 130
    said = capsys.readouterr().out.splitlines()[0]
    assert said == (f"--restart: {out} holds the checkpoint of an interrupted run at epoch "
                    "2/3; this run starts again, its first checkpoint replaces it")
    assert sorted(p.name for p in (out / ".checkpoint").iterdir()) == [
        "checkpoint.json", "epoch-001.npz"]


def test_resume_without_a_checkpoint_is_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    assert main(_args(tmp_path, tmp_path / "model", "seed", "--resume")) == 1
    assert capsys.readouterr().err == (f"error: --resume: --out {tmp_path / 'model'} holds no "
                                       "checkpoint to resume from\n")


def test_a_checkpoint_naming_arrays_outside_its_folder_is_refused(tmp_path: Path) -> None:
    """checkpoint.json names a file in .checkpoint/, as the manifest's weights_file is a
    file in the model's folder: '../' would read whatever file the sha256 fits."""
    directory, outside = tmp_path / ".checkpoint", tmp_path / "epoch-001.npz"
    directory.mkdir()
    outside.write_bytes(data := npz_bytes({"net:0.W": np.zeros(2, np.float32)}))
    (directory / "checkpoint.json").write_text(json.dumps({
        "format_version": checkpoint.FORMAT_VERSION, "epoch": 1, "epochs": 3,
        "arrays_file": "../epoch-001.npz", "arrays_sha256": sha256_hex(data)}))
    with pytest.raises(checkpoint.CheckpointError, match="names no arrays file"):
        checkpoint.load_checkpoint(directory)


@pytest.mark.parametrize("version", [checkpoint.FORMAT_VERSION + 1, None])
def test_a_checkpoint_of_another_format_is_refused(tmp_path: Path, version: Any) -> None:
    """A checkpoint.json of another format (a later code's, or none said) is named as such,
    not resumed as if its fields meant what this code's do."""
    (tmp_path / "checkpoint.json").write_text(json.dumps({
        "format_version": version, "epoch": 1, "epochs": 3}))
    with pytest.raises(checkpoint.CheckpointError, match="is not a format-1 checkpoint"):
        checkpoint.read_about(tmp_path)
    assert "is not a format-1 checkpoint" in checkpoint.describe_checkpoint(tmp_path)


def test_a_save_stopped_half_way_leaves_the_previous_checkpoint_whole(
        straight: dict[str, Path], data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A Ctrl-C after epoch 2's arrays are written, before its JSON: the epoch 1 checkpoint
    is the one there, whole, and resumes to the same model."""
    out = tmp_path / "model"
    write = checkpoint._write_synced

    def stopped(path: Path, data: bytes) -> None:
        if path.name == checkpoint.STATE_FILE and b'"epoch": 2' in data:
            raise KeyboardInterrupt
        write(path, data)

    with monkeypatch.context() as m:
        m.setattr(checkpoint, "_write_synced", stopped)
        assert main(_args(data_dir, out, "seed")) == 130
    assert capsys.readouterr().err.endswith("its checkpoint after epoch 1 of 3 is kept: "
                                            "--resume continues from there\n")
    assert sorted(p.name for p in (out / ".checkpoint").iterdir()) == [
        "checkpoint.json", "epoch-001.npz"]
    assert main(_args(data_dir, out, "seed", "--resume")) == 0
    assert (out / "model.npz").read_bytes() == (straight["seed"] / "model.npz").read_bytes()


def test_a_crash_between_the_moves_of_a_save_leaves_a_checkpoint_that_resumes(
        straight: dict[str, Path], data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine going away after epoch 2's first file moves in: the JSON moves last, so
    the one there still names epoch 1's arrays, which are still there."""
    out = tmp_path / "model"
    real_replace, moves = os.replace, []

    def replace(a: Path, b: Path) -> None:
        real_replace(a, b)
        moves.append(Path(b).name)
        if len(moves) == 3:  # epoch 1's two, then epoch 2's first
            raise RuntimeError("the machine went away")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        with pytest.raises(RuntimeError, match="went away"):
            main(_args(data_dir, out, "seed"))
    assert moves == ["epoch-001.npz", "checkpoint.json", "epoch-002.npz"]
    assert checkpoint.load_checkpoint(out / ".checkpoint").epoch == 1
    assert main(_args(data_dir, out, "seed", "--resume")) == 0
    assert (out / "model.npz").read_bytes() == (straight["seed"] / "model.npz").read_bytes()


def test_a_run_that_diverges_leaves_no_checkpoint(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resuming it could only diverge again; the folders made for it go too."""
    losses = iter([(0.5, 0.9), (float("nan"), 0.1)])
    monkeypatch.setattr("training.train.evaluate", lambda *_: next(losses))
    out = tmp_path / "new" / "model"
    assert main(_args(data_dir, out, "seed")) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_diverges_leaves_another_runs_checkpoint(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """--restart over a checkpoint, diverging before saving its own: the old one stays (it
    is replaced only by the new run's first)."""
    out = tmp_path / "model"
    _interrupted(data_dir, out, "seed", monkeypatch, capsys, epoch=2)
    losses = iter([(float("nan"), 0.1)])
    monkeypatch.setattr("training.train.evaluate", lambda *_: next(losses))
    assert main(_args(data_dir, out, "seed", "--restart")) == 1
    assert checkpoint.load_checkpoint(out / ".checkpoint").epoch == 2


def test_a_checkpoint_that_cannot_be_saved_is_said_once_and_training_goes_on(
        straight: dict[str, Path], data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A full disk at epoch 2's save: one warning line, no traceback, the model written
    (the same), no more saves tried; a Ctrl-C after it names the epoch 1 checkpoint."""
    out = tmp_path / "model"
    write, tried = checkpoint._write_synced, []

    def full(path: Path, data: bytes) -> None:
        tried.append(path.name)
        if len(tried) > 2:  # epoch 1's two files went in
            raise OSError(28, "No space left on device")
        write(path, data)

    monkeypatch.setattr(checkpoint, "_write_synced", full)
    assert main(_args(data_dir, out, "seed")) == 0
    err = capsys.readouterr().err
    assert err == (f"warning: cannot save the checkpoint in {out / '.checkpoint'} ([Errno 28] "
                   "No space left on device); training goes on without saving more (the one "
                   "after epoch 1 is kept)\n")
    assert tried == ["epoch-001.npz", "checkpoint.json", "epoch-002.npz"]
    assert (out / "model.npz").read_bytes() == (straight["seed"] / "model.npz").read_bytes()
    tried.clear()
    again = tmp_path / "again"
    _stop_after(monkeypatch, 3)
    assert main(_args(data_dir, again, "seed")) == 130
    assert capsys.readouterr().err.endswith("its checkpoint after epoch 1 of 3 is kept: "
                                            "--resume continues from there\n")


def test_saving_checkpoints_changes_nothing_in_training(tmp_path: Path) -> None:
    """Saving draws from no generator and changes no array: `make train` still gives the
    shipped weights."""
    images, labels = synthetic_digits(300, 3)
    data = Split(images.astype(np.float32) / 255, labels.astype(np.int64))
    cfg = replace(RECIPES["cnn"], epochs=2, arch_options=arch_options("cnn"))
    plain, _ = train(cfg, data, data, log=lambda _: None)

    def save(state: TrainState) -> None:
        checkpoint.save_checkpoint(tmp_path, state, epochs=2, run={}, commit=None)

    saving, _ = train(cfg, data, data, log=lambda _: None, checkpoint=save)
    assert checkpoint.load_checkpoint(tmp_path).epoch == 2
    for k, v in plain.arrays().items():
        np.testing.assert_array_equal(saving.arrays()[k], v, err_msg=k)


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9, weight_decay=0.1),
                                  lambda: Adam(0.01, weight_decay=0.1)])
def test_an_optimiser_from_its_state_steps_as_the_original(make: Any) -> None:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 2)).astype(np.float32),
               rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in weights]
             for _ in range(3)]
    original = make()
    original.step(list(zip(weights, grads[0], strict=True)))
    # what a checkpoint's optimiser arrays are checked against (checkpoint.restore_state)
    assert shapes_of(original.state()) == original.state_shapes([w.shape for w in weights])
    copy = make()
    copy.load_state(original.state())
    copied = [w.copy() for w in weights]
    for g in grads[1:]:
        original.step(list(zip(weights, g, strict=True)))
        copy.step(list(zip(copied, g, strict=True)))
    for a, b in zip(weights, copied, strict=True):
        np.testing.assert_array_equal(a, b)
    assert original.state().keys() == copy.state().keys()
