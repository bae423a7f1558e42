"""Recognition from learned features: how much do a trained model's features know about faces?

Every extractor (``features``: raw pixels, PCA eigenfaces, HOG, an AE/VAE encoder, a DCGAN
discriminator's penultimate layer) turns each image into a vector, without labels. Then:

- face vs non-face (the embedded LFW subset: 100 faces, 100 non-faces): a cross-validated
  linear probe (``evaluation.linear_probe``); chance is 0.5.
- identity (an image folder ``root/<person>/<image>``, the LFW layout):
  identification: each image whose person has another image is a query; its nearest neighbour
  by cosine similarity among all other images (leave-one-out) must be the same person;
  verification: pairs scored by cosine similarity, ROC AUC and accuracy at a threshold chosen on
  the other folds (``evaluation.verification``); the pairs come from LFW's ``pairs.txt`` when
  given, otherwise every same-person pair plus as many random different-person pairs, in 10 folds.
"""

import os
from itertools import combinations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from minigan.apps import evaluation, features, trained
from minigan.apps.commands import crop_setting, model_kinds
from minigan.data import load_image_folder, load_lfw_subset

UNIT_RANGE = (0.0, 1.0)


def model_extractor_name(kind, model):
    """Column name of a model's features: ``'vae (mu)'``, ``'ae (code)'``, ``'dcgan (D penultimate)'``."""
    if hasattr(model, "discriminator"):
        return f"{kind} (D penultimate)"
    return f"{kind} (mu)" if hasattr(model, "reparameterize") else f"{kind} (code)"


def extract_all(images, models=None, pca_components=64):
    """``{name: (N, D) features}`` for the base extractors and every ``{kind: model}`` in ``models``."""
    table = {"pixels": features.pixel_features(images),
             "pca": features.pca_features(images, pca_components),
             "hog": features.hog_features(images)}
    for kind, model in (models or {}).items():
        extract = features.discriminator_features if hasattr(model, "discriminator") else features.encoder_features
        table[model_extractor_name(kind, model)] = extract(model, images)
    return table


# --- face vs non-face -------------------------------------------------------------------------------
def face_vs_nonface(features_by_name, labels, folds=5, seed=0):
    """Linear-probe accuracy (mean ± std over folds) and ROC AUC of the held-out scores, per extractor."""
    results = {}
    for name, values in features_by_name.items():
        probe = evaluation.linear_probe(values, labels, folds, seed)
        false_positive, true_positive, _ = roc_curve(labels, probe["scores"])
        results[name] = {"dims": values.shape[1], "accuracy": probe["accuracy"],
                         "accuracy_std": probe["accuracy_std"],
                         "auc": float(roc_auc_score(labels, probe["scores"])),
                         "roc": (false_positive, true_positive)}
    return results


