"""Training loops, the multi-stage schedule, and whole runs (outputs, resume, determinism, divergence)."""

import json
import os

import matplotlib.pyplot as plt
import numba
import numpy as np
import pytest

import minigan as mg
import minigan.train.gan as gan_loop
from minigan import nn
from minigan.checkpoint import load_checkpoint
from minigan.data import DataLoader
from minigan.gradcheck import gradcheck
from minigan.models import AE, DCGAN, MLPGAN, VAE
from minigan.optim import SGD
from minigan.train import DivergenceError, MultiStage, make_config, resume_config, run_training, train_ae, train_gan, train_vae
from minigan.train.ae import ae_loss
from minigan.train.gan import discriminator_loss, generator_loss
from minigan.train.runner import COMPILE_NOTICE
from minigan.train.vae import vae_loss
from minigan.viz import loss_curves_figure


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _fixed_loader(images):
    return DataLoader(images, len(images), shuffle=False, seed=0)


# --- loss formulas and their gradients ---------------------------------------------------------

def test_gan_losses_match_their_formulas():
    mg.manual_seed(0)
    gan = MLPGAN((1, 3, 3), nz=2, hidden=(5,))
    real = mg.rand(4, 1, 3, 3, seed=1) * 2 - 1
    fake = mg.rand(4, 1, 3, 3, seed=2) * 2 - 1
    loss_d, real_logits, fake_logits = discriminator_loss(gan.discriminator, real, fake, label_smoothing=0.1)
    p_real, p_fake = _sigmoid(real_logits.numpy().astype(np.float64)), _sigmoid(fake_logits.numpy().astype(np.float64))
    expected_d = -np.mean(0.9 * np.log(p_real) + 0.1 * np.log(1 - p_real)) - np.mean(np.log(1 - p_fake))
    assert loss_d.item() == pytest.approx(expected_d, rel=1e-5)
    assert generator_loss(gan.discriminator, fake, "non-saturating").item() == pytest.approx(
        -np.mean(np.log(p_fake)), rel=1e-5)
    assert generator_loss(gan.discriminator, fake, "minimax").item() == pytest.approx(
        np.mean(np.log(1 - p_fake)), rel=1e-5)


def _params(module):
    return list(module.parameters())


@pytest.mark.parametrize("loss", ["non-saturating", "minimax"])
def test_gan_loss_gradients_match_finite_differences(loss):
    mg.manual_seed(0)
    gan = DCGAN(16, 1, nz=2, ngf=1, ndf=1).double()
    real = mg.tensor(np.random.default_rng(1).uniform(-1, 1, (3, 1, 16, 16)), dtype=mg.float64)
    z = mg.tensor(np.random.default_rng(2).standard_normal((3, 2)), dtype=mg.float64)
    d_params, g_params = _params(gan.discriminator), _params(gan.generator)
    assert gradcheck(lambda *p: discriminator_loss(gan.discriminator, real, gan.generator(z).detach(), 0.1)[0],
                     d_params)
    assert gradcheck(lambda *p: generator_loss(gan.discriminator, gan.generator(z), loss), g_params)


def test_ae_and_vae_loss_gradients_match_finite_differences():
    mg.manual_seed(0)
    x = mg.tensor(np.random.default_rng(1).random((3, 1, 3, 3)), dtype=mg.float64)
    ae = AE((1, 3, 3), latent_dim=2, hidden=(3,)).double()
    assert gradcheck(lambda *p: ae_loss(ae, x), _params(ae))
    vae = VAE((1, 3, 3), latent_dim=2, hidden=(3,)).double()
    eps = mg.tensor(np.random.default_rng(2).standard_normal((3, 2)), dtype=mg.float64)
    for reconstruction in ("bce", "mse"):
        assert gradcheck(lambda *p: vae_loss(vae, x, eps, reconstruction, beta=0.5)[0], _params(vae))


