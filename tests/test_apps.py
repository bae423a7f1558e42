"""The applications (minigan.apps): feature extractors, probes, recognition, inpainting, latent arithmetic,
and their commands. Models are tiny and trained for a few steps; expectations come from independent
computations (sklearn's PCA, the discriminator's own logits, chance levels, closed-form PSNR)."""

import json
import os

import cv2
import numpy as np
import pytest
from sklearn.decomposition import PCA

import minigan as mg
from minigan import cli
from minigan.apps import evaluation, features, inpaint, latent, probe, recognition, trained
from minigan.apps.synthetic import expression_faces, write_expression_folder
from minigan.data import load_lfw_subset, to_unit_range
from minigan.models import DCGAN, MLPGAN
from minigan.train import make_config, run_training
from minigan.train.runner import generate


@pytest.fixture(scope="module")
def lfw():
    """The embedded 200 crops (faces label 0, non-faces label 1) at 16x16 in [0, 1]."""
    return load_lfw_subset(16, value_range=(0.0, 1.0), include_nonfaces=True)


@pytest.fixture(scope="module")
def people_folder(tmp_path_factory, lfw):
    """An LFW-layout folder: 6 'people', each 4 noisy, shifted copies of one face, named <name>_<i:04d>.jpg."""
    root = tmp_path_factory.mktemp("people")
    rng = np.random.default_rng(0)
    for person in range(6):
        name = f"Person_{person}"
        os.makedirs(root / name)
        face = lfw.images[10 * person, 0]
        for index in range(1, 5):
            shifted = np.roll(face, tuple(rng.integers(-1, 2, size=2)), axis=(0, 1))
            noisy = np.clip(shifted + rng.normal(0, 0.03, face.shape), 0, 1)
            cv2.imwrite(str(root / name / f"{name}_{index:04d}.jpg"), np.round(noisy * 255).astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def expression_folder(tmp_path_factory):
    return write_expression_folder(str(tmp_path_factory.mktemp("expressions")), 20, size=32)


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


# --- features -------------------------------------------------------------------------------------------
def test_pca_features_match_sklearn_up_to_sign(lfw):
    ours = features.pca_features(lfw.images, components=10)
    theirs = PCA(n_components=10).fit_transform(lfw.images.reshape(len(lfw.images), -1).astype(np.float64))
    signs = np.sign(np.sum(ours * theirs, axis=0))
    np.testing.assert_allclose(ours, theirs * signs, rtol=1e-6, atol=1e-6)


def test_discriminator_features_are_what_the_last_layer_maps_to_the_logit(lfw):
    mg.manual_seed(0)
    gan = DCGAN(16, 1, nz=4, ngf=4, ndf=4).eval()
    images = lfw.images[:5]
    penultimate = features.discriminator_features(gan, images)
    assert penultimate.shape == (5, 8 * 4 * 4)
    last = features.leaf_modules(gan.discriminator)[-2]  # Conv2d(8, 1, 4) before the Flatten
    with mg.no_grad():
        logits = gan.discriminator(mg.tensor(features.to_model_range(images, gan))).numpy()
    weight = last.weight.numpy().reshape(1, -1)
    np.testing.assert_allclose(penultimate @ weight.T, logits, rtol=1e-4, atol=1e-5)


def test_mlp_discriminator_features_stop_before_the_last_linear(lfw):
    mg.manual_seed(0)
    gan = MLPGAN((1, 16, 16), nz=4, hidden=(12, 7))
    assert features.discriminator_features(gan, lfw.images[:3]).shape == (3, 12)


def test_encoder_features_of_a_vae_are_its_mean(lfw):
    model = trained.train_quick("vae", lfw.images[:40], steps=2)
    with mg.no_grad():
        mu, _ = model.encode(mg.tensor(features.to_model_range(lfw.images[:4], model)))
    np.testing.assert_allclose(features.encoder_features(model, lfw.images[:4]), mu.numpy(), rtol=1e-6)


def test_feature_extractors_reject_non_image_arrays():
    with pytest.raises(ValueError, match="N, C, H, W"):
        features.hog_features(np.zeros((4, 16, 16)))


# --- probe and verification scores ----------------------------------------------------------------------
def test_linear_probe_is_accurate_on_separable_data_and_near_chance_on_random_labels(rng):
    labels = np.repeat([0, 1, 2], 40)
    centres = rng.normal(0, 3, (3, 10))
    separable = centres[labels] + rng.normal(0, 1, (120, 10))
    assert evaluation.linear_probe(separable, labels)["accuracy"] > 0.95
    shuffled = evaluation.linear_probe(rng.normal(size=(120, 10)), labels)
    assert abs(shuffled["accuracy"] - evaluation.chance_accuracy(labels)) < 0.2


def test_probe_rejects_a_single_class_or_singleton_classes():
    with pytest.raises(ValueError, match="two classes"):
        evaluation.linear_probe(np.zeros((6, 2)), np.zeros(6, dtype=int))
    with pytest.raises(ValueError, match="at least two images"):
        evaluation.linear_probe(np.zeros((6, 2)), np.array([0, 0, 0, 0, 0, 1]))


def test_best_threshold_and_verification_on_known_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.25])
    same = np.array([False, False, False, True, True, True])
    threshold, accuracy = evaluation.best_threshold(scores, same)
    assert accuracy == pytest.approx(5 / 6)
    assert np.mean((scores > threshold) == same) == pytest.approx(5 / 6)  # ties: 0.2-0.25 or 0.3-0.7
    result = evaluation.verification(scores, same, np.zeros(6))
    assert result["auc"] == pytest.approx(8 / 9)  # 8 of the 9 (same, different) score pairs are ordered


