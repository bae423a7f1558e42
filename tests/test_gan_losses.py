"""The GAN losses beyond BCE (hinge, LSGAN, WGAN-GP) and the gradient penalties (WGAN-GP, R1): values
against hand-computed ones, gradients through the penalty against closed forms and PyTorch, a few
training steps of each loss, the run settings, resume exactness and the command-line errors."""

import json
import os

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.checkpoint import load_checkpoint, save_checkpoint
from minigan.cli import main
from minigan.data import DataLoader
from minigan.models import DCGAN, MLPGAN
from minigan.optim import Adam
from minigan.train import make_config, resume_config, run_training, train_gan
from minigan.train.gan import LOSSES, discriminator_loss, generator_loss, gradient_penalty, r1_penalty

# --- loss values on known outputs -----------------------------------------------------------------

REAL_OUT = np.array([[2.0], [-0.5], [0.3]], np.float32)
FAKE_OUT = np.array([[-1.5], [0.8], [-3.0]], np.float32)


def _identity(x):
    """A 'discriminator' whose outputs are its inputs, so the losses see chosen outputs."""
    return x


@pytest.mark.parametrize("loss, expected_d, expected_g", [
    # hinge: mean(max(0, 1 - r)) + mean(max(0, 1 + f)); G: -mean(f)
    ("hinge", (0.0 + 1.5 + 0.7) / 3 + (0.0 + 1.8 + 0.0) / 3, -(-1.5 + 0.8 - 3.0) / 3),
    # lsgan: ½ mean((r - 1)²) + ½ mean(f²); G: ½ mean((f - 1)²)
    ("lsgan", 0.5 * (1.0 + 2.25 + 0.49) / 3 + 0.5 * (2.25 + 0.64 + 9.0) / 3, 0.5 * (6.25 + 0.04 + 16.0) / 3),
    # wgan-gp without its penalty: mean(f) - mean(r); G: -mean(f)
    ("wgan-gp", (-1.5 + 0.8 - 3.0) / 3 - (2.0 - 0.5 + 0.3) / 3, -(-1.5 + 0.8 - 3.0) / 3),
])
def test_losses_on_known_outputs(loss, expected_d, expected_g):
    value, real_out, fake_out = discriminator_loss(_identity, mg.tensor(REAL_OUT), mg.tensor(FAKE_OUT), loss=loss)
    assert value.item() == pytest.approx(expected_d, rel=1e-6)
    np.testing.assert_array_equal(real_out.numpy(), REAL_OUT)
    assert generator_loss(_identity, mg.tensor(FAKE_OUT), loss).item() == pytest.approx(expected_g, rel=1e-6)