def test_vae_loss_matches_its_formula():
    mg.manual_seed(0)
    vae = VAE((1, 2, 2), latent_dim=2, hidden=(4,))
    x = mg.rand(3, 1, 2, 2, seed=1)
    eps = mg.randn(3, 2, seed=2)
    loss, rec, kl = vae_loss(vae, x, eps, "mse", beta=2.0)
    mu, logvar = (t.numpy().astype(np.float64) for t in vae.encode(x))
    x_hat = vae.decode(vae.reparameterize(*vae.encode(x), eps)).numpy()
    expected_rec = np.sum((x_hat - x.numpy()) ** 2) / 3
    expected_kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar)) / 3
    assert rec.item() == pytest.approx(expected_rec, rel=1e-5)
    assert kl.item() == pytest.approx(expected_kl, rel=1e-4, abs=1e-6)
    assert loss.item() == pytest.approx(expected_rec + 2.0 * expected_kl, rel=1e-5)


# --- one step lowers the loss on a fixed batch ----------------------------------------------------

def test_one_ae_step_lowers_the_loss_on_a_fixed_batch(rng):
    mg.manual_seed(0)
    model = AE((1, 4, 4), latent_dim=3, hidden=(8,))
    images = rng.random((6, 1, 4, 4)).astype(np.float32)
    x = mg.tensor(images)
    before = ae_loss(model, x).item()
    history = train_ae(model, _fixed_loader(images), SGD(model.parameters(), lr=0.5), steps=1)
    assert history["step"] == [1] and history["loss"][0] == pytest.approx(before, rel=1e-6)
    assert ae_loss(model, x).item() < before


def test_one_vae_step_lowers_the_loss_on_a_fixed_batch_and_noise(rng):
    mg.manual_seed(0)
    model = VAE((1, 4, 4), latent_dim=2, hidden=(8,))
    images = rng.random((6, 1, 4, 4)).astype(np.float32)
    x = mg.tensor(images)
    eps = mg.tensor(np.random.default_rng(9).standard_normal((6, 2)).astype(np.float32))
    before = vae_loss(model, x, eps)[0].item()
    history = train_vae(model, _fixed_loader(images), SGD(model.parameters(), lr=0.01), 1, np.random.default_rng(9))
    assert history["loss"][0] == pytest.approx(before, rel=1e-5)
    assert vae_loss(model, x, eps)[0].item() < before
    assert set(history) == {"step", "loss", "reconstruction", "kl"}


def test_gan_loop_history_and_callbacks():
    mg.manual_seed(0)
    gan = MLPGAN((1, 4, 4), nz=2, hidden=(8,))
    images = np.random.default_rng(0).uniform(-1, 1, (8, 1, 4, 4)).astype(np.float32)
    seen = []
    history = train_gan(gan, DataLoader(images, 4, seed=0), SGD(_params(gan.discriminator), 0.01),
                        SGD(_params(gan.generator), 0.01), 3, np.random.default_rng(0),
                        callbacks=[lambda step, values: seen.append(step)])
    assert seen == history["step"] == [1, 2, 3]
    assert set(history) == {"step", "loss_D", "loss_G", "D(x)", "D(G(z))"}
    assert all(0 < p < 1 for p in history["D(x)"] + history["D(G(z))"])
    with pytest.raises(ValueError, match="wasserstein"):
        train_gan(gan, DataLoader(images, 4), None, None, 1, np.random.default_rng(0), loss="wasserstein")


def test_nan_loss_stops_the_loop_naming_step_and_loss():
    model = AE((1, 2, 2), latent_dim=1, hidden=(2,))
    images = np.ones((2, 1, 2, 2), np.float32)
    optimizer = SGD(model.parameters(), lr=0.1)
    train_ae(model, _fixed_loader(images), optimizer, 2)
    model.decoder[0][0].weight.array[...] = np.nan
    with pytest.raises(DivergenceError, match="step 4: loss = nan"):
        train_ae(model, _fixed_loader(images), optimizer, 5, start_step=3)


# --- multi-stage optimisation ---------------------------------------------------------------------

def _constant_gradient_steps(schedule, weight, steps):
    for _ in range(steps):
        schedule.zero_grad()
        (weight * mg.tensor([1.0, -2.0])).sum().backward()  # gradient (1, -2)
        schedule.step()