def test_best_threshold_matches_a_brute_force_search_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 8, 60) / 8.0  # many ties
    same = rng.random(60) < scores
    _, accuracy = evaluation.best_threshold(scores, same)
    candidates = np.concatenate([[-1.0], np.unique(scores) + 1e-9])
    assert accuracy == pytest.approx(max(np.mean((scores > t) == same) for t in candidates))


# --- recognition ------------------------------------------------------------------------------------------
def test_hog_recognises_faces_from_non_faces_far_above_chance(lfw):
    table = {"hog": features.hog_features(lfw.images), "pixels": features.pixel_features(lfw.images)}
    results = recognition.face_vs_nonface(table, lfw.labels, folds=5)
    assert evaluation.chance_accuracy(lfw.labels) == 0.5
    assert results["hog"]["accuracy"] > 0.8
    assert results["hog"]["auc"] > 0.9


def test_identification_and_sampled_verification_on_a_people_folder(people_folder):
    report = recognition.recognize_identities(recognition.load_people(str(people_folder), 16))
    identified = report["identification"]
    assert identified["queries"] == 24
    assert identified["chance"] == pytest.approx(3 / 23)
    assert identified["pixels"] > 0.8
    assert report["verification"]["pixels"]["auc"] > 0.75


def test_sampled_pairs_are_balanced_and_valid_even_when_different_pairs_are_scarce():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    first, second, same, fold = recognition.sample_pairs(labels, folds=3)
    assert same.sum() == 3 + 1 + 6 and (~same).sum() == 10
    np.testing.assert_array_equal(labels[first] == labels[second], same)
    assert set(fold) == {0, 1, 2} and np.all(first < second)
    first, _, same, _ = recognition.sample_pairs(np.array([0] * 6 + [1]))  # 15 same, only 6 different exist
    assert same.sum() == 15 and (~same).sum() == 6


def test_nearest_other_in_chunks_matches_the_full_similarity_matrix():
    unit = evaluation.unit_rows(np.random.default_rng(4).normal(size=(10, 5)))
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(recognition.nearest_other(unit, chunk=3), full.argmax(axis=1))


def _write_pairs(path, lines, header="2\t2"):
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return str(path)


