"""Bad input raises ValueError/TypeError naming the op and the shapes."""

import numpy as np
import pytest

import minigan as mg
from minigan import functional as F


def x4(*shape, dtype=mg.float32, device="cpu"):
    return mg.randn(*shape, dtype=dtype, seed=0, device=device)


def ints(*shape, device="cpu"):
    """0, 1, 2, ... as an int64 tensor of `shape`."""
    return mg.tensor(np.arange(int(np.prod(shape))).reshape(shape), dtype=np.int64, device=device)


def leaf(*shape, device):
    """A float32 tensor that records its graph."""
    return x4(*shape, device=device).requires_grad_()


@pytest.mark.parametrize("call,error,pattern", [
    # wrong number of dimensions
    (lambda: F.conv2d(x4(3, 5, 7), x4(2, 3, 3, 3)), ValueError, r"conv2d: input must be 4-D, got shape \(3, 5, 7\)"),
    (lambda: F.conv2d(x4(1, 3, 5, 7), x4(2, 3, 3)), ValueError, r"conv2d: weight must be 4-D, got shape \(2, 3, 3\)"),
    (lambda: F.max_pool2d(x4(3, 5), 2), ValueError, r"max_pool2d: input must be 4-D, got shape \(3, 5\)"),
    (lambda: F.batch_norm(x4(5), None, None, training=True), ValueError, r"batch_norm: input must be .*\(5,\)"),
    # channel mismatch
    (lambda: F.conv2d(x4(1, 3, 5, 7), x4(2, 4, 3, 3)), ValueError,
     r"conv2d: input shape \(1, 3, 5, 7\) has 3 channels but weight shape \(2, 4, 3, 3\) expects 4"),
    (lambda: F.conv_transpose2d(x4(1, 3, 5, 7), x4(2, 4, 3, 3)), ValueError,
     r"conv_transpose2d: input shape \(1, 3, 5, 7\) has 3 channels but weight shape \(2, 4, 3, 3\) expects 2"),
    (lambda: F.conv2d(x4(1, 3, 5, 7), x4(2, 3, 3, 3), x4(3)), ValueError, r"conv2d: bias shape \(3,\)"),
    (lambda: F.linear(x4(4, 5), x4(3, 6)), ValueError, r"linear: input shape \(4, 5\) does not fit weight shape \(3, 6\)"),
    (lambda: F.batch_norm(x4(4, 3), x4(2), x4(2)), ValueError, r"batch_norm: running_mean shape \(2,\) .*\(4, 3\)"),
    (lambda: F.matmul(x4(2, 3), x4(4, 5)), ValueError, r"matmul: inner dimensions differ: shapes \(2, 3\) and \(4, 5\)"),
    (lambda: F.mse_loss(x4(2, 3), x4(3, 2)), ValueError, r"mse_loss: input shape \(2, 3\) and target shape \(3, 2\)"),
    (lambda: F.kl_normal(x4(2, 3), x4(2, 4)), ValueError, r"kl_normal: mu shape \(2, 3\) and logvar shape \(2, 4\)"),
    (lambda: F.cat([x4(2, 3), x4(2, 4)]), ValueError, r"cat: shapes \(2, 3\) and \(2, 4\) differ outside axis 0"),
    (lambda: x4(2, 3).reshape(4, 2), ValueError, r"reshape: cannot reshape tensor of shape \(2, 3\) into \(4, 2\)"),
    # mixed dtypes
    (lambda: F.conv2d(x4(1, 3, 5, 7), x4(2, 3, 3, 3, dtype=mg.float64)), TypeError,
     r"conv2d: inputs have different dtypes \(\(1, 3, 5, 7\) float32.*\(2, 3, 3, 3\) float64"),
    (lambda: F.binary_cross_entropy(x4(2, 3), x4(2, 3, dtype=mg.float64)), TypeError, r"binary_cross_entropy: inputs have different dtypes"),
    # mixed devices
    (lambda: F.linear(x4(4, 5), x4(3, 5).to("cuda-sim")), ValueError,
     r"linear: inputs are on different devices \(\(4, 5\) float32 on cpu, \(3, 5\) float32 on cuda-sim"),
    # kernel larger than the padded input
    (lambda: F.conv2d(x4(1, 1, 3, 9), x4(1, 1, 5, 5), padding=(0, 1)), ValueError,
     r"conv2d: kernel of weight shape \(1, 1, 5, 5\).*larger than the padded input of shape \(1, 1, 3, 9\)"),
    (lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), dilation=3), ValueError, r"conv2d: kernel .* larger"),
    (lambda: F.max_pool2d(x4(1, 1, 2, 5), 3), ValueError, r"max_pool2d: kernel_size \(3, 3\) is larger .*\(1, 1, 2, 5\)"),
    # non-positive stride, negative padding, bad output_padding, bad reduction
    (lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=0), ValueError, r"conv2d: stride must be >= 1, got 0"),
    (lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=(1, -2)), ValueError, r"conv2d: stride must be >= 1"),
    (lambda: F.conv_transpose2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=0), ValueError, r"conv_transpose2d: stride"),
    (lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), padding=-1), ValueError, r"conv2d: padding must be >= 0"),
    (lambda: F.max_pool2d(x4(1, 1, 5, 5), 2, stride=0), ValueError, r"max_pool2d: stride must be >= 1"),
    (lambda: F.conv_transpose2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than stride \(2, 2\)"),
    (lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=1.5), TypeError, r"conv2d: stride must be an int"),
    (lambda: F.mse_loss(x4(2, 3), x4(2, 3), reduction="avg"), ValueError, r"mse_loss: reduction must be one of"),
    (lambda: F.batch_norm(x4(1, 3), None, None, training=True), ValueError, r"batch_norm: expected more than 1 value"),
    # integer tensors where the kernels compute in floats; running statistics of another dtype
    (lambda: F.tanh(ints(2, 3)), TypeError, r"tanh: expected float32 or float64 tensors, got int64 of shape \(2, 3\)"),
    (lambda: F.relu(ints(2, 3)), TypeError, r"relu: expected float32 or float64"),
    (lambda: F.mse_loss(x4(2, 3), ints(2, 3)), TypeError, r"mse_loss: expected float32 or float64 tensors, got int64"),
    (lambda: F.conv2d(x4(1, 2, 5, 5), ints(3, 2, 3, 3)), TypeError, r"conv2d: expected float32 or float64"),
    (lambda: F.max_pool2d(ints(1, 2, 4, 4), 2), TypeError, r"max_pool2d: expected float32 or float64"),
    (lambda: F.batch_norm(x4(4, 3), x4(3, dtype=mg.float64), x4(3, dtype=mg.float64), training=True), TypeError,
     r"batch_norm: running_mean and running_var must have the input's dtype float32"),
    # unpooling indices outside the output plane
    (lambda: F.max_unpool2d(x4(1, 1, 2, 2), ints(1, 1, 2, 2) - 3, 2), ValueError,
     r"max_unpool2d: an index in indices lies outside \[0, 16\)"),
    (lambda: F.max_unpool2d(x4(1, 1, 2, 2), ints(1, 1, 2, 2) + 13, 2), ValueError, r"max_unpool2d: an index .* outside"),
])
def test_bad_input_is_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("call,error,pattern", [
    # the kernels assume valid input (docs/kernel_api.md): functional's checks guard every kernel set
    (lambda d: F.relu(ints(2, 3, device=d)), TypeError, r"relu: expected float32 or float64"),
    (lambda d: F.mse_loss(x4(3, 5, device=d), x4(3, 5, device=d), reduction="avg"), ValueError,
     r"mse_loss: reduction must be one of"),
    (lambda d: F.conv2d(x4(1, 3, 5, 7, device=d), x4(2, 4, 3, 3, device=d)), ValueError,
     r"conv2d: input shape \(1, 3, 5, 7\) has 3 channels but weight shape \(2, 4, 3, 3\) expects 4"),
    (lambda d: F.conv2d(x4(1, 3, 5, 7, device=d), x4(2, 3, 3, 3, device=d), x4(3, device=d)), ValueError,
     r"conv2d: bias shape \(3,\) does not match weight shape \(2, 3, 3, 3\)"),
    (lambda d: F.batch_norm(x4(1, 3, device=d), None, None, training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel"),
    (lambda d: F.max_unpool2d(x4(1, 1, 2, 2, device=d), ints(1, 1, 2, 2, device=d) + 13, 2), ValueError,
     r"max_unpool2d: an index in indices lies outside \[0, 16\)"),
    (lambda d: F.tanh(leaf(3, 4, device=d)).backward(mg.ones(4, 3, device=d)), ValueError,
     r"grad_outputs\[0\] has shape \(4, 3\) but output 0 has shape \(3, 4\)"),
    (lambda d: F.binary_cross_entropy(F.sigmoid(leaf(3, 5, device=d)), mg.ones(3, 5, device=d)).backward(
        mg.ones(3, 5, device=d)), ValueError, r"grad_outputs\[0\] has shape \(3, 5\) but output 0 has shape \(\)"),
    # unpooling indices of a float dtype; running statistics that training cannot update in place
    (lambda d: F.max_unpool2d(x4(1, 1, 2, 2, device=d), mg.zeros(1, 1, 2, 2, device=d), 2), TypeError,
     r"max_unpool2d: indices must hold integer indices \(int64\), got dtype float32"),
    (lambda d: F.batch_norm(x4(4, 3, device=d), mg.zeros(6, device=d)[::2], mg.ones(3, device=d), training=True),
     ValueError, r"batch_norm: running_mean of shape \(3,\) must be C-contiguous: training updates it in place"),
])
def test_bad_input_is_named_before_any_kernel_runs(device, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(device)


def test_layers_check_their_input_rank():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input, got shape \(2, 3\)"):
        mg.nn.BatchNorm2d(3)(x4(2, 3))


def test_optimizer_rejects_empty_parameters_and_negative_lr():
    with pytest.raises(ValueError, match="empty parameter list"):
        mg.optim.Adam([])
    with pytest.raises(ValueError, match="invalid learning rate"):
        mg.optim.SGD(mg.nn.Linear(2, 2).parameters(), lr=-1.0)


def test_optimizer_rejects_a_parameter_it_cannot_update_in_place(device):
    p = mg.nn.Parameter(mg.zeros(3, 4, device=device))
    p.data = mg.tensor(np.ones((4, 3), dtype=np.float32).T, device=device)      # a transposed, non-contiguous view
    p.grad = mg.ones(3, 4, device=device)
    with pytest.raises(ValueError, match=r"SGD.step: parameter 0 \(3, 4\) is not C-contiguous"):
        mg.optim.SGD([p], lr=0.1).step()


@pytest.mark.parametrize("optimizer,grad,error,pattern", [
    (mg.optim.SGD, lambda d: mg.ones(4, 3, device=d), ValueError,
     r"SGD.step: parameter 1 has shape \(3, 4\) but its grad has shape \(4, 3\)"),
    (mg.optim.Adam, lambda d: mg.ones(12, device=d), ValueError,
     r"Adam.step: parameter 1 has shape \(3, 4\) but its grad has shape \(12,\)"),
    (mg.optim.RMSprop, lambda d: mg.ones(3, 4, dtype=mg.float64, device=d), TypeError,
     r"RMSprop.step: parameter 1 is float32 but its grad is float64"),
])
def test_optimizer_rejects_a_gradient_unlike_its_parameter(device, optimizer, grad, error, pattern):
    params = [mg.nn.Parameter(mg.zeros(2, device=device)), mg.nn.Parameter(mg.zeros(3, 4, device=device))]
    params[1].grad = grad(device)
    with pytest.raises(error, match=pattern):
        optimizer(params, lr=0.1).step()


def test_optimizer_state_must_fit_its_parameters():
    p = mg.nn.Parameter(mg.zeros(3))
    p.grad = mg.ones(3)
    adam = mg.optim.Adam([p])
    adam.step()
    other = mg.optim.Adam([mg.nn.Parameter(mg.zeros(4))])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state 'exp_avg' of parameter 0 has shape \(3,\), "
                                         r"the parameter \(4,\)"):
        other.load_state_dict(adam.state_dict())


def test_gradients_only_for_floats():
    with pytest.raises(TypeError, match="only floating tensors"):
        mg.tensor(np.arange(3), dtype=np.int64, requires_grad=True)
