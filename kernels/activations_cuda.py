"""Host side of ``kernels/activations.cu``: the elementwise activations of docs/kernel_api.md on
'cuda' / 'cuda-sim' (any shape; one thread per element, grid-stride)."""

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("activations", ("relu_forward", "relu_backward", "leaky_relu_forward",
                                    "leaky_relu_backward", "tanh_forward", "tanh_backward",
                                    "sigmoid_forward", "sigmoid_backward"))


class ActivationsCuda(Launcher):
    """relu, leaky_relu, tanh, sigmoid: forward and backward."""

    def relu_forward(self, x):
        """y = max(x, 0)."""
        return self._elementwise("relu_forward", SOURCE, {"x": x})

    def relu_backward(self, grad_y, x):
        """grad_x = grad_y * [x > 0]."""
        return self._elementwise("relu_backward", SOURCE, {"grad_y": grad_y, "x": x})

    def leaky_relu_forward(self, x, negative_slope):
        """y = x if x > 0 else negative_slope * x."""
        return self._elementwise("leaky_relu_forward", SOURCE, {"x": x}, (negative_slope,))

    def leaky_relu_backward(self, grad_y, x, negative_slope):
        """grad_x = grad_y * (1 if x > 0 else negative_slope)."""
        return self._elementwise("leaky_relu_backward", SOURCE, {"grad_y": grad_y, "x": x},
                                 (negative_slope,))

    def tanh_forward(self, x):
        """y = tanh(x)."""
        return self._elementwise("tanh_forward", SOURCE, {"x": x})

    def tanh_backward(self, grad_y, y):
        """grad_x = grad_y * (1 - y^2), from the forward's output y."""
        return self._elementwise("tanh_backward", SOURCE, {"grad_y": grad_y, "y": y})

    def sigmoid_forward(self, x):
        """y = 1 / (1 + e^-x), exp taken of -|x| only."""
        return self._elementwise("sigmoid_forward", SOURCE, {"x": x})

    def sigmoid_backward(self, grad_y, y):
        """grad_x = grad_y * y * (1 - y), from the forward's output y."""
        return self._elementwise("sigmoid_backward", SOURCE, {"grad_y": grad_y, "y": y})
