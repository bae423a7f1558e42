"""Latent-space arithmetic: move a face along the direction that separates two labels.

With an AE/VAE encoder (codes ``mu(x)``) and images labelled ``source`` and ``target``, the
attribute vector is the difference of the class means of the codes,

    v = mean_{x in target} mu(x) - mean_{x in source} mu(x),

and a face x is edited to ``decode(mu(x) + s v)`` for strengths s (s = 0 is the plain
reconstruction, s = 1 moves the code by the whole mean difference). Interpolation strips
between two codes are ``minigan interpolate`` (the training CLI).
"""

import numpy as np

from minigan.apps import evaluation, trained
from minigan.apps.commands import crop_setting, model_kinds
from minigan.apps.features import encoder_features, hog_features
from minigan.apps.figures import save_comparison
from minigan.apps.probe import load_labelled_folder
from minigan.data import to_unit_range
from minigan.train.runner import generate


def class_index(classes, name):
    if name not in classes:
        raise ValueError(f"no class {name!r}; the folder has {', '.join(classes)}")
    return classes.index(name)


def attribute_vector(model, images, labels, source, target):
    """``mean mu(target images) - mean mu(source images)`` (``source``/``target`` are label integers)."""
    codes = encoder_features(model, images)
    labels = np.asarray(labels)
    return codes[labels == target].mean(axis=0) - codes[labels == source].mean(axis=0)


def apply_attribute(model, images, vector, strengths):
    """Decoded ``mu(x) + s v`` in [0, 1], ``(len(images) * len(strengths), C, H, W)``, one row per face."""
    codes = encoder_features(model, images)
    edited = np.concatenate([codes[i:i + 1] + np.asarray(strengths)[:, None] * vector[None]
                             for i in range(len(codes))]).astype(np.float32)
    return to_unit_range(generate(model, edited), model.value_range)


def target_rates(images, labels, source, target, edited_sets):
    """For each set of edited images (N, C, H, W) in [0, 1], the fraction that a HOG linear classifier,
    fitted on the real ``source`` and ``target`` images, calls ``target``: an independent judge of the edit."""
    labels = np.asarray(labels)
    chosen = (labels == source) | (labels == target)
    judge = evaluation.fit_linear(hog_features(images[chosen]), labels[chosen])
    return [float(np.mean(judge.predict(hog_features(edited)) == target)) for edited in edited_sets]


def parse_strengths(text):
    """'0,0.5,1' -> array([0, 0.5, 1]); a clear ValueError for anything else."""
    try:
        return np.array([float(item) for item in text.split(",")], dtype=np.float32)
    except ValueError:
        raise ValueError(f"--strengths must be comma-separated numbers, got {text!r}") from None


def run_command(args):
    """``minigan attribute``: every ``--source`` face edited at each strength; a grid of the first ``--n``
    (the original, then each strength) and, on stdout, per strength, the fraction of all edited faces
    that a HOG classifier judges to be ``--target``."""
    strengths = parse_strengths(args.strengths)
    data = load_labelled_folder(args.folder, args.image_size, crop_setting(args), args.cache_dir)
    source, target = class_index(data.classes, args.source), class_index(data.classes, args.target)
    models = trained.obtain_models(data.images, model_kinds(args.models), args.checkpoint, args.steps,
                                   args.seed)
    encoders = {name: model for name, model in models.items() if not hasattr(model, "generator")}
    if len(encoders) != 1:
        raise ValueError(f"attribute arithmetic needs exactly one AE/VAE, got {', '.join(models) or 'none'}")
    model = next(iter(encoders.values()))
    vector = attribute_vector(model, data.images, data.labels, source, target)
    faces = data.images[data.labels == source]
    edited = apply_attribute(model, faces, vector, strengths).reshape(len(faces), len(strengths), *faces.shape[1:])
    shown = slice(0, args.n)
    columns = {"original": faces[shown], **{f"s = {s:g}": edited[shown, k] for k, s in enumerate(strengths)}}
    save_comparison(args.out, columns, title=f"{args.source} + s ({args.target} - {args.source})")
    rates = target_rates(data.images, data.labels, source, target, [edited[:, k] for k in range(len(strengths))])
    print(evaluation.markdown_table(["strength s", f"'{args.source}' faces judged '{args.target}' (HOG probe)"],
                                    [(f"{s:g}", rate) for s, rate in zip(strengths, rates)]))
    print(f"minigan: |v| = {np.linalg.norm(vector):.3f}; edited {len(faces)} '{args.source}' faces; "
          f"wrote {len(columns['original'])} of them to {args.out}")
    return 0
