"""npz checkpoints: round trip from every device, no pickle, atomic replacement, clear errors for bad files."""

import os

import numpy as np
import pytest

import minigan as mg
from minigan.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_of_nested_state_with_rng(tmp_path, rng, device):
    rng.standard_normal(3)
    state = {"model": {"w": np.arange(6.0).reshape(2, 3), "b": mg.tensor([1.0, 2.0], device=device)},
             "optim": {"state": {0: {"step": 3, "m": np.ones(2, np.float32)}}, "betas": (0.5, 0.999)},
             "rng": rng.bit_generator.state, "step": 12, "name": "dcgan", "nothing": None}
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded["model"]["w"], state["model"]["w"])
    np.testing.assert_array_equal(loaded["model"]["b"], [1.0, 2.0])
    assert loaded["optim"]["state"]["0"]["step"] == 3 and loaded["optim"]["state"]["0"]["m"].dtype == np.float32
    assert loaded["optim"]["betas"] == [0.5, 0.999]
    assert (loaded["step"], loaded["name"], loaded["nothing"]) == (12, "dcgan", None)
    restored = np.random.default_rng()
    restored.bit_generator.state = loaded["rng"]
    np.testing.assert_array_equal(restored.standard_normal(4), rng.standard_normal(4))


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {"w": np.zeros(3)})
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, {"w": np.ones(2)})
    with pytest.raises(TypeError, match="object"):
        save_checkpoint(path, {"w": object()})
    np.testing.assert_array_equal(load_checkpoint(path)["w"], [1.0, 1.0])
    assert os.listdir(tmp_path) == ["c.npz"]


def test_load_errors_name_the_file_and_what_is_wrong(tmp_path, bad_checkpoints):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_checkpoint(str(tmp_path / "missing.npz"))
    for kind, (path, reason) in bad_checkpoints.items():
        with pytest.raises(ValueError) as error:
            load_checkpoint(path)
        assert str(error.value).startswith(path) and reason in str(error.value), kind