def test_pairs_file_is_parsed_into_folds(tmp_path, people_folder):
    lines = ["Person_0\t1\t2", "Person_1\t3\t4", "Person_0\t1\tPerson_2\t1", "Person_3\t2\tPerson_4\t2",
             "Person_2\t1\t3", "Person_5\t2\t4", "Person_1\t1\tPerson_5\t1", "Person_4\t3\tPerson_0\t3"]
    path = _write_pairs(tmp_path / "pairs.txt", lines)
    pairs = recognition.parse_pairs(path)
    assert pairs[0] == ("Person_0", 1, "Person_0", 2, 0)
    assert pairs[2] == ("Person_0", 1, "Person_2", 1, 0)
    assert [p[4] for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    pair_data = recognition.pairs_dataset(str(people_folder), path, 16)
    report = recognition.recognize_identities(recognition.load_people(str(people_folder), 16), pair_data=pair_data)
    assert report["pairs"] == 8
    assert report["verification"]["pixels"]["auc"] > 0.75


def test_malformed_pairs_files_and_missing_images_are_clear_errors(tmp_path, people_folder):
    with pytest.raises(ValueError, match="header promises"):
        recognition.parse_pairs(_write_pairs(tmp_path / "short.txt", ["Person_0\t1\t2"]))
    with pytest.raises(ValueError, match="line 2: expected a same-person"):
        recognition.parse_pairs(_write_pairs(tmp_path / "bad.txt", ["Person_0\t1\tPerson_1\t2", "A\t1\tB\t1"], "1"))
    missing = _write_pairs(tmp_path / "missing.txt", ["Person_0\t1\t9", "Person_0\t1\tPerson_1\t1"], "1")
    with pytest.raises(ValueError, match="missing"):
        recognition.pairs_dataset(str(people_folder), missing, 16)


def test_identity_needs_more_than_one_person(people_folder):
    with pytest.raises(ValueError, match="holds one person"):
        recognition.load_people(str(people_folder / "Person_0"), 16)


# --- inpainting -------------------------------------------------------------------------------------------
def test_masks_cover_what_they_say():
    assert inpaint.make_masks("center", 2, 16).sum(axis=(1, 2)).tolist() == [64.0, 64.0]
    left = inpaint.make_masks("left", 1, 16)[0]
    assert left[:, :8].all() and not left[:, 8:].any()
    blocks = inpaint.make_masks("blocks", 2, 16, seed=1)
    assert 0 < blocks[0].sum() <= 4 * 16 and not np.array_equal(blocks[0], blocks[1])


def test_mask_image_of_the_wrong_size_or_unknown_kind_is_a_clear_error(tmp_path):
    path = str(tmp_path / "mask.png")
    cv2.imwrite(path, np.full((20, 20), 255, dtype=np.uint8))
    assert inpaint.make_masks(path, 1, 20).all()
    with pytest.raises(ValueError, match="20x20, the images are 16x16"):
        inpaint.make_masks(path, 1, 16)
    with pytest.raises(ValueError, match="unknown mask"):
        inpaint.make_masks("diagonal", 1, 16)


def test_hole_psnr_matches_the_closed_form_and_a_good_paste_beats_the_masked_input(lfw):
    images = lfw.images[:6]
    holes = inpaint.make_masks("center", 6, 16)
    off_by_a_tenth = images + 0.1 * holes[:, None]
    assert inpaint.hole_psnr(images, off_by_a_tenth, holes) == pytest.approx(20.0, abs=1e-3)  # 10 log10(1 / 0.01)
    noisy = np.clip(images + np.random.default_rng(0).normal(0, 0.02, images.shape), 0, 1).astype(np.float32)
    good = inpaint.paste(images, noisy, holes)
    bad = inpaint.masked(images, holes)
    assert inpaint.hole_psnr(images, good, holes) > inpaint.hole_psnr(images, bad, holes) + 10
    assert inpaint.hole_ssim(images, good, holes) > inpaint.hole_ssim(images, bad, holes)


def test_telea_fills_a_smooth_image_better_than_grey():
    ramp = np.tile(np.linspace(0.1, 0.9, 16, dtype=np.float32), (16, 1))[None, None]
    holes = inpaint.make_masks("center", 1, 16)
    filled = inpaint.telea_fill(ramp, holes)
    np.testing.assert_array_equal(filled[0, 0][holes[0] == 0], ramp[0, 0][holes[0] == 0])
    assert inpaint.hole_psnr(ramp, filled, holes) > inpaint.hole_psnr(ramp, inpaint.masked(ramp, holes), holes) + 5


def test_latent_optimisation_recovers_a_face_the_generator_can_make(lfw):
    """Targets G(z_true): the search through the frozen generator must drive the masked error to ~0 and so
    fill the hole with the right pixels, without touching the generator's weights."""
    mg.manual_seed(0)
    gan = MLPGAN((1, 16, 16), nz=8, hidden=(32, 64))
    before = {name: p.numpy().copy() for name, p in gan.named_parameters()}
    z_true = np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32)
    targets = to_unit_range(generate(gan, z_true), gan.value_range)
    holes = inpaint.make_masks("center", 4, 16)
    filled, errors = inpaint.latent_optimisation(gan, targets, holes, steps=100, lr=0.1, weight=0.0)
    assert errors[-1] < 0.01 * errors[0]
    grey = inpaint.masked(targets, holes)
    assert inpaint.hole_psnr(targets, filled, holes) > inpaint.hole_psnr(targets, grey, holes) + 20
    known = np.broadcast_to(holes[:, None] == 0, targets.shape)
    np.testing.assert_array_equal(filled[known], targets[known])
    for name, p in gan.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[name])
        assert p.requires_grad
    assert gan.generator.training  # frozen() put it in eval mode only for the search


