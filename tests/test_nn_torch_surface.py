"""torch.nn / nn.init / optim names as PyTorch programs use them: module traversal and apply,
containers, torch's layer signatures, dropout, upsampling, embeddings, the losses, the
initialisers, RMSprop and parameter groups (against NumPy formulas, and PyTorch where installed)."""

import itertools
import math
from collections import OrderedDict

import numpy as np
import pytest

import minigan as mg
from minigan import functional as F
from minigan import nn, optim


def generator_net():
    return nn.Sequential(nn.ConvTranspose2d(4, 6, 3, 1, 0, bias=False), nn.BatchNorm2d(6), nn.ReLU(True),
                         nn.Sequential(nn.Conv2d(6, 2, 3, 1, 1), nn.Tanh()))


# ------------------------------------------------------------------ traversal and apply

def test_named_modules_children_and_apply_follow_torch():
    net = generator_net()
    assert [name for name, _ in net.named_modules()] == ["", "0", "1", "2", "3", "3.0", "3.1"]
    assert [name for name, _ in net.named_children()] == ["0", "1", "2", "3"]
    assert net.children()[3] is net[3] and len(net.modules()) == 7
    assert [name for name, _ in net.named_parameters()] == ["0.weight", "1.weight", "1.bias", "3.0.weight",
                                                            "3.0.bias"]
    visited = []
    assert net.apply(lambda m: visited.append(type(m).__name__)) is net
    assert visited == ["ConvTranspose2d", "BatchNorm2d", "ReLU", "Conv2d", "Tanh", "Sequential", "Sequential"]


def test_classname_weights_init_through_apply_and_data():
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            m.weight.data.normal_(0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    mg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64))
    weight = net[0].weight
    net.apply(weights_init)
    assert net[0].weight is weight and weight.requires_grad
    w = weight.numpy()
    assert abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
    assert abs(net[1].weight.numpy().mean() - 1) < 0.01 and np.all(net[1].bias.numpy() == 0)


