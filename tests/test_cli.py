"""The `minigan` command: subcommands end to end on tiny runs, and one-line errors for bad input."""

import numpy as np
import pytest

from minigan import __version__
from minigan.cli import main

TINY = ["--steps", "2", "--batch-size", "8", "--image-size", "16", "--n-eval", "8", "--quiet"]


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "dcgan", "--image-size", "24"], "image sizes 16, 32, 64, 128; got 24"),
    (["train", "dcgan", "--data", "/no/such/folder"], "/no/such/folder"),
    (["train", "gan", "--batch-size", "101"], "batch size 101 is larger than the dataset (100 images)"),
    (["train", "vae", "--output-activation", "tanh"], "BCE"),
])
def test_bad_settings_give_one_line_error_and_status_1(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path), "--quiet"]) == 1
    line = _error_line(capsys)
    assert line.startswith("minigan: error: ") and message in line


@pytest.mark.parametrize("argv", [["train", "wgan"], ["train", "gan", "--steps", "2", "--epochs", "1"],
                                  ["train", "gan", "--steps", "0"], ["sample"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "error:" in _error_line(capsys)


def test_resume_without_checkpoint(tmp_path, capsys):
    assert main(["train", "gan", "--resume", "--out", str(tmp_path / "empty")]) == 1
    assert "checkpoint not found" in _error_line(capsys)


def test_train_then_sample_npy_png_and_interpolate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--ngf", "4", "--ndf", "4", "--nz", "3", "--out", str(run)] + TINY) == 0
    checkpoint = str(run / "checkpoint.npz")
    assert main(["sample", "--checkpoint", checkpoint, "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (5, 1, 16, 16) and samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert main(["sample", "--checkpoint", checkpoint, "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["interpolate", "--checkpoint", checkpoint, "--frames", "4", "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "s.png").is_file() and (tmp_path / "i.png").is_file()
    assert main(["reconstruct", "--checkpoint", checkpoint]) == 1
    assert "no encoder" in _error_line(capsys)


def test_autoencoder_reconstruct_interpolate_and_no_sampling(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", "--hidden", "16", "--latent-dim", "2", "--out", str(run)] + TINY) == 0
    checkpoint = str(run / "checkpoint.npz")
    assert main(["reconstruct", "--checkpoint", checkpoint, "--n", "3", "--out", str(tmp_path / "r.png")]) == 0
    assert main(["interpolate", "--checkpoint", checkpoint, "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "r.png").is_file() and (tmp_path / "i.png").is_file()
    assert main(["sample", "--checkpoint", checkpoint]) == 1
    assert "no prior" in _error_line(capsys)


def test_resume_extends_a_run_and_rejects_changed_settings(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "gan", "--hidden", "8", "--out", run] + TINY) == 0
    assert main(["train", "gan", "--resume", "--out", run, "--steps", "3", "--quiet"]) == 0
    assert "for 3 steps" in capsys.readouterr().out
    assert main(["train", "gan", "--resume", "--out", run, "--lr", "0.5"]) == 1
    assert "cannot change lr" in _error_line(capsys)