def test_hinge_gradient_is_minus_one_third_inside_the_margin_and_zero_outside():
    real, fake = mg.tensor(REAL_OUT, requires_grad=True), mg.tensor(FAKE_OUT, requires_grad=True)
    discriminator_loss(_identity, real, fake, loss="hinge")[0].backward()
    np.testing.assert_allclose(real.grad.numpy(), [[0.0], [-1 / 3], [-1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(fake.grad.numpy(), [[0.0], [1 / 3], [0.0]], rtol=1e-6)


# --- the penalties on a linear critic D(x) = w·x, where ∇ₓD = w for every x ----------------------------

def _linear_critic(w):
    critic = nn.Sequential(nn.Flatten(), nn.Linear(w.size, 1, bias=False))
    critic[1].weight.array[...] = w.reshape(1, -1)
    return critic


def test_gradient_penalty_of_a_linear_critic_is_norm_w_minus_one_squared(rng):
    w = rng.standard_normal(12).astype(np.float32)
    critic = _linear_critic(w)
    real = mg.tensor(rng.standard_normal((5, 3, 2, 2)).astype(np.float32))
    fake = mg.tensor(rng.standard_normal((5, 3, 2, 2)).astype(np.float32))
    penalty = gradient_penalty(critic, real, fake, np.random.default_rng(3))
    norm = np.sqrt(np.sum(w.astype(np.float64) ** 2))
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    penalty.backward()  # d/dw (‖w‖ - 1)² = 2 (‖w‖ - 1) w / ‖w‖
    np.testing.assert_allclose(critic[1].weight.grad.numpy().ravel(), 2 * (norm - 1) * w / norm, rtol=1e-5, atol=1e-6)


def test_r1_penalty_of_a_linear_critic_is_norm_w_squared(rng):
    w = rng.standard_normal(8).astype(np.float32)
    critic = _linear_critic(w)
    real = mg.tensor(rng.standard_normal((4, 2, 2, 2)).astype(np.float32), requires_grad=True)
    penalty = r1_penalty(real, critic(real))
    assert penalty.item() == pytest.approx(np.sum(w.astype(np.float64) ** 2), rel=1e-5)
    penalty.backward()  # d/dw ‖w‖² = 2w
    np.testing.assert_allclose(critic[1].weight.grad.numpy().ravel(), 2 * w, rtol=1e-5)


def test_gradient_penalty_through_a_conv_critic_matches_pytorch(rng, torch):
    """The penalty's gradient w.r.t. the weights takes the mixed second derivatives ∂²D/∂θ∂x through
    conv2d and leaky_relu: compared with the same penalty written in PyTorch."""
    tF = torch.nn.functional
    mg.manual_seed(0)
    critic = DCGAN(image_size=16, channels=2, nz=4, ngf=4, ndf=4, d_norm="none").discriminator
    real = rng.uniform(-1, 1, (3, 2, 16, 16)).astype(np.float32)
    fake = rng.uniform(-1, 1, (3, 2, 16, 16)).astype(np.float32)
    penalty = gradient_penalty(critic, mg.tensor(real), mg.tensor(fake), np.random.default_rng(7))
    penalty.backward()

    weights = [torch.from_numpy(p.numpy().copy()).requires_grad_() for p in critic.parameters()]
    eps = torch.from_numpy(np.random.default_rng(7).random((3, 1, 1, 1)).astype(np.float32))
    x_hat = (eps * torch.from_numpy(real) + (1 - eps) * torch.from_numpy(fake)).requires_grad_()
    h = tF.leaky_relu(tF.conv2d(x_hat, weights[0], stride=2, padding=1), 0.2)
    h = tF.leaky_relu(tF.conv2d(h, weights[1], stride=2, padding=1), 0.2)
    out = tF.conv2d(h, weights[2]).flatten(1)
    g = torch.autograd.grad(out.sum(), x_hat, create_graph=True)[0]
    expected = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    expected.backward()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    for ours, theirs in zip(critic.parameters(), weights):
        scale = theirs.grad.abs().max().item()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-4 * scale)


# --- training steps ---------------------------------------------------------------------------------

class _CountingLoader(DataLoader):
    """A DataLoader that counts the batches drawn."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drawn = 0

    def next_batch(self):
        self.drawn += 1
        return super().next_batch()


@pytest.mark.parametrize("model", ["gan", "dcgan"])
@pytest.mark.parametrize("loss, r1_gamma", [("hinge", 0.0), ("lsgan", 0.0), ("wgan-gp", 0.0),
                                            ("non-saturating", 1.0), ("hinge", 0.5)])
def test_a_few_steps_of_each_loss_give_finite_values(model, loss, r1_gamma):
    mg.manual_seed(0)
    gan = MLPGAN((1, 16, 16), nz=4, hidden=(16,)) if model == "gan" \
        else DCGAN(16, 1, nz=4, ngf=4, ndf=4, d_norm="none" if loss == "wgan-gp" else "batch")
    images = np.random.default_rng(0).uniform(-1, 1, (16, 1, 16, 16)).astype(np.float32)
    loader = _CountingLoader(images, 4, seed=0)
    opt_d = Adam(gan.discriminator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_g = Adam(gan.generator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    n_critic = 2 if loss == "wgan-gp" else 1
    history = train_gan(gan, loader, opt_d, opt_g, 3, np.random.default_rng(1), loss, n_critic=n_critic,
                        r1_gamma=r1_gamma)
    assert loader.drawn == 3 * n_critic  # a fresh real batch for every critic update
    outputs = {"D(x)", "D(G(z))"} if loss == "non-saturating" else {"E[D(x)]", "E[D(G(z))]"}
    extra = {"W estimate", "penalty"} if loss == "wgan-gp" else {"penalty"} if r1_gamma else set()
    assert set(history) == {"step", "loss_D", "loss_G"} | outputs | extra
    assert all(np.isfinite(v) for name in history for v in history[name])
    assert all(p >= 0 for p in history.get("penalty", []))
    if loss == "wgan-gp":
        np.testing.assert_allclose(history["W estimate"],
                                   np.subtract(history["E[D(x)]"], history["E[D(G(z))]"]), rtol=1e-12)


def test_loop_refuses_bad_combinations():
    gan = MLPGAN((1, 4, 4), nz=2, hidden=(8,))
    loader = DataLoader(np.zeros((4, 1, 4, 4), np.float32), 2)
    for options, message in [({"loss": "wgan-gp", "r1_gamma": 1.0}, "r1 cannot be combined"),
                             ({"loss": "hinge", "label_smoothing": 0.1}, "label smoothing"),
                             ({"n_critic": 0}, "n_critic"), ({"r1_gamma": -1.0}, "R1 weight"),
                             ({"loss": "wgan-gp", "gp_lambda": -1.0}, "gp_lambda")]:
        with pytest.raises(ValueError, match=message):
            train_gan(gan, loader, None, None, 1, np.random.default_rng(0), **options)


# --- runs: settings, outputs, resume ------------------------------------------------------------------

def _tiny(model, out, **options):
    settings = dict(steps=3, batch_size=8, image_size=16, ngf=4, ndf=4, hidden=[16], nz=4, n_eval=16,
                    sample_every=100, checkpoint_every=100, out=str(out), progress=False)
    return make_config(model, **{**settings, **options})


def test_wgan_gp_defaults_are_stored_and_each_can_be_overridden(tmp_path):
    config = _tiny("dcgan", tmp_path, loss="wgan-gp")
    assert (config["n_critic"], config["gp_lambda"], config["lr"], config["betas"], config["d_norm"]) == \
        (5, 10.0, 1e-4, [0.0, 0.9], "none")
    changed = _tiny("dcgan", tmp_path, loss="wgan-gp", n_critic=2, gp_lambda=1.0, lr=3e-4, betas=[0.5, 0.99],
                    d_norm="batch")
    assert (changed["n_critic"], changed["gp_lambda"], changed["lr"], changed["betas"], changed["d_norm"]) == \
        (2, 1.0, 3e-4, [0.5, 0.99], "batch")
    plain = _tiny("dcgan", tmp_path)
    assert (plain["n_critic"], plain["gp_lambda"], plain["r1"], plain["lr"], plain["d_norm"]) == (1, None, 0.0, 2e-4,
                                                                                                  "batch")


def test_wgan_gp_run_writes_its_curves_and_a_critic_without_batch_norm(tmp_path):
    metrics = run_training(_tiny("dcgan", tmp_path, loss="wgan-gp", n_critic=2))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["loss"] == "wgan-gp" and saved["n_critic"] == 2 and saved["gp_lambda"] == 10.0
    assert set(metrics["final"]) == {"loss_D", "loss_G", "E[D(x)]", "E[D(G(z))]", "W estimate", "penalty"}
    assert np.isfinite(metrics["fid_hog"]) and (tmp_path / "loss.png").is_file()
    model = load_checkpoint(str(tmp_path / "checkpoint.npz"))["model"]
    assert not any(name.startswith("discriminator.") and "running_mean" in name for name in model)
    assert any(name.startswith("generator.") and "running_mean" in name for name in model)


@pytest.mark.parametrize("model, options", [("dcgan", {"loss": "wgan-gp", "n_critic": 2}),
                                            ("gan", {"r1": 2.0, "loss": "lsgan"})])
def test_resume_with_a_penalty_equals_the_uninterrupted_run(tmp_path, model, options):
    run_training(_tiny(model, tmp_path / "full", steps=4, **options))
    run_training(_tiny(model, tmp_path / "part", steps=2, **options))
    run_training(resume_config(str(tmp_path / "part"), steps=4), resume=True)
    full, part = (load_checkpoint(str(tmp_path / name / "checkpoint.npz")) for name in ("full", "part"))
    assert part["step"] == 4 and part["config"] == full["config"] | {"out": str(tmp_path / "part")}
    for name, value in full["model"].items():
        np.testing.assert_array_equal(part["model"][name], value, err_msg=name)
    assert part["history"] == full["history"] and part["rng"] == full["rng"]


@pytest.mark.parametrize("options", [{"loss": "wgan-gp", "n_critic": 1}, {"r1": 1.0}])
def test_penalty_run_on_cuda_sim_matches_the_cpu_run(tmp_path, options):
    run_training(_tiny("dcgan", tmp_path / "cpu", steps=2, **options))
    run_training(_tiny("dcgan", tmp_path / "sim", steps=2, device="cuda-sim", **options))
    cpu, sim = (load_checkpoint(str(tmp_path / name / "checkpoint.npz"))["model"] for name in ("cpu", "sim"))
    for name, value in cpu.items():
        np.testing.assert_allclose(sim[name], value, rtol=1e-3, atol=1e-5, err_msg=name)


def test_config_from_before_the_penalties_still_resumes_and_loads(tmp_path):
    run_training(_tiny("dcgan", tmp_path, steps=2))
    path = str(tmp_path / "checkpoint.npz")
    state = load_checkpoint(path)
    for name in ("n_critic", "gp_lambda", "r1", "d_norm"):
        del state["config"][name]
    save_checkpoint(path, state)
    config = resume_config(str(tmp_path), steps=3)
    assert (config["loss"], config["n_critic"], config["r1"], config["d_norm"]) == ("non-saturating", 1, 0.0, "batch")
    run_training(config, resume=True)
    assert load_checkpoint(path)["step"] == 3


# --- the command line --------------------------------------------------------------------------------

TINY = ["--steps", "1", "--batch-size", "8", "--image-size", "16", "--n-eval", "8", "--quiet"]


@pytest.mark.parametrize("flags, message", [
    (["--loss", "wgan-gp", "--r1", "1"], "r1 cannot be combined with loss 'wgan-gp'"),
    (["--gp-lambda", "5"], "gp_lambda weighs the WGAN-GP penalty; it needs loss 'wgan-gp'"),
    (["--loss", "hinge", "--label-smoothing", "0.1"], "label smoothing changes the BCE targets"),
    (["--r1", "-1"], "the R1 weight gamma must be >= 0"),
])
def test_bad_flag_combinations_end_with_one_line(tmp_path, capsys, flags, message):
    assert main(["train", "dcgan", "--out", str(tmp_path / "run")] + TINY + flags) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error: ") and message in lines[0]
    assert not os.path.exists(tmp_path / "run")


def test_cli_trains_the_mlp_gan_with_wgan_gp_and_rejects_batch_norm_there(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "gan", "--hidden", "8", "--out", out, "--loss", "wgan-gp", "--n-critic", "2"] + TINY) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["loss"], saved["n_critic"], saved["gp_lambda"], saved["betas"]) == ("wgan-gp", 2, 10.0, [0.0, 0.9])
    with pytest.raises(SystemExit):
        main(["train", "gan", "--d-norm", "batch"])  # a DCGAN option only
    assert "--d-norm" in capsys.readouterr().err
    with pytest.raises(ValueError, match="d_norm of a gan discriminator must be one of none"):
        make_config("gan", d_norm="batch")


def test_every_loss_is_a_cli_choice(capsys):
    with pytest.raises(SystemExit):
        main(["train", "dcgan", "--help"])
    text = capsys.readouterr().out
    assert all(loss in text for loss in LOSSES) and all(flag in text for flag in ("--r1", "--n-critic", "--gp-lambda"))