def test_latent_optimisation_lowers_the_masked_error_on_real_faces(lfw):
    mg.manual_seed(0)
    gan = MLPGAN((1, 16, 16), nz=8, hidden=(32, 64))
    _, errors = inpaint.latent_optimisation(gan, lfw.images[:4], inpaint.make_masks("left", 4, 16), steps=30)
    assert errors[-1] < errors[0]


def test_autoencoder_paste_keeps_the_known_pixels(lfw):
    model = trained.train_quick("ae", lfw.images[:100], steps=5)
    holes = inpaint.make_masks("right", 3, 16)
    filled = inpaint.autoencoder_fill(model, lfw.images[:3], holes, iterations=2)
    known = np.broadcast_to(holes[:, None] == 0, filled.shape)
    np.testing.assert_array_equal(filled[known], lfw.images[:3][known])
    assert not np.array_equal(filled, inpaint.masked(lfw.images[:3], holes))


# --- probe and latent arithmetic --------------------------------------------------------------------------
def test_hog_probe_reads_the_expression_of_synthetic_faces():
    images, labels = expression_faces(30, size=32, expressions=("smile", "neutral", "frown"), seed=1)
    results = probe.probe_features({"hog": features.hog_features(images)}, labels, folds=3)
    assert results["hog"]["accuracy"] > evaluation.chance_accuracy(labels) + 0.4
    assert results["hog"]["confusion"].sum() == 90
    assert results["hog"]["confusion"].sum(axis=1).tolist() == [30, 30, 30]


def test_attribute_vector_is_the_difference_of_class_mean_codes():
    images, labels = expression_faces(6, size=16, seed=2)
    model = trained.train_quick("ae", images, steps=3)
    codes = features.encoder_features(model, images)
    vector = latent.attribute_vector(model, images, labels, source=1, target=0)
    np.testing.assert_allclose(vector, codes[labels == 0].mean(0) - codes[labels == 1].mean(0))
    edited = latent.apply_attribute(model, images[:2], vector, np.array([0.0, 1.0]))
    assert edited.shape == (4, 1, 16, 16) and edited.min() >= 0 and edited.max() <= 1


def test_attribute_judge_calls_real_target_faces_target_and_real_source_faces_not():
    images, labels = expression_faces(20, size=32, seed=3)  # label 0 = smile, 1 = frown
    unseen, unseen_labels = expression_faces(20, size=32, seed=4)
    smiles, frowns = unseen[unseen_labels == 0], unseen[unseen_labels == 1]
    judged_smile = latent.target_rates(images, labels, 1, 0, [smiles, frowns])
    assert judged_smile[0] > 0.9 and judged_smile[1] < 0.1


