"""The `minigan` command: subcommands end to end on tiny runs, one-line errors for bad input, and
the first hour of a new user (existing runs, Ctrl-C, bad checkpoints, output names, small folders)."""

import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

import minigan.train.gan as gan_loop
from minigan import __version__
from minigan.checkpoint import load_checkpoint, save_checkpoint
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
    (["train", "gan", "--batch-size", "101"],
     "the data has 100 images, fewer than one batch of 101; use --batch-size 100 or less"),
    (["train", "vae", "--output-activation", "tanh"], "BCE"),
])
def test_bad_settings_give_one_line_error_and_status_1(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path), "--quiet"]) == 1
    line = _error_line(capsys)
    assert line.startswith("minigan: error: ") and message in line


@pytest.mark.parametrize("argv", [["train", "wgan"], ["train", "gan", "--steps", "2", "--epochs", "1"],
                                  ["train", "gan", "--steps", "0"], ["sample"],
                                  ["train", "gan", "--resume", "--overwrite"]])
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
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
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
    assert "for 1 step in" in capsys.readouterr().out  # only the step run by this process, from step 2 to 3
    assert main(["train", "gan", "--resume", "--out", run, "--lr", "0.5"]) == 1
    assert "cannot change lr" in _error_line(capsys)


def test_train_refuses_a_folder_holding_a_run_and_overwrite_clears_it(tmp_path, capsys):
    run = tmp_path / "run"
    gan = ["train", "gan", "--hidden", "8", "--out", str(run), "--sample-every", "1"] + TINY
    assert main(gan) == 0
    assert sorted(os.listdir(run / "samples")) == ["step_000001.png", "step_000002.png"]
    saved = (run / "checkpoint.npz").read_bytes()
    assert main(gan) == 1
    line = _error_line(capsys)
    assert line.startswith(f"minigan: error: {run} already holds a run")
    assert "--resume" in line and "--overwrite" in line
    assert (run / "checkpoint.npz").read_bytes() == saved
    (run / "notes.txt").write_text("the user's own file")
    assert main(gan + ["--overwrite", "--steps", "1"]) == 0
    assert os.listdir(run / "samples") == ["step_000001.png"] and (run / "notes.txt").is_file()
    assert load_checkpoint(str(run / "checkpoint.npz"))["step"] == 1


def test_ctrl_c_saves_the_step_reached_and_resume_continues_exactly(tmp_path, capsys, monkeypatch):
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    gan = ["train", "gan", "--hidden", "8", "--checkpoint-every", "100"] + TINY + ["--steps", "5"]
    assert main(gan + ["--out", full]) == 0
    original, calls = gan_loop.discriminator_loss, []

    def ctrl_c_in_step_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # before step 3 updates D: the step must still finish before the run stops
            signal.raise_signal(signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(gan_loop, "discriminator_loss", ctrl_c_in_step_3)
    assert main(gan + ["--out", cut]) == 130
    line = _error_line(capsys)
    assert "interrupted after step 3" in line
    assert line.endswith(f"continue with: minigan train gan --out {cut} --resume")
    assert load_checkpoint(os.path.join(cut, "checkpoint.npz"))["step"] == 3
    monkeypatch.undo()
    assert main(["train", "gan", "--out", cut, "--resume", "--quiet"]) == 0
    assert "for 2 steps in" in capsys.readouterr().out
    finished, resumed = (load_checkpoint(os.path.join(out, "checkpoint.npz")) for out in (full, cut))
    for name, value in finished["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value, err_msg=name)
    assert resumed["history"] == finished["history"] and resumed["rng"] == finished["rng"]


@pytest.mark.parametrize("command", ["sample", "reconstruct", "interpolate"])
def test_bad_checkpoint_gives_one_line_naming_the_file(command, bad_checkpoints, tmp_path, capsys):
    save_checkpoint(str(tmp_path / "weights.npz"), {"w": np.zeros(2)})
    cases = [*bad_checkpoints.values(), (str(tmp_path / "weights.npz"), "not one written by minigan train"),
             (str(tmp_path), "is a folder without a checkpoint.npz")]
    for path, reason in cases:
        assert main([command, "--checkpoint", path, "--out", str(tmp_path / "out.png")]) == 1
        line = _error_line(capsys)
        assert line.startswith(f"minigan: error: {path}") and reason in line


@pytest.mark.parametrize("command", ["sample", "reconstruct", "interpolate"])
def test_unknown_output_extension_says_which_work_before_loading(command, tmp_path, capsys):
    assert main([command, "--checkpoint", str(tmp_path / "missing"), "--out", "grid.jpgg"]) == 1
    line = _error_line(capsys)
    assert "cannot write grid.jpgg: unknown image extension '.jpgg'; use .png, .jpg" in line
    assert (".npy" in line) == (command == "sample")


def test_small_folder_suggests_batch_size_and_names_the_skipped_files(tmp_path, capsys):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"face{i}.png"), np.full((20, 20), 60 * i, np.uint8))
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not an image")
    assert main(["train", "gan", "--data", str(folder), "--out", str(tmp_path / "run")] + TINY) == 1
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("minigan: warning: skipped 2")]
    assert len(warnings) == 1 and "broken.png" in warnings[0] and "notes.txt" in warnings[0]
    assert ".py:" not in err and "Traceback" not in err
    assert err.splitlines()[-1] == ("minigan: error: the data has 3 images, fewer than one batch of 8; "
                                    "use --batch-size 3 or less")


def test_run_torch_runs_a_pytorch_script_and_names_what_is_missing(tmp_path):
    """A subprocess: the torch alias replaces `torch` in sys.modules, which must not leak into this process."""
    script = tmp_path / "train.py"
    script.write_text("import sys\nimport torch\nimport torch.nn as nn\n"
                      "layer = nn.Linear(3, 2)\nprint('shape', tuple(layer(torch.randn(4, 3)).shape), sys.argv[1:])\n"
                      "if sys.argv[1:] == ['--lstm']:\n    nn.LSTM(3, 4)\n")
    command = [sys.executable, "-m", "minigan.cli", "run-torch", str(script)]
    ok = subprocess.run(command + ["--steps", "2"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "shape (4, 2) ['--steps', '2']" in ok.stdout
    missing = subprocess.run(command + ["--lstm"], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == ["minigan: error: minigan does not support torch.nn.LSTM"]
    absent = subprocess.run(command[:-1] + [str(tmp_path / "nope.py")], capture_output=True, text=True, timeout=300)
    assert absent.returncode == 1 and "no script" in absent.stderr and "Traceback" not in absent.stderr