def test_module_list_and_sequential_containers():
    layers = nn.ModuleList([nn.Linear(3, 4), nn.ReLU()])
    layers.append(nn.Linear(4, 2))
    assert len(layers) == 3 and isinstance(layers[-1], nn.Linear)
    assert [name for name, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 2
    with pytest.raises(TypeError, match="expected a Module"):
        layers.append(3)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 2)), ("act", nn.Sigmoid())]))
    assert [name for name, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    head = named[:1]
    assert isinstance(head, nn.Sequential) and head.fc is named.fc
    x = mg.randn(5, 3, seed=0)
    np.testing.assert_allclose(named(x).numpy(), F.sigmoid(named.fc(x)).numpy())
    assert nn.Identity(54, unused="x")(x) is x


# ------------------------------------------------------------------ torch's layer signatures

def test_torch_positional_signatures_and_refusals():
    conv = nn.Conv2d(3, 8, 4, 2, 1, bias=False)
    assert conv.bias is None and conv.weight.shape == (8, 3, 4, 4) and conv.options["stride"] == 2
    deconv = nn.ConvTranspose2d(8, 3, 4, 2, 1, 0, 1, False)                 # ..., output_padding, groups, bias
    assert deconv.bias is None and deconv(mg.randn(1, 8, 5, 5)).shape == (1, 3, 10, 10)
    assert nn.Linear(4, 2, False).bias is None
    with pytest.raises(NotImplementedError, match=r"torch.nn.Conv2d\(groups=2\)"):
        nn.Conv2d(4, 4, 3, 1, 1, 1, 2)
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        nn.Conv2d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(NotImplementedError, match="minigan does not support torch.nn.LSTM"):
        nn.LSTM
    x = mg.randn(3, 4, seed=1)
    for layer in (nn.LeakyReLU(0.2, True), nn.LeakyReLU(0.2, inplace=True)):
        np.testing.assert_array_equal(layer(x).numpy(), F.leaky_relu(x, 0.2).numpy())
    np.testing.assert_array_equal(nn.ReLU(True)(x).numpy(), np.maximum(x.numpy(), 0))


def test_batch_norm_eps_is_the_second_positional_argument(rng):
    x = rng.standard_normal((6, 3, 2, 2))
    bn = nn.BatchNorm2d(3, 0.8, dtype=mg.float64)
    assert bn.eps == 0.8 and bn.momentum == 0.1
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(bn(mg.tensor(x, dtype=mg.float64)).numpy(), (x - mean) / np.sqrt(var + 0.8),
                               rtol=1e-12)
    assert nn.BatchNorm1d(5, 1e-3, 0.5, False).weight is None


def test_dropout_layers_train_and_eval():
    x = mg.ones(50, 40)
    drop = nn.Dropout(0.25)
    mg.manual_seed(1)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    drop.eval()
    assert drop(x) is x
    channels = nn.Dropout2d(0.5, inplace=True)(mg.ones(8, 16, 3, 3)).numpy()
    assert set(np.unique(channels.reshape(8, 16, 9).std(axis=2))) == {0.0}
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_upsample_embedding_softplus_modules(rng):
    x = mg.tensor(rng.standard_normal((2, 3, 4, 5)))
    up = nn.Upsample(scale_factor=2)(x).numpy()
    np.testing.assert_array_equal(up, x.numpy().repeat(2, axis=2).repeat(2, axis=3))
    np.testing.assert_array_equal(nn.Upsample(size=(8, 15))(x).numpy(), x.numpy().repeat(2, 2).repeat(3, 3))
    with pytest.raises(NotImplementedError, match=r"Upsample\(mode='bilinear'\)"):
        nn.Upsample(scale_factor=2, mode="bilinear")
    mg.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert np.all(emb.weight.numpy()[0] == 0) and abs(emb.weight.numpy()[1:].std() - 1) < 0.5
    labels = mg.tensor([[1, 0, 9]], dtype=mg.int64)
    np.testing.assert_array_equal(emb(labels).numpy(), emb.weight.numpy()[[[1, 0, 9]]])
    np.testing.assert_allclose(nn.Softplus()(x).numpy(), np.logaddexp(0, x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(axis=1), 1, rtol=1e-6)


def test_loss_modules_and_legacy_reduction(rng):
    p = mg.tensor(rng.uniform(0.05, 0.95, (4, 3)))
    t = mg.tensor(rng.uniform(0, 1, (4, 3)))
    p64, t64 = p.numpy().astype(np.float64), t.numpy().astype(np.float64)
    bce = -(t64 * np.log(p64) + (1 - t64) * np.log(1 - p64))
    np.testing.assert_allclose(nn.BCELoss()(p, t).numpy(), bce.mean(), rtol=1e-6)
    np.testing.assert_allclose(nn.BCELoss(size_average=False)(p, t).numpy(), bce.sum(), rtol=1e-6)
    np.testing.assert_allclose(nn.MSELoss(reduction="sum")(p, t).numpy(), ((p64 - t64) ** 2).sum(), rtol=1e-6)
    np.testing.assert_allclose(nn.L1Loss()(p, t).numpy(), np.abs(p64 - t64).mean(), rtol=1e-6)
    logits, y = mg.tensor(rng.standard_normal((5, 4))), mg.tensor([0, 3, 1, 1, 2], dtype=np.int64)
    z = logits.numpy().astype(np.float64)
    ce = np.log(np.exp(z).sum(axis=1)) - z[np.arange(5), [0, 3, 1, 1, 2]]
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(logits, y).numpy(), ce, rtol=1e-5)
    np.testing.assert_allclose(nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), y).numpy(), ce.mean(), rtol=1e-5)
    with pytest.raises(NotImplementedError, match=r"torch.nn.BCELoss\(weight=...\)"):
        nn.BCELoss(weight=mg.ones(3))
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=0.1)


# ------------------------------------------------------------------ nn.init

