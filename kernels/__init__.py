"""Hand-written kernels: Numba CPU kernels (`<op>.py`) beside CUDA C kernels (`<op>.cu`). See docs/kernel_api.md."""

import os

# Idle OpenMP workers of Numba's parallel loops sleep instead of spinning, so they do not steal
# the cores that OpenBLAS (the conv GEMMs) and other processes need next; measured here, spinning
# made the conv passes 2-5x and small elementwise kernels up to 20x slower. Read by the OpenMP
# runtime when it is loaded (when Numba first starts its threads), so it has no effect if another
# library loaded libgomp first (torch ships its own libgomp.so.1); an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from minigan.reference import KERNEL_API  # noqa: E402
from minigan.kernels.activations import (  # noqa: E402  (after the OpenMP setting above)
    leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    tanh_backward, tanh_forward,
)
from minigan.kernels.batch_norm import (  # noqa: E402
    batch_norm_backward_eval, batch_norm_backward_train, batch_norm_forward_eval, batch_norm_forward_train,
    batch_norm_update_running,
)
from minigan.kernels.conv2d import (  # noqa: E402
    conv2d_backward_data, conv2d_backward_data_direct, conv2d_backward_weight, conv2d_backward_weight_direct,
    conv2d_forward, conv2d_forward_direct,
)
from minigan.kernels.losses import (  # noqa: E402
    bce_backward, bce_forward, bce_with_logits_backward, bce_with_logits_forward, kl_normal_backward,
    kl_normal_forward, mse_backward, mse_forward,
)
from minigan.kernels.optim import adam_step, sgd_step  # noqa: E402
from minigan.kernels.pooling import (  # noqa: E402
    max_pool2d_backward, max_pool2d_forward, max_unpool2d_backward, max_unpool2d_forward,
)

__all__ = [  # the kernel API of docs/kernel_api.md, plus the readable direct convolutions
    *KERNEL_API, "conv2d_forward_direct", "conv2d_backward_data_direct", "conv2d_backward_weight_direct",
]
