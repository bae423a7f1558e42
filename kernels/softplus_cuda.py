"""Host side of ``kernels/softplus.cu``: softplus of docs/kernel_api.md on 'cuda' / 'cuda-sim'
(any shape; one thread per element, grid-stride)."""

from minigan.kernels.cuda_launch import CudaSource, Launcher

SOURCE = CudaSource("softplus", ("softplus_forward", "softplus_backward"))


class SoftplusCuda(Launcher):
    """softplus: forward and backward."""

    def softplus_forward(self, x, beta, threshold):
        """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold."""
        return self._elementwise("softplus_forward", SOURCE, {"x": x}, (beta, threshold))

    def softplus_backward(self, grad_y, x, beta, threshold):
        """grad_x = grad_y * sigmoid(beta x), and grad_y where beta x > threshold."""
        return self._elementwise("softplus_backward", SOURCE, {"grad_y": grad_y, "x": x}, (beta, threshold))
