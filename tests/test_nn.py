"""Modules: registration, state_dict round-trip, train/eval behaviour of batch norm, placement."""

import numpy as np
import pytest

import minigan as mg
from minigan import nn


def small_net(seed):
    mg.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(4 * 4 * 3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 1), nn.Sigmoid())


def test_parameters_are_listed_in_registration_order_with_dotted_names():
    net = small_net(0)
    names = [name for name, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias", "5.weight", "5.bias",
                     "7.weight", "7.bias"]
    assert [name for name, _ in net.named_buffers()] == ["1.running_mean", "1.running_var", "5.running_mean",
                                                         "5.running_var"]
    assert net.num_parameters() == 4 * 3 * 9 + 4 + 8 + 5 * 48 + 5 + 10 + 5 + 1


def test_state_dict_round_trip_reproduces_outputs():
    x = mg.randn(3, 3, 7, 5, seed=1)
    source, target = small_net(0), small_net(1)
    source(x)  # move the running stats away from their initial values
    source.eval(), target.eval()
    assert not np.allclose(source(x).numpy(), target(x).numpy())
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())


def test_load_state_dict_names_missing_keys_and_wrong_shapes():
    net = small_net(0)
    state = net.state_dict()
    del state["0.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['0.bias'\]"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["4.weight"] = np.zeros((5, 47), dtype=np.float32)
    with pytest.raises(ValueError, match=r"4.weight has shape \(5, 47\) in the state but \(5, 48\)"):
        net.load_state_dict(state)


def test_batch_norm_train_uses_batch_stats_and_updates_running_stats_eval_uses_them(rng):
    x_np = rng.normal(2.0, 3.0, (6, 3, 5, 7))
    bn = nn.BatchNorm2d(3, momentum=0.3, dtype=mg.float64)
    y = bn(mg.tensor(x_np, dtype=mg.float64)).numpy()
    mean, var = x_np.mean(axis=(0, 2, 3)), x_np.var(axis=(0, 2, 3))
    expected = (x_np - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    n = 6 * 5 * 7
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.7 + 0.3 * var * n / (n - 1), rtol=1e-12)

    bn.eval()
    y_eval = bn(mg.tensor(x_np, dtype=mg.float64)).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(y_eval, (x_np - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5),
                               rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm)  # eval does not update


def test_train_and_eval_switch_every_submodule():
    net = small_net(0).eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_dtype_and_device_keep_parameter_identity_for_optimizers():
    net = small_net(0)
    params = net.parameters()
    net.to(mg.float64).to("cuda-sim")
    assert all(p.dtype == np.float64 and p.device == "cuda-sim" for p in net.parameters())
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert net.to("cpu") is net


def test_zero_grad_clears_gradients():
    net = small_net(0)
    net(mg.randn(2, 3, 7, 5, seed=0)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_unflatten_and_pool_layers_shapes():
    x = mg.randn(2, 12, seed=0)
    assert nn.Unflatten(1, (3, 2, 2))(x).shape == (2, 3, 2, 2)
    with pytest.raises(ValueError, match=r"Unflatten: cannot split dimension 1 of shape \(2, 12\)"):
        nn.Unflatten(1, (5, 2))(x)
    image = mg.randn(2, 3, 6, 9, seed=1)
    pooled, indices = nn.MaxPool2d(3, return_indices=True)(image)
    restored = nn.MaxUnpool2d(3)(pooled, indices)
    assert pooled.shape == (2, 3, 2, 3) and restored.shape == (2, 3, 6, 9)
    # every kept value sits at its argmax and equals the window maximum
    windows = image.numpy().reshape(2, 3, 2, 3, 3, 3).max(axis=(3, 5))
    np.testing.assert_array_equal(pooled.numpy(), windows)
    assert np.count_nonzero(restored.numpy()) == pooled.numel()


def test_default_init_bounds_and_dcgan_init():
    mg.manual_seed(0)
    layer = nn.Conv2d(8, 16, 3)
    bound = 1 / np.sqrt(8 * 9)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    model = nn.Sequential(nn.ConvTranspose2d(64, 32, 4), nn.BatchNorm2d(32))
    nn.init.dcgan_init_(model, generator=np.random.default_rng(0))
    conv_w = model[0].weight.numpy()
    assert abs(conv_w.std() - 0.02) < 0.001 and abs(conv_w.mean()) < 0.001
    assert np.all(model[0].bias.numpy() == 0) and abs(model[1].weight.numpy().mean() - 1) < 0.02


def test_seed_makes_initialisation_repeatable():
    a, b = small_net(3), small_net(3)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