# --- identity -----------------------------------------------------------------------------------------
def identification(features_by_name, labels):
    """Leave-one-out 1-nearest-neighbour (cosine) identification accuracy per extractor.

    Only images whose person has at least one other image are queries. Chance is the expected
    accuracy of a random neighbour, the mean over queries of ``(n_person - 1) / (N - 1)``.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    queries = counts[labels] >= 2
    if not queries.any():
        raise ValueError("identification needs at least one person with two or more images")
    results = {"chance": float(np.mean((counts[labels][queries] - 1) / (len(labels) - 1))),
               "queries": int(queries.sum())}
    for name, values in features_by_name.items():
        nearest = nearest_other(evaluation.unit_rows(values))
        results[name] = float(np.mean(labels[nearest][queries] == labels[queries]))
    return results


def nearest_other(unit, chunk=1024):
    """For each row of ``unit`` (unit vectors), the index of the most cosine-similar *other* row,
    computed ``chunk`` rows at a time so large folders never hold the full N x N matrix."""
    nearest = np.empty(len(unit), dtype=np.int64)
    for start in range(0, len(unit), chunk):
        similarity = unit[start:start + chunk] @ unit.T
        rows = np.arange(len(similarity))
        similarity[rows, start + rows] = -np.inf
        nearest[start:start + chunk] = similarity.argmax(axis=1)
    return nearest


def sample_pairs(labels, folds=10, max_same=3000, seed=0):
    """Same-person pairs (all of them, or a random ``max_same``) plus as many random different-person
    pairs, each pair in a random fold. Returns ``(first, second, same, fold)`` arrays."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    same_pairs = [pair for person in np.unique(labels)
                  for pair in combinations(np.flatnonzero(labels == person), 2)]
    if not same_pairs or len(np.unique(labels)) < 2:
        raise ValueError("verification needs a person with two or more images and at least two people")
    if len(same_pairs) > max_same:
        same_pairs = [same_pairs[k] for k in rng.choice(len(same_pairs), max_same, replace=False)]
    counts = np.unique(labels, return_counts=True)[1]
    wanted = min(len(same_pairs), (len(labels) ** 2 - int(np.sum(counts ** 2))) // 2)
    different = set()
    while len(different) < wanted:
        i, j = sorted(rng.choice(len(labels), 2, replace=False))
        if labels[i] != labels[j]:
            different.add((int(i), int(j)))
    pairs = np.array(same_pairs + sorted(different))
    same = np.arange(len(pairs)) < len(same_pairs)
    fold = rng.permutation(len(pairs)) % folds
    return pairs[:, 0], pairs[:, 1], same, fold


def parse_pairs(path):
    """LFW ``pairs.txt``: a header ``folds count`` (or just ``count``: one fold), then per fold ``count``
    same-person lines ``name i j`` followed by ``count`` different-person lines ``name1 i name2 j``.

    Returns a list of ``(name1, index1, name2, index2, fold)`` tuples (image indices are 1-based).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pairs file not found: {path}")
    with open(path) as file:
        lines = [line.split() for line in file if line.strip()]
    if not lines or not 1 <= len(lines[0]) <= 2 or not all(v.isdigit() for v in lines[0]):
        raise ValueError(f"{path}: the first line must be 'folds count' or 'count'")
    folds, count = (int(lines[0][0]), int(lines[0][1])) if len(lines[0]) == 2 else (1, int(lines[0][0]))
    body = lines[1:]
    if len(body) != 2 * folds * count:
        raise ValueError(f"{path}: header promises {folds} folds x {2 * count} pairs, found {len(body)} pair lines")
    pairs = []
    for number, fields in enumerate(body, start=2):
        fold, same_block = divmod(number - 2, 2 * count)
        expected = 3 if same_block < count else 4
        if len(fields) != expected or not all(fields[i].isdigit() for i in ((1, 2) if expected == 3 else (1, 3))):
            kind = "same-person 'name i j'" if expected == 3 else "different-person 'name1 i name2 j'"
            raise ValueError(f"{path}, line {number}: expected a {kind} line, got {' '.join(fields)!r}")
        if expected == 3:
            pairs.append((fields[0], int(fields[1]), fields[0], int(fields[2]), fold))
        else:
            pairs.append((fields[0], int(fields[1]), fields[2], int(fields[3]), fold))
    return pairs


def lfw_image_path(root, name, index):
    """``root/<name>/<name>_<index:04d>.jpg``, the LFW file naming."""
    return os.path.join(root, name, f"{name}_{index:04d}.jpg")


def pairs_dataset(root, pairs_path, image_size=32, center_crop="square", cache_dir=None):
    """The distinct images named by a pairs file, read through the folder's image cache (grayscale in
    [0, 1]), and the pairs as index arrays ``(first, second, same, fold)``."""
    pairs = parse_pairs(pairs_path)
    keys = sorted({(name, index) for a, i, b, j, _ in pairs for name, index in ((a, i), (b, j))})
    names = [os.path.relpath(lfw_image_path(root, name, index), root) for name, index in keys]
    data = load_image_folder(root, image_size, 1, UNIT_RANGE, center_crop, cache_dir=cache_dir)
    row = {name: i for i, name in enumerate(data.files)}
    missing = [name for name in names if name not in row]
    if missing:
        raise ValueError(f"{len(missing)} image(s) named in {pairs_path} are missing or unreadable, "
                         f"e.g. {os.path.join(root, missing[0])}")
    position = {key: i for i, key in enumerate(keys)}
    first = np.array([position[(a, i)] for a, i, _, _, _ in pairs])
    second = np.array([position[(b, j)] for _, _, b, j, _ in pairs])
    same = np.array([a == b for a, _, b, _, _ in pairs])
    fold = np.array([f for *_, f in pairs])
    return data[np.array([row[name] for name in names])], (first, second, same, fold)


def verify_all(features_by_name, pairs):
    """``evaluation.verification`` of the cosine similarity of every pair, per extractor."""
    first, second, same, fold = pairs
    results = {}
    for name, values in features_by_name.items():
        unit = evaluation.unit_rows(values)
        scores = np.sum(unit[first] * unit[second], axis=1)
        results[name] = evaluation.verification(scores, same, fold)
    return results


# --- reports ------------------------------------------------------------------------------------------
def face_table(results, chance):
    """Markdown table: extractor, dimensions, probe accuracy (± std over folds), ROC AUC."""
    rows = [(name, r["dims"], f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}", r["auc"])
            for name, r in results.items()]
    rows.append(("chance", "-", f"{chance:.3f}", 0.5))
    return evaluation.markdown_table(["features", "dims", "face/non-face accuracy", "ROC AUC"], rows)


def identity_table(identified, verified, dims):
    """Markdown table: extractor, dimensions, 1-NN identification, verification AUC and accuracy."""
    rows = [(name, dims[name], identified[name], verified[name]["auc"],
             f"{verified[name]['accuracy']:.3f} ± {verified[name]['accuracy_std']:.3f}") for name in verified]
    rows.append(("chance", "-", identified["chance"], 0.5, "0.500"))
    return evaluation.markdown_table(
        ["features", "dims", "identification (1-NN)", "verification AUC", "verification accuracy"], rows)


def save_roc_plot(path, curves, title):
    """One ROC curve per extractor (``curves``: name -> (auc, (false positive rate, true positive rate)))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure, axis = plt.subplots(figsize=(5, 5))
    for name, (auc, (fpr, tpr)) in curves.items():
        axis.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})", linewidth=1.2)
    axis.plot([0, 1], [0, 1], "k:", linewidth=0.8, label="chance")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- the two experiments ------------------------------------------------------------------------------
