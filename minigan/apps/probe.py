"""Expression / attribute recognition from latents: does a VAE's code know what the labels are?

Given a folder ``root/<label>/<image>``, a VAE is trained on the images without their labels
(or loaded from ``--checkpoint``), each image is encoded to its posterior mean ``mu``, and a
linear probe (``evaluation.linear_probe``: standardise, logistic regression, stratified k-fold)
predicts the label from ``mu``. The same probe runs on raw pixels, PCA and HOG for comparison.
The confusion matrix ``M[i, j]`` counts images of true class i predicted as class j on the
held-out folds; chance is the majority-class fraction.
"""

import os

import numpy as np

from minigan.apps import evaluation, trained
from minigan.apps.commands import crop_setting, model_kinds
from minigan.apps.recognition import extract_all
from minigan.data import load_image_folder

UNIT_RANGE = (0.0, 1.0)


def confusion_matrix(labels, predictions, classes):
    """``M[i, j]`` = number of images of class i predicted as class j."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def probe_features(features_by_name, labels, folds=5, seed=0):
    """``{name: {'dims', 'accuracy', 'accuracy_std', 'confusion'}}`` of the linear probe per extractor."""
    classes = int(np.max(labels)) + 1
    results = {}
    for name, values in features_by_name.items():
        probe = evaluation.linear_probe(values, labels, folds, seed)
        results[name] = {"dims": values.shape[1], "accuracy": probe["accuracy"], "accuracy_std": probe["accuracy_std"],
                         "confusion": confusion_matrix(labels, probe["predictions"], classes)}
    return results


def load_labelled_folder(folder, image_size=32, center_crop="square", cache_dir=None):
    """The folder's images in [0, 1] with labels; at least two classes of at least two images each."""
    data = load_image_folder(folder, image_size, 1, UNIT_RANGE, center_crop, cache_dir=cache_dir)
    if len(data.classes) < 2:
        raise ValueError(f"{folder} holds a single class ({data.classes[0]}); "
                         "the probe needs one subfolder per class, at least two")
    evaluation.check_labels(data.labels, folds=2)
    return data


def probe_table(results, chance):
    """Markdown table: extractor, dimensions, probe accuracy (± std over folds), and the chance row."""
    rows = [(name, r["dims"], f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}") for name, r in results.items()]
    rows.append(("chance (majority class)", "-", f"{chance:.3f}"))
    return evaluation.markdown_table(["features", "dims", "probe accuracy"], rows)


def save_confusion_matrices(path, results, classes):
    """One confusion-matrix panel per extractor, rows = true class, columns = predicted class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure, axes = plt.subplots(1, len(results), figsize=(2.9 * len(results), 3.6), squeeze=False)
    for axis, (name, result) in zip(axes[0], results.items()):
        matrix = result["confusion"]
        axis.imshow(matrix, cmap="Blues", vmin=0)
        for (i, j), count in np.ndenumerate(matrix):
            axis.text(j, i, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > matrix.max() / 2 else "black")
        axis.set_xticks(range(len(classes)), classes, rotation=45, fontsize=7)
        axis.set_yticks(range(len(classes)), classes, fontsize=7)
        axis.set_title(f"{name}\nacc {result['accuracy']:.3f}", fontsize=9)
        axis.set_xlabel("predicted", fontsize=8)
    axes[0, 0].set_ylabel("true", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_command(args):
    """``minigan probe``: probe.json, probe.md and confusion.png in ``--out``; the table on stdout."""
    data = load_labelled_folder(args.folder, args.image_size, crop_setting(args), args.cache_dir)
    models = trained.obtain_models(data.images, model_kinds(args.models), args.checkpoint, args.steps,
                                   args.seed)
    results = probe_features(extract_all(data.images, models), data.labels, args.folds, args.seed)
    chance = evaluation.chance_accuracy(data.labels)
    table = probe_table(results, chance)
    os.makedirs(args.out, exist_ok=True)
    evaluation.write_json(os.path.join(args.out, "probe.json"), {
        "folder": args.folder, "classes": data.classes, "images": len(data), "chance": chance,
        "models": list(models), "trained_steps": None if args.checkpoint else args.steps, "results": results})
    with open(os.path.join(args.out, "probe.md"), "w") as file:
        file.write(table + "\n")
    save_confusion_matrices(os.path.join(args.out, "confusion.png"), results, data.classes)
    print(table)
    print(f"minigan: wrote probe.json, probe.md and confusion.png to {args.out}")
    return 0