def test_init_functions_follow_the_formulas():
    mg.manual_seed(0)
    w = mg.zeros(256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    assert nn.init.xavier_uniform_(w, gain=2.0) is w
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.xavier_normal_(w.data)                                   # .data writes into w
    assert abs(w.numpy().std() - math.sqrt(2 / (fan_in + fan_out))) < 1e-3
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() / math.sqrt(2 / fan_out) - 1) < 0.01
    nn.init.kaiming_uniform_(w, a=0.2)
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 0.04)) / math.sqrt(fan_in)
    assert np.abs(w.numpy()).max() <= bound * (1 + 1e-6) and np.abs(w.numpy()).max() > 0.99 * bound
    assert nn.init.ones_(w) is w and np.all(w.numpy() == 1)
    mg.manual_seed(5)
    a = nn.init.uniform_(mg.zeros(3, 4), -1, 1).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(nn.init.uniform_(mg.zeros(3, 4), -1, 1).numpy(), a)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(mg.zeros(5))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")


def test_calculate_gain_and_default_init_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    mg.manual_seed(0)
    ours = nn.ConvTranspose2d(3, 16, 4).weight.numpy()
    theirs = torch.nn.ConvTranspose2d(3, 16, 4).weight.detach().numpy()
    bound = 1 / math.sqrt(16 * 16)                                    # torch: fan_in = weight.size(1) * k * k
    for w in (ours, theirs):
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


# ------------------------------------------------------------------ optim

def _torch_twin(torch, model):
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for p, q in zip(model.parameters(), twin.parameters()):
            q.copy_(torch.from_numpy(p.numpy()))
    return twin


@pytest.mark.parametrize("options", [dict(), dict(momentum=0.9), dict(centered=True, weight_decay=0.1),
                                     dict(centered=True, momentum=0.5, alpha=0.9, eps=1e-3)])
def test_rmsprop_matches_torch_step_by_step(rng, options):
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 4, dtype=mg.float64), nn.Tanh(), nn.Linear(4, 1, dtype=mg.float64))
    twin = _torch_twin(torch, model)
    opt = optim.RMSprop(model.parameters(), lr=1e-2, **options)
    th_opt = torch.optim.RMSprop(twin.parameters(), lr=1e-2, **options)
    for _ in range(5):
        x = rng.standard_normal((6, 3))
        opt.zero_grad()
        (model(mg.tensor(x, dtype=mg.float64)) ** 2).mean().backward()
        opt.step()
        th_opt.zero_grad()
        (twin(torch.from_numpy(x)) ** 2).mean().backward()
        th_opt.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_optimizers_take_any_iterable_and_param_groups():
    a, b = nn.Linear(3, 2), nn.Linear(2, 1)
    chained = optim.Adam(itertools.chain(a.parameters(), b.parameters()), lr=1e-3)
    assert len(chained.param_groups[0]["params"]) == 4
    generated = optim.SGD((p for p in a.parameters()), 0.1)
    assert len(generated.param_groups[0]["params"]) == 2
    groups = optim.SGD([{"params": a.parameters()}, {"params": b.parameters(), "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in groups.param_groups] == [0.1, 0.5] and groups.param_groups[1]["momentum"] == 0.9
    for g in groups.param_groups:                                       # how schedulers set the rate
        g["lr"] = 1.0
    before = [p.numpy().copy() for p in itertools.chain(a.parameters(), b.parameters())]
    b(a(mg.ones(1, 3))).sum().backward()
    grads = [p.grad.numpy().copy() for p in itertools.chain(a.parameters(), b.parameters())]
    groups.step()
    for p, old, g in zip(itertools.chain(a.parameters(), b.parameters()), before, grads):
        np.testing.assert_allclose(p.numpy(), old - 1.0 * g, rtol=1e-6)
    state = groups.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    fresh = optim.SGD([{"params": a.parameters()}, {"params": b.parameters()}], lr=0.1, momentum=0.9)
    fresh.load_state_dict(state)
    assert [g["lr"] for g in fresh.param_groups] == [1.0, 1.0]
    np.testing.assert_array_equal(fresh.state[3]["momentum_buffer"], groups.state[3]["momentum_buffer"])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": a.parameters()}, {"params": [a.weight]}], lr=0.1)
    with pytest.raises(TypeError, match="got a Tensor"):
        optim.SGD(a.weight, lr=0.1)
    with pytest.raises(NotImplementedError, match="nesterov"):
        optim.SGD(a.parameters(), 0.1, 0.9, nesterov=True)