# --- commands ---------------------------------------------------------------------------------------------
def test_recognize_command_on_the_embedded_subset(tmp_path):
    out = tmp_path / "rec"
    assert run_cli("recognize", "--models", "ae", "--steps", "5", "--image-size", "16", "--folds", "3",
                   "--out", out) == 0
    report = json.loads((out / "recognition.json").read_text())
    assert report["chance"] == 0.5 and report["images"] == 200
    assert set(report["results"]) == {"pixels", "pca", "hog", "ae (code)"}
    assert report["results"]["hog"]["accuracy"] > 0.8
    assert (out / "roc.png").stat().st_size > 0 and "| hog |" in (out / "recognition.md").read_text()


def test_recognize_with_a_checkpoint_from_minigan_train(tmp_path, people_folder, capsys):
    run_training(make_config("ae", image_size=16, steps=2, batch_size=8, out=str(tmp_path / "ae"), progress=False,
                             hidden=[16], latent_dim=4))
    run_training(make_config("dcgan", image_size=16, steps=2, batch_size=8, out=str(tmp_path / "dcgan"),
                             progress=False, nz=4, ngf=4, ndf=4))
    checkpoint = tmp_path / "ae" / "checkpoint.npz"
    assert run_cli("recognize", "--data", people_folder, "--checkpoint", checkpoint,
                   "--checkpoint", tmp_path / "dcgan" / "checkpoint.npz", "--image-size", "16",
                   "--out", tmp_path / "rec") == 0
    report = json.loads((tmp_path / "rec" / "recognition.json").read_text())
    chance = report["identification"]["chance"]
    assert report["identification"]["ae (code)"] > chance
    assert report["identification"]["dcgan (D penultimate)"] > chance
    assert report["dims"]["dcgan (D penultimate)"] == 8 * 4 * 4
    assert run_cli("recognize", "--checkpoint", checkpoint, "--image-size", "32", "--out", tmp_path / "x") == 1
    assert "--image-size 16" in capsys.readouterr().err


def test_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert run_cli("inpaint", "--checkpoint", tmp_path / "nope.npz", "--out", tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith("minigan: error: checkpoint not found") and err.count("\n") == 1


def test_inpaint_command_scores_every_method(tmp_path):
    out = tmp_path / "inp"
    assert run_cli("inpaint", "--models", "ae,gan", "--steps", "5", "--image-size", "16", "--latent-steps", "5",
                   "--mask", "blocks", "--out", out) == 0
    scores = json.loads((out / "inpaint.json").read_text())["scores"]
    assert list(scores) == ["masked input", "ae paste", "gan latent opt.", "telea (opencv)"]
    assert scores["telea (opencv)"]["psnr"] > scores["masked input"]["psnr"] + 1
    assert (out / "inpaint.png").stat().st_size > 0


def test_probe_command_and_single_class_folder(tmp_path, expression_folder, capsys):
    out = tmp_path / "probe"
    assert run_cli("probe", expression_folder, "--models", "vae", "--steps", "5", "--folds", "3", "--out", out) == 0
    report = json.loads((out / "probe.json").read_text())
    assert report["classes"] == ["frown", "smile"] and report["chance"] == 0.5
    assert report["results"]["hog"]["accuracy"] > 0.9
    assert "vae (mu)" in report["results"] and (out / "confusion.png").stat().st_size > 0
    assert run_cli("probe", os.path.join(expression_folder, "smile"), "--out", out) == 1
    assert "single class" in capsys.readouterr().err


def test_attribute_command_writes_a_grid_and_rejects_unknown_labels(tmp_path, expression_folder, capsys):
    out = tmp_path / "attr.png"
    assert run_cli("attribute", expression_folder, "--source", "frown", "--target", "smile", "--models", "ae",
                   "--steps", "5", "--n", "3", "--out", out) == 0
    assert out.stat().st_size > 0
    assert run_cli("attribute", expression_folder, "--source", "sad", "--target", "smile", "--out", out) == 1
    assert "no class 'sad'" in capsys.readouterr().err