def load_people(folder, image_size=32, center_crop="square", cache_dir=None):
    """A folder with one subfolder per person, grayscale in [0, 1]; at least two people."""
    data = load_image_folder(folder, image_size, 1, UNIT_RANGE, center_crop, cache_dir=cache_dir)
    if len(data.classes) < 2:
        raise ValueError(f"{folder} holds one person ({data.classes[0]}); identity needs a subfolder per person")
    return data


def recognize_faces(data, models=None, folds=5, seed=0):
    """Face vs non-face on ``data`` (the embedded LFW subset with non-faces); ``models``: name -> model."""
    results = face_vs_nonface(extract_all(data.images, models), data.labels, folds, seed)
    return {"task": "face-vs-nonface", "images": len(data), "folds": folds,
            "chance": evaluation.chance_accuracy(data.labels), "results": results}


def recognize_identities(data, models=None, pair_data=None, seed=0):
    """Identification (leave-one-out 1-NN) on ``data`` (``load_people``) and verification on pairs.

    ``pair_data`` is ``pairs_dataset(...)`` (the images and pairs of an LFW ``pairs.txt``); without it
    the pairs are ``sample_pairs`` of ``data``.
    """
    table = extract_all(data.images, models)
    identified = identification(table, data.labels)
    if pair_data is None:
        pairs, pair_table = sample_pairs(data.labels, seed=seed), table
    else:
        pair_images, pairs = pair_data
        pair_table = extract_all(pair_images, models)
    verified = verify_all(pair_table, pairs)
    return {"task": "identity", "images": len(data), "people": len(data.classes), "pairs": len(pairs[0]),
            "pairs_source": "pairs file" if pair_data is not None else "sampled", "identification": identified,
            "verification": verified, "dims": {name: values.shape[1] for name, values in table.items()}}


# --- command line -------------------------------------------------------------------------------------
def run_command(args):
    """``minigan recognize``: the table on stdout; recognition.json, recognition.md and roc.png in ``--out``."""
    if args.pairs and args.data == "lfw-subset":
        raise ValueError("--pairs needs --data FOLDER (a folder with one subfolder per person)")
    face_task = args.data == "lfw-subset"
    if face_task:
        data = load_lfw_subset(args.image_size, value_range=UNIT_RANGE, include_nonfaces=True)
    else:
        data = load_people(args.data, args.image_size, crop_setting(args), args.cache_dir)
    models = trained.obtain_models(data.images, model_kinds(args.models), args.checkpoint, args.steps,
                                   args.seed)
    if face_task:
        report = recognize_faces(data, models, args.folds, args.seed)
        table = face_table(report["results"], report["chance"])
        curves = {name: (r["auc"], r["roc"]) for name, r in report["results"].items()}
        title = "face vs non-face (held-out probe scores)"
    else:
        pair_data = (pairs_dataset(args.data, args.pairs, args.image_size, crop_setting(args), args.cache_dir)
                     if args.pairs else None)
        report = recognize_identities(data, models, pair_data, args.seed)
        table = identity_table(report["identification"], report["verification"], report["dims"])
        curves = {name: (r["auc"], r["roc"]) for name, r in report["verification"].items()}
        title = f"verification ({report['pairs']} pairs, cosine similarity)"
    report["pairs_file"] = args.pairs
    report["models"] = {"trained_steps": None if args.checkpoint else args.steps, "checkpoints": args.checkpoint,
                        "names": list(models)}
    os.makedirs(args.out, exist_ok=True)
    evaluation.write_json(os.path.join(args.out, "recognition.json"), report)
    with open(os.path.join(args.out, "recognition.md"), "w") as file:
        file.write(table + "\n")
    save_roc_plot(os.path.join(args.out, "roc.png"), curves, title)
    print(table)
    print(f"minigan: wrote recognition.json, recognition.md and roc.png to {args.out}")
    return 0
