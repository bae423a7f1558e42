"""Hand-written kernels: Numba CPU kernels (`<op>.py`) beside CUDA C kernels (`<op>.cu`) and their host code
(`<op>_cuda.py`, assembled into the CUDA kernel set by minigan.cuda_kernels). See docs/kernel_api.md.

This package is the Numba kernel set: it exports every function of the kernel API, plus the readable
direct convolutions and the im2col path alone. The kernels assume validated input (`minigan.functional`
checks shapes, dtypes and sizes first).
"""

from minigan.kernels.activations import (
    leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    tanh_backward, tanh_forward,
)
from minigan.kernels.batch_norm import (
    batch_norm_backward_eval, batch_norm_backward_train, batch_norm_forward_eval, batch_norm_forward_train,
    batch_norm_update_running,
)
from minigan.kernels.classification import (
    cross_entropy_backward, cross_entropy_forward, l1_backward, l1_forward, nll_backward, nll_forward,
)
from minigan.kernels.conv2d import (
    conv2d_backward_data, conv2d_backward_data_direct, conv2d_backward_data_im2col, conv2d_backward_weight,
    conv2d_backward_weight_direct, conv2d_backward_weight_im2col, conv2d_forward, conv2d_forward_direct,
    conv2d_forward_im2col,
)
from minigan.kernels.embedding import embedding_backward, embedding_forward
from minigan.kernels.losses import (
    bce_backward, bce_forward, bce_with_logits_backward, bce_with_logits_forward, kl_normal_backward,
    kl_normal_forward, mse_backward, mse_forward,
)
from minigan.kernels.optim import adam_step, sgd_step
from minigan.kernels.pooling import (
    max_pool2d_backward, max_pool2d_forward, max_unpool2d_backward, max_unpool2d_forward,
)
from minigan.kernels.rmsprop import rmsprop_step
from minigan.kernels.softplus import softplus_backward, softplus_forward
from minigan.kernels.upsample import upsample_nearest2d_backward, upsample_nearest2d_forward
