"""Scores shared by the applications: a cross-validated linear probe, verification by cosine similarity,
markdown tables and JSON output.

Linear probe: standardise each feature (mean 0, variance 1, statistics from the training folds
only), then multinomial logistic regression ``p(y = c | f) = softmax(W f + b)_c`` with an L2
penalty, fitted on k - 1 folds and scored on the held-out fold (stratified k-fold). Accuracy is
the fraction of held-out images whose arg-max class is right; chance is the majority-class fraction.

Verification: a pair of images (i, j) scores ``s = cos(f_i, f_j) = f_i·f_j / (|f_i| |f_j|)``;
"same person" is predicted when ``s > t``. The ROC AUC is the probability that a random
same-person pair scores higher than a random different-person pair (0.5 = chance). The
accuracy uses the threshold ``t`` chosen on the other folds (the LFW protocol), so no fold is
scored with a threshold tuned on itself.
"""

import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def check_labels(labels, folds):
    """At least two classes with at least two examples each; returns the number of folds to use."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"a classifier needs at least two classes, got {len(classes)}")
    if counts.min() < 2:
        raise ValueError(f"every class needs at least two images for cross-validation; the smallest has {counts.min()}")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    return min(folds, int(counts.min()))


def fit_linear(features, labels, penalty=1.0):
    """Standardisation + L2-penalised logistic regression fitted on (features, labels)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=penalty, max_iter=2000)).fit(features, labels)


def linear_probe(features, labels, folds=5, seed=0, penalty=1.0):
    """Cross-validated logistic regression on ``features`` (N, D).

    Returns ``{'accuracy', 'accuracy_std', 'fold_accuracies', 'predictions', 'scores', 'folds'}``:
    the mean and spread of the per-fold accuracies, and the held-out prediction and score
    (the decision value ``w·f + b`` for two classes, else the winning class probability) of every image.
    """
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows for {len(labels)} labels")
    folds = check_labels(labels, folds)
    predictions = np.empty_like(labels)
    scores = np.empty(len(labels))
    accuracies = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, labels):
        model = fit_linear(features[train], labels[train], penalty)
        predictions[test] = model.predict(features[test])
        decision = model.decision_function(features[test])
        scores[test] = decision if decision.ndim == 1 else model.predict_proba(features[test]).max(axis=1)
        accuracies.append(float(np.mean(predictions[test] == labels[test])))
    return {"accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
            "fold_accuracies": accuracies, "predictions": predictions, "scores": scores, "folds": folds}


def chance_accuracy(labels):
    """Accuracy of always answering the most frequent class."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def unit_rows(features):
    """Each row divided by its Euclidean norm (zero rows stay zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def best_threshold(scores, same):
    """The threshold ``t`` maximising the accuracy of ``score > t`` on (scores, same); returns (t, accuracy).

    Sorted once: cutting after the k lowest scores, the accuracy is (negatives among the k lowest +
    positives among the rest) / P; only cuts between two different scores are thresholds.
    """
    order = np.argsort(scores, kind="stable")
    ordered, positive = np.asarray(scores, float)[order], np.asarray(same, bool)[order]
    negatives_below = np.concatenate([[0], np.cumsum(~positive)])
    positives_above = positive.sum() - np.concatenate([[0], np.cumsum(positive)])
    accuracy = (negatives_below + positives_above) / len(ordered)
    cut = np.arange(len(ordered) + 1)
    valid = (cut == 0) | (cut == len(ordered))
    valid[1:-1] = ordered[:-1] < ordered[1:]
    best = int(np.flatnonzero(valid)[np.argmax(accuracy[valid])])
    if best == 0:
        threshold = ordered[0] - 1.0
    elif best == len(ordered):
        threshold = ordered[-1] + 1.0
    else:
        threshold = (ordered[best - 1] + ordered[best]) / 2.0
    return float(threshold), float(accuracy[best])


def verification(scores, same, fold_of_pair):
    """ROC AUC over all pairs, and the mean accuracy over folds with thresholds from the other folds.

    ``scores`` (P,) similarities, ``same`` (P,) bools, ``fold_of_pair`` (P,) fold indices.
    """
    scores, same, fold_of_pair = np.asarray(scores, float), np.asarray(same, bool), np.asarray(fold_of_pair)
    if same.all() or not same.any():
        raise ValueError("verification needs both same-person and different-person pairs")
    fold_ids = np.unique(fold_of_pair)
    accuracies = []
    for fold in fold_ids:
        held = fold_of_pair == fold
        rest = ~held if len(fold_ids) > 1 else held
        threshold, _ = best_threshold(scores[rest], same[rest])
        accuracies.append(float(np.mean((scores[held] > threshold) == same[held])))
    false_positive, true_positive, _ = roc_curve(same, scores)
    return {"auc": float(roc_auc_score(same, scores)), "accuracy": float(np.mean(accuracies)),
            "accuracy_std": float(np.std(accuracies)), "roc": (false_positive, true_positive)}


def markdown_table(header, rows):
    """A GitHub markdown table; floats are printed with 3 decimals."""
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path, data):
    """Write ``data`` (NumPy numbers and arrays become plain numbers and lists) as indented JSON."""
    def plain(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"cannot write {type(value).__name__} to JSON")

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as file:
        json.dump(data, file, indent=2, default=plain)
