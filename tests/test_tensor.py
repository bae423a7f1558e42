"""Tensor API and the autograd tape: accumulation, broadcasting, no_grad, detach, dtypes, devices."""

import numpy as np
import pytest

import minigan as mg
from minigan import functional as F


def test_default_dtype_is_float32_and_float64_is_kept():
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor(np.arange(3.0)).dtype == np.float32
    x = mg.tensor([1.0, 2.0], dtype=mg.float64)
    assert (x * 3 + 1).dtype == np.float64
    assert mg.randn(2, 3, dtype=mg.float64, seed=0).exp().sum().dtype == np.float64


def test_gradient_accumulates_across_uses_of_a_tensor():
    x = mg.tensor([1.5, -2.0, 3.0], dtype=mg.float64, requires_grad=True)
    y = (x * x + x * 3.0 - x).sum()  # dy/dx = 2x + 2
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.5, -2.0, 3.0]) + 2)


def test_backward_twice_accumulates_into_grad():
    x = mg.tensor([2.0], dtype=mg.float64, requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0])


def test_broadcast_gradients_are_summed_back_to_the_input_shape(rng):
    a_np, b_np = rng.standard_normal((4, 1, 5)), rng.standard_normal((3, 1))
    a = mg.tensor(a_np, dtype=mg.float64, requires_grad=True)
    b = mg.tensor(b_np, dtype=mg.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1, 5) and b.grad.shape == (3, 1)
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b_np.sum(), (4, 1, 5)))
    np.testing.assert_allclose(b.grad.numpy(), np.full((3, 1), a_np.sum()))


def test_diamond_graph_visits_shared_node_once():
    x = mg.tensor([0.7], dtype=mg.float64, requires_grad=True)
    h = x.exp()
    y = (h * h + h).sum()  # dy/dx = (2 e^{2x} + e^x)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * np.exp(1.4) + np.exp(0.7)])


def test_no_grad_records_nothing_and_detach_cuts_the_graph():
    x = mg.randn(3, seed=1, requires_grad=True)
    with mg.no_grad():
        y = x * 2
    assert not y.requires_grad
    z = (x.detach() * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), x.numpy(), rtol=1e-6)


def test_backward_of_a_non_scalar_without_grad_is_a_clear_error():
    x = mg.randn(2, 3, seed=0, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element.*\(2, 3\)"):
        (x * 2).backward()
    (x * 2).backward(mg.ones(2, 3))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))


def test_mixed_dtypes_and_devices_are_rejected_with_op_and_shapes():
    a = mg.randn(2, 3, seed=0)
    b = mg.randn(2, 3, dtype=mg.float64, seed=0)
    with pytest.raises(TypeError, match=r"_?mul.*\(2, 3\) float32.*\(2, 3\) float64"):
        a * b
    c = mg.randn(2, 3, seed=0, device="cuda-sim")
    with pytest.raises(ValueError, match=r"add.*different devices.*cpu.*cuda-sim"):
        a + c


def test_indexing_reshape_permute_and_matmul_values():
    rng = np.random.default_rng(3)
    a_np = rng.standard_normal((2, 3, 5))
    a = mg.tensor(a_np, dtype=mg.float64)
    np.testing.assert_array_equal(a[1, :, ::2].numpy(), a_np[1, :, ::2])
    np.testing.assert_array_equal(a.permute(2, 0, 1).numpy(), a_np.transpose(2, 0, 1))
    np.testing.assert_array_equal(a.reshape(6, 5).numpy(), a_np.reshape(6, 5))
    np.testing.assert_allclose((a @ a.transpose(1, 2)).numpy(), a_np @ a_np.transpose(0, 2, 1))
    np.testing.assert_allclose(a.mean(axis=(0, 2)).numpy(), a_np.mean(axis=(0, 2)))


def test_repeated_integer_index_accumulates_its_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_seeded_constructors_repeat_and_devices_convert():
    np.testing.assert_array_equal(mg.randn(3, 4, seed=7).numpy(), mg.randn(3, 4, seed=7).numpy())
    x = mg.randn(3, seed=1)
    moved = x.to("cuda-sim")
    assert moved.device == "cuda-sim"
    np.testing.assert_array_equal(moved.to("cpu").numpy(), x.numpy())
    assert x.to(mg.float64).dtype == np.float64


def test_cuda_without_cupy_or_gpu_names_the_install_command(no_cuda_device):
    with pytest.raises(RuntimeError, match=r"pip install 'minigan\[cuda12\]'"):
        mg.zeros(2, device="cuda")


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.zeros(2, device="tpu")


def test_item_and_comparison():
    x = mg.tensor([[2.5]])
    assert x.item() == 2.5
    assert (mg.tensor([1.0, 3.0]) > 2).numpy().tolist() == [False, True]
    with pytest.raises(ValueError, match=r"item\(\).*\(2,\)"):
        mg.tensor([1.0, 2.0]).item()


def test_cat_gradient_splits_back():
    a = mg.randn(2, 3, dtype=mg.float64, seed=0, requires_grad=True)
    b = mg.randn(4, 3, dtype=mg.float64, seed=1, requires_grad=True)
    weights = mg.tensor(np.arange(18.0).reshape(6, 3), dtype=mg.float64)
    (F.cat([a, b], axis=0) * weights).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b.grad.numpy(), np.arange(6.0, 18.0).reshape(4, 3))