def test_multistage_lr_drop_and_optimizer_switch():
    w = nn.Parameter(mg.zeros(2))
    sgd = SGD([w], lr=0.1)
    _constant_gradient_steps(MultiStage([(0, sgd), (2, sgd, 0.01)]), w, 3)
    np.testing.assert_allclose(w.numpy(), -np.array([1.0, -2.0]) * (0.1 + 0.1 + 0.01), rtol=1e-6)
    v = nn.Parameter(mg.zeros(2))
    switch = MultiStage([(0, SGD([v], lr=0.1)), (1, SGD([v], lr=0.5))])
    _constant_gradient_steps(switch, v, 3)
    np.testing.assert_allclose(v.numpy(), -np.array([1.0, -2.0]) * (0.1 + 0.5 + 0.5), rtol=1e-6)
    restored = MultiStage([(0, SGD([v], lr=0.1)), (1, SGD([v], lr=0.5))])
    restored.load_state_dict(switch.state_dict())
    assert restored.count == 3 and restored.lr == 0.5
    with pytest.raises(ValueError, match="step 0"):
        MultiStage([(1, sgd)])


# --- whole runs ---------------------------------------------------------------------------------

def _tiny(model, out, **options):
    settings = dict(steps=4, batch_size=8, image_size=16, ngf=4, ndf=4, nf=4, hidden=[16], nz=4, latent_dim=3,
                    n_eval=16, sample_every=2, checkpoint_every=2, out=str(out), progress=False)
    settings.update(options)
    return make_config(model, **settings)


def test_tiny_gan_run_writes_every_output(tmp_path):
    metrics = run_training(_tiny("dcgan", tmp_path))
    for name in ("config.json", "samples.png", "loss.png", "metrics.json", "checkpoint.npz",
                 "samples/step_000002.png", "samples/step_000004.png"):
        assert os.path.isfile(tmp_path / name), name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seed"] == 0 and config["version"] == mg.__version__ and config["model"] == "dcgan"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert np.isfinite(saved["fid_hog"]) and saved["fid_hog"] == metrics["fid_hog"]
    assert saved["steps"] == 4 and set(saved["final"]) == {"loss_D", "loss_G", "D(x)", "D(G(z))"}
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as archive:
        assert any(name.startswith("state/model/") for name in archive.files)
    assert load_checkpoint(str(tmp_path / "checkpoint.npz"))["step"] == 4


def test_tiny_ae_run_writes_reconstructions_and_mse(tmp_path):
    metrics = run_training(_tiny("convae", tmp_path))
    assert (tmp_path / "reconstructions.png").is_file()
    assert 0 < metrics["reconstruction_mse"] < 1 and "fid_hog" not in metrics


def _weights(out):
    return load_checkpoint(os.path.join(out, "checkpoint.npz"))


@pytest.mark.parametrize("model, options", [("dcgan", {}), ("vae", {}),
                                            ("gan", {"stage2_step": 3, "stage2_optimizer": "sgd", "stage2_lr": 0.01})])
def test_resume_equals_uninterrupted(tmp_path, model, options):
    run_training(_tiny(model, tmp_path / "full", steps=6, **options))
    run_training(_tiny(model, tmp_path / "part", steps=4, **options))
    run_training(resume_config(str(tmp_path / "part"), steps=6), resume=True)
    full, part = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert part["step"] == 6
    for name, value in full["model"].items():
        np.testing.assert_array_equal(part["model"][name], value, err_msg=name)
    assert part["history"] == full["history"]
    assert part["rng"] == full["rng"] and part["loader"] == full["loader"]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    run_training(_tiny("gan", tmp_path / "a", steps=3))
    run_training(_tiny("gan", tmp_path / "b", steps=3))
    run_training(_tiny("gan", tmp_path / "c", steps=3, seed=1))
    a, b, c = (_weights(tmp_path / name)["model"] for name in "abc")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[name], c[name]) for name in a)


def test_divergence_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import minigan.train.gan as gan_loop

    original, calls = gan_loop.discriminator_loss, []

    def poisoned_from_step_3(*args, **kwargs):
        loss, real_logits, fake_logits = original(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) >= 3 else loss), real_logits, fake_logits

    monkeypatch.setattr(gan_loop, "discriminator_loss", poisoned_from_step_3)
    with pytest.raises(DivergenceError, match=r"diverged at step 3: loss_D = nan; last good checkpoint: .*\(step 2\)"):
        run_training(_tiny("gan", tmp_path, steps=5, checkpoint_every=2, sample_every=100))
    assert _weights(tmp_path)["step"] == 2
    assert (tmp_path / "loss.png").is_file() and not (tmp_path / "metrics.json").exists()


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        make_config("wgan")
    with pytest.raises(ValueError, match="unknown setting"):
        make_config("gan", colour="blue")
    with pytest.raises(ValueError, match="BCE"):
        make_config("vae", output_activation="tanh")
    with pytest.raises(ValueError, match="either steps or epochs"):
        make_config("gan", steps=3, epochs=2)
    run_training(_tiny("gan", tmp_path, steps=2))
    with pytest.raises(ValueError, match="cannot change lr"):
        resume_config(str(tmp_path), lr=0.1)


def test_cuda_sim_run_matches_cpu_run(tmp_path):
    run_training(_tiny("dcgan", tmp_path / "cpu", steps=2))
    run_training(_tiny("dcgan", tmp_path / "sim", steps=2, device="cuda-sim"))
    cpu, sim = _weights(tmp_path / "cpu")["model"], _weights(tmp_path / "sim")["model"]
    for name, value in cpu.items():
        np.testing.assert_allclose(sim[name], value, rtol=1e-3, atol=1e-5, err_msg=name)


def test_compile_notice_only_when_a_minigan_kernel_compiles_and_the_bar_starts_after_it(tmp_path, capsys,
                                                                                        monkeypatch):
    run_training(_tiny("gan", tmp_path / "warm", steps=1))  # every kernel of this run is compiled in this process now
    capsys.readouterr()
    run_training(_tiny("gan", tmp_path / "compiled", steps=2, progress=True))
    assert COMPILE_NOTICE not in capsys.readouterr().err

    def double(x):
        return 2.0 * x

    double.__module__ = "minigan.kernels.a_new_kernel"
    kernel, original = numba.njit(double), gan_loop.discriminator_loss

    def loss_calling_a_new_kernel(*args, **kwargs):
        kernel(1.0)  # compiled on the first call of this process, like a first run's kernels
        return original(*args, **kwargs)

    monkeypatch.setattr(gan_loop, "discriminator_loss", loss_calling_a_new_kernel)
    run_training(_tiny("gan", tmp_path / "first", steps=3, progress=True))
    err = capsys.readouterr().err
    assert err.count(COMPILE_NOTICE) == 1 and err.index(COMPILE_NOTICE) < err.index("minigan gan")


def test_loss_curve_legends_sit_beside_the_curves():
    history = {"step": [1, 2, 3], "loss_D": [1.4, 1.2, 1.3], "loss_G": [0.7, 0.9, 0.8],
               "D(x)": [0.5, 0.6, 0.7], "D(G(z))": [0.5, 0.4, 0.3]}
    figure = loss_curves_figure(history, title="gan")
    figure.canvas.draw()
    for axis in figure.axes:
        legend, panel = axis.get_legend().get_window_extent(), axis.get_window_extent()
        assert legend.x0 >= panel.x1, axis.get_legend_handles_labels()[1]
        assert legend.x1 <= figure.bbox.x1  # and inside the picture
    plt.close(figure)


def test_summary_counts_only_the_steps_of_this_process(tmp_path):
    assert run_training(_tiny("ae", tmp_path, steps=2))["steps_run"] == 2
    metrics = run_training(resume_config(str(tmp_path), steps=3), resume=True)
    assert (metrics["steps"], metrics["steps_run"]) == (3, 1)
