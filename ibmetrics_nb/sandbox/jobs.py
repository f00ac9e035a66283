"""Jobs that the sandbox serves, and generators of synthetic metrics payloads.

`default_jobs()` builds the catalogue that a sandbox serves unless it is
given other jobs. The example files in `data/` are served from their exact
bytes, so that defects of the published examples (a duplicate key, a missing
comma) reach the client as a real server would send them.

The generators build payloads of any size whose scores are consistent: each
precision, recall and F1 score is computed from the counts behind it, so a
client can be tested against numbers it can recompute.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

CLASSIFICATION_PROJECT = "user1/my-repo/fs/Instabase Drive/PaystubClassifier"
EXTRACTION_PROJECT = "user1/my-repo/fs/Instabase Drive/PaystubExtractor"

JOB_TYPES = ("training", "pruning", "evaluation")

CLASSIFICATION_EXAMPLE_FILE = "classification-training.json"
EXTRACTION_EXAMPLE_FILE = "extraction-training.json"
EXTRACTION_AS_DOCUMENTED_FILE = "extraction-training.as-documented.json"

# The job id of the classification example in the vendor's API reference.
CLASSIFICATION_EXAMPLE_JOB_ID = "dc991a28-bd92-47bb-ajj8-e0f2ca930e51"


@dataclass
class Job:
    """A job that the sandbox serves, identified by project, job id and job type.

    Attributes:
        project: the model project path, as sent in `model_project_path`.
        job_id: the job id, as sent in `job_id`.
        job_type: one of `training`, `pruning`, `evaluation`.
        payload: the finished result without the `status`/`state` envelope.
            The server sends `{"status": "OK", "state": "DONE", **payload}`, so
            `status` or `state` keys in the payload replace the envelope's values.
        running_polls: number of requests, counted per job, that receive
            `{"status": "OK", "state": "RUNNING"}` before the finished reply.
        final_state: `DONE` sends the payload. `ERROR` sends the v1 error style
            `{"status": "ERROR", "msg": error}`. Any other state (`FAILED`,
            `CANCELLED`, `PENDING`, ...) sends `{"status": "OK", "state":
            final_state, "msg": error}`, without `msg` when `error` is None.
        error: the message sent with a final state other than `DONE`.
        raw_body: exact bytes sent as the finished reply in place of the JSON
            encoding of `payload`, with content type application/json. The
            catalogue's file-based jobs set both, and `payload` then holds the
            parsed document for reference.
    """

    project: str
    job_id: str
    job_type: str = "training"
    payload: dict[str, Any] | None = None
    running_polls: int = 0
    final_state: str = "DONE"
    error: str | None = None
    raw_body: bytes | None = None

    def __post_init__(self) -> None:
        if not self.project or not self.job_id:
            raise ValueError(
                f"Invalid job {self.job_id!r} in project {self.project!r}: "
                "project and job_id must be non-empty strings."
            )
        if self.job_type not in JOB_TYPES:
            raise ValueError(
                f"Invalid job_type {self.job_type!r} for job {self.job_id!r}: "
                f"expected one of {', '.join(JOB_TYPES)}."
            )
        if not isinstance(self.running_polls, int) or self.running_polls < 0:
            raise ValueError(
                f"Invalid running_polls {self.running_polls!r} for job {self.job_id!r}: "
                "expected an integer >= 0."
            )
        if not self.final_state:
            raise ValueError(f"Missing final_state for job {self.job_id!r}.")
        if self.final_state == "DONE" and self.error is not None:
            raise ValueError(
                f"Job {self.job_id!r} has an error message but final_state DONE, "
                "which never sends it: set final_state to ERROR, FAILED or another state."
            )

    @property
    def key(self) -> tuple[str, str, str]:
        """The (project, job_id, job_type) triple that requests name the job by."""
        return (self.project, self.job_id, self.job_type)


def read_data_file(name: str) -> bytes:
    """Return the bytes of one of the example files in the `data/` folder."""
    return resources.files(__package__).joinpath("data", name).read_bytes()


def splice_envelope(document: bytes) -> bytes:
    """Insert `"status": "OK", "state": "DONE"` at the start of a JSON object's bytes.

    The rest of the document is kept byte for byte, so duplicate keys and
    syntax errors in it reach the client unchanged.
    """
    stripped = document.lstrip()
    if not stripped.startswith(b"{"):
        raise ValueError("Cannot add the envelope: the document does not start with a JSON object '{'.")

    rest = stripped[1:]
    envelope = b'{"status": "OK", "state": "DONE"'
    if rest.lstrip().startswith(b"}"):
        return envelope + rest
    return envelope + b", " + rest


def _file_job(project: str, job_id: str, file_name: str, **fields: Any) -> Job:
    """Build a job whose finished reply is the example file's bytes with the envelope."""
    document = read_data_file(file_name)
    try:
        payload = json.loads(document)
    except json.JSONDecodeError:
        # The as-documented extraction example is invalid JSON on purpose.
        payload = None
    return Job(project, job_id, payload=payload, raw_body=splice_envelope(document), **fields)


# ---------------------------------------------------------------------------
# Scores


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"


def _ratio(numerator: float, denominator: float) -> float:
    # A class that is never predicted has precision 0, as in scikit-learn's
    # default zero_division behaviour.
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _classifier_rows(
    names: list[str],
    true_positives: list[int],
    supports: list[int],
    predicted: list[int],
    calibration_errors: list[str],
) -> list[list[Any]]:
    """Build the rows of a classifier metrics table from per-class counts.

    `supports[i]` is the row sum of the confusion matrix for class i and
    `predicted[i]` its column sum. Columns follow the header order
    Class Type, F1 Score, Precision, Recall, Support, ECE.
    """
    rows: list[list[Any]] = []
    precisions: list[float] = []
    recalls: list[float] = []
    f1_scores: list[float] = []
    for name, tp, support, predicted_count, ece in zip(
        names, true_positives, supports, predicted, calibration_errors
    ):
        precision = _ratio(tp, predicted_count)
        recall = _ratio(tp, support)
        f1 = _f1(precision, recall)
        precisions.append(precision)
        recalls.append(recall)
        f1_scores.append(f1)
        rows.append([name, _percent(f1), _percent(precision), _percent(recall), float(support), ece])

    count = len(names)
    total = sum(supports)
    rows.append([
        "macro avg",
        _percent(sum(f1_scores) / count),
        _percent(sum(precisions) / count),
        _percent(sum(recalls) / count),
        float(total),
        "N/A",
    ])

    def weighted(values: list[float]) -> float:
        return _ratio(sum(value * support for value, support in zip(values, supports)), total)

    rows.append([
        "weighted avg",
        _percent(weighted(f1_scores)),
        _percent(weighted(precisions)),
        _percent(weighted(recalls)),
        float(total),
        "N/A",
    ])
    return rows


def _extraction_rows(
    names: list[str],
    true_positives: list[int],
    false_positives: list[int],
    supports: list[int],
    calibration_errors: list[str] | None,
) -> list[list[Any]]:
    """Build the rows of an extraction metrics table, Micro and Macro Average first.

    Columns follow the header order Field Name, Precision, Recall, F1 Score,
    Support, then ECE when `calibration_errors` is given.
    """
    with_ece = calibration_errors is not None
    field_rows: list[list[Any]] = []
    precisions: list[float] = []
    recalls: list[float] = []
    f1_scores: list[float] = []
    for index, (name, tp, fp, support) in enumerate(zip(names, true_positives, false_positives, supports)):
        precision = _ratio(tp, tp + fp)
        recall = _ratio(tp, support)
        f1 = _f1(precision, recall)
        precisions.append(precision)
        recalls.append(recall)
        f1_scores.append(f1)
        row: list[Any] = [name, _percent(precision), _percent(recall), _percent(f1), support]
        if with_ece:
            row.append(calibration_errors[index])
        field_rows.append(row)

    micro_precision = _ratio(sum(true_positives), sum(true_positives) + sum(false_positives))
    micro_recall = _ratio(sum(true_positives), sum(supports))
    micro: list[Any] = [
        "Micro Average",
        _percent(micro_precision),
        _percent(micro_recall),
        _percent(_f1(micro_precision, micro_recall)),
        sum(supports),
    ]
    count = len(names)
    macro: list[Any] = [
        "Macro Average",
        _percent(sum(precisions) / count),
        _percent(sum(recalls) / count),
        _percent(sum(f1_scores) / count),
        "N/A",
    ]
    if with_ece:
        micro.append("N/A")
        macro.append("N/A")
    return [micro, macro, *field_rows]


# ---------------------------------------------------------------------------
# Tables shared by both generators


def _loss_curve_table(rng: random.Random, epochs: int) -> dict[str, Any]:
    train_loss = rng.uniform(0.5, 0.9)
    eval_loss = rng.uniform(0.3, 0.6)
    train_row: list[Any] = ["Train"]
    eval_row: list[Any] = ["Eval"]
    for _ in range(epochs):
        train_row.append(round(train_loss, 4))
        eval_row.append(round(eval_loss, 4))
        train_loss *= rng.uniform(0.4, 0.8)
        eval_loss *= rng.uniform(0.85, 1.1)
    return {
        "title": "Train-Validation Curve",
        "subtitle": "",
        "headers": ["Dataset Split", "Epoch 1", *(str(epoch) for epoch in range(2, epochs + 1))],
        "rows": [train_row, eval_row],
        "show": False,
    }


def _hyperparameter_table(rng: random.Random, trials: int, search_trials: int) -> dict[str, Any]:
    rows: list[tuple[float, list[str]]] = []
    for number in sorted(rng.sample(range(search_trials), trials)):
        objective = rng.uniform(0.8, 1.0)
        cells = [
            str(number),
            str(10 ** rng.uniform(-6, -4.5)),
            str(rng.randint(4, 24)),
            str(rng.uniform(0.3, 0.7)),
            str(rng.choice([1, 2])),
            f"{objective:.4f}",
        ]
        rows.append((objective, cells))
    rows.sort(key=lambda item: item[0], reverse=True)
    return {
        "title": "Hyperparameter search results",
        "subtitle": (
            f"Top {trials} runs from hyperparameter search, "
            "sorted by the objective value on validation dataset"
        ),
        "headers": [
            "Trial number",
            "learning_rate",
            "num_train_epochs",
            "class_weights_ins_power",
            "gradient_accumulation_steps",
            "Objective value",
        ],
        "rows": [cells for _, cells in rows],
    }


def _hyperparams(model_name: str, task_name: str, task_type: str, epochs: int, search_trials: int) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "model_source": "instabase",
        "task_name": task_name,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 512,
        "chunk_overlap": 64,
        "learning_rate": 5e-05,
        "lr_scheduler_type": "constant_with_warmup",
        "use_mixed_precision": True,
        "loss_type": "ce_ins",
        "num_train_epochs": epochs,
        "task_type": task_type,
        "npages_to_filter": 20,
        "class_weights_ins_power": 0.3,
        "do_hyperparam_optimization": search_trials > 0,
        "do_calibration": True,
        "hp_search_num_trials": search_trials,
        "calibration_model": "PlattScalingCalibrationModel",
        "hp_search_param_space": [],
    }


def _check_sizes(count: int, count_name: str, epochs: int, trials: int) -> None:
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"Invalid {count_name} {count!r}: expected an integer >= 1.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Invalid epochs {epochs!r}: expected an integer >= 1.")
    if not isinstance(trials, int) or trials < 0:
        raise ValueError(f"Invalid trials {trials!r}: expected an integer >= 0.")


# ---------------------------------------------------------------------------
# Classification


@dataclass
class _SparseConfusion:
    """A confusion matrix stored by row as the diagonal plus the off-diagonal cells."""

    supports: list[int]
    diagonal: list[int]
    off_diagonal: list[dict[int, int]]
    predicted: list[int]

    def dense_rows(self) -> list[list[int]]:
        size = len(self.supports)
        rows = []
        for index in range(size):
            row = [0] * size
            row[index] = self.diagonal[index]
            for column, count in self.off_diagonal[index].items():
                row[column] = count
            rows.append(row)
        return rows


def _random_confusion(rng: random.Random, size: int, min_support: int, max_support: int) -> _SparseConfusion:
    """Draw a mostly diagonal confusion matrix: each class is mistaken for at most 3 others."""
    supports: list[int] = []
    diagonal: list[int] = []
    off_diagonal: list[dict[int, int]] = []
    predicted = [0] * size
    for index in range(size):
        support = rng.randint(min_support, max_support)
        correct = support if size == 1 else round(support * rng.uniform(0.7, 1.0))
        errors: dict[int, int] = {}
        if correct < support:
            confusable = []
            for _ in range(min(3, size - 1)):
                other = rng.randrange(size - 1)
                confusable.append(other + 1 if other >= index else other)
            for _ in range(support - correct):
                other = rng.choice(confusable)
                errors[other] = errors.get(other, 0) + 1
                predicted[other] += 1
        predicted[index] += correct
        supports.append(support)
        diagonal.append(correct)
        off_diagonal.append(errors)
    return _SparseConfusion(supports, diagonal, off_diagonal, predicted)


def _classifier_table(title: str, level: str, rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "subtitle": (
            f"Performance of the Classifier model measured on the {level} level. "
            f"Measure how accurately model is classifing each {level} to the given class"
        ),
        "headers": ["Class Type", "F1 Score", "Precision", "Recall", "Support", "ECE"],
        "rows": rows,
    }


def _confusion_table(names: list[str], rows: list[list[int]]) -> dict[str, Any]:
    return {
        "title": "Confusion Matrix",
        "subtitle": "",
        "headers": ["class name", *names],
        "rows": [[name, *row] for name, row in zip(names, rows)],
        "show": False,
    }


def make_classification_payload(n_classes: int, seed: int = 0, *, epochs: int = 5, trials: int = 5) -> dict[str, Any]:
    """Generate a finished classification payload with `n_classes` classes.

    The output depends only on the arguments. Class names are `class_0001`,
    `class_0002`, ... The record-wise scores are computed from the published
    confusion matrix, whose row sums are the supports and the test counts.
    The chunk-wise scores come from a second, unpublished chunk-level matrix.
    `trials=0` leaves out the hyperparameter search table.
    """
    _check_sizes(n_classes, "n_classes", epochs, trials)
    rng = random.Random(seed)
    names = [f"class_{index:04d}" for index in range(1, n_classes + 1)]

    records = _random_confusion(rng, n_classes, 5, 40)
    record_eces = [f"{rng.uniform(0.01, 0.25):.3f}" for _ in names]
    record_rows = _classifier_rows(names, records.diagonal, records.supports, records.predicted, record_eces)

    chunks = _random_confusion(rng, n_classes, 10, 120)
    chunk_eces = [f"{rng.uniform(0.01, 0.25):.3f}" for _ in names]
    chunk_rows = _classifier_rows(names, chunks.diagonal, chunks.supports, chunks.predicted, chunk_eces)

    metrics = [
        _classifier_table("Record-wise Classifier Metrics", "Record", record_rows),
        _classifier_table("Chunk-wise Classifier Metrics", "Chunk", chunk_rows),
        _loss_curve_table(rng, epochs),
        _confusion_table(names, records.dense_rows()),
    ]
    search_trials = max(20, trials) if trials else 0
    if trials:
        metrics.append(_hyperparameter_table(rng, trials, search_trials))

    train_count = {name: rng.randint(2 * support, 4 * support) for name, support in zip(names, records.supports)}
    test_count = dict(zip(names, records.supports))
    return {
        "metrics": metrics,
        "platform_version": "23.05.0",
        "ibformers_version": "2.1.0",
        "train_count": train_count,
        "train_total": sum(train_count.values()),
        "train_datasets": ["Sandbox Documents"],
        "test_count": test_count,
        "test_total": sum(test_count.values()),
        "test_datasets": ["Sandbox Documents"],
        "hyperparams": _hyperparams(
            "layoutlm-base-uncased", "SEQUENCE_CLASSIFICATION", "classification", epochs, search_trials
        ),
    }


# ---------------------------------------------------------------------------
# Extraction


def _extraction_table(title: str, subtitle: str, with_ece: bool, rows: list[list[Any]]) -> dict[str, Any]:
    headers = ["Field Name", "Precision", "Recall", "F1 Score", "Support"]
    if with_ece:
        headers.append("ECE")
    return {"title": title, "subtitle": subtitle, "headers": headers, "rows": rows}


def _random_field_counts(rng: random.Random, supports: list[int]) -> tuple[list[int], list[int]]:
    """Draw true and false positives for fields with the given supports."""
    true_positives = [round(support * rng.uniform(0.7, 1.0)) for support in supports]
    false_positives = [rng.randint(0, max(1, support // 5)) for support in supports]
    return true_positives, false_positives


def make_extraction_payload(n_fields: int, seed: int = 0, *, epochs: int = 5, trials: int = 5) -> dict[str, Any]:
    """Generate a finished extraction payload with `n_fields` fields.

    The output depends only on the arguments. Field names are `field_0001`,
    `field_0002`, ... Each table starts with its "Micro Average" and
    "Macro Average" rows, as the vendor's example does, and every score is
    computed from drawn true positive, false positive and support counts.
    `trials=0` leaves out the hyperparameter search table.
    """
    _check_sizes(n_fields, "n_fields", epochs, trials)
    rng = random.Random(seed)
    names = [f"field_{index:04d}" for index in range(1, n_fields + 1)]

    field_supports = [rng.randint(5, 40) for _ in names]
    field_tp, field_fp = _random_field_counts(rng, field_supports)
    field_eces = [f"{rng.uniform(0.01, 0.25):.3f}" for _ in names]

    token_supports = [support * rng.randint(1, 6) for support in field_supports]
    token_tp, token_fp = _random_field_counts(rng, token_supports)

    metrics = [
        _extraction_table(
            "Individual fields level metrics",
            "Accuracy scores for individual fields learned by the model",
            True,
            _extraction_rows(names, field_tp, field_fp, field_supports, field_eces),
        ),
        _extraction_table(
            "Individual token level metrics",
            "Accuracy scores for individual fields learned by the model on token level",
            False,
            _extraction_rows(names, token_tp, token_fp, token_supports, None),
        ),
        _loss_curve_table(rng, epochs),
    ]
    search_trials = max(20, trials) if trials else 0
    if trials:
        metrics.append(_hyperparameter_table(rng, trials, search_trials))

    # Every test record is one document, and a field's support counts the
    # documents that contain it, so the test total is at least the largest support.
    test_total = max(field_supports) + rng.randint(0, 5)
    train_total = rng.randint(2 * test_total, 4 * test_total)
    return {
        "metrics": metrics,
        "platform_version": "23.05.0",
        "ibformers_version": "2.1.0",
        "train_count": {"Paystub": train_total},
        "train_total": train_total,
        "train_datasets": ["Sandbox Documents"],
        "test_count": {"Paystub": test_total},
        "test_total": test_total,
        "test_datasets": ["Sandbox Documents"],
        "hyperparams": _hyperparams(
            "instalm-base-draft", "TOKEN_CLASSIFICATION", "extraction", epochs, search_trials
        ),
    }


# ---------------------------------------------------------------------------
# Hand-written catalogue payloads


def _legacy_payload() -> dict[str, Any]:
    """Build the result of a job run before platform 23.07, in the older format.

    The scores come from this confusion matrix (rows are true classes):
    W2 = [9, 1] and ADP = [1, 5], so accuracy is 14 of 16 records.
    """
    return {
        "metrics": [
            {
                "title": "Classifier Metrics",
                "subtitle": "",
                "headers": ["class", "f1", "precision", "recall", "support"],
                "rows": [
                    ["W2", 0.9, 0.9, 0.9, 10],
                    ["ADP", 0.8333, 0.8333, 0.8333, 6],
                    ["accuracy", "87.50", "", "", 16],
                    ["macro avg", 0.8667, 0.8667, 0.8667, 16],
                    ["weighted avg", 0.875, 0.875, 0.875, 16],
                ],
            }
        ],
        "platform_version": "",
        "train_count": {"W2": 30, "ADP": 18},
        "train_total": 48,
        "train_datasets": ["Paystubs"],
        "test_count": {"W2": 10, "ADP": 6},
        "test_total": 16,
        "test_datasets": ["Paystubs"],
    }


def _evaluation_payload() -> dict[str, Any]:
    """Build an evaluation of the classification example's model on a new test set.

    The scores are computed from the published confusion matrix. An evaluation
    trains nothing, so there is no loss curve and no hyperparameter search table.
    """
    names = ["W2", "ADP"]
    matrix = [[11, 1], [1, 7]]
    supports = [sum(row) for row in matrix]
    predicted = [sum(row[column] for row in matrix) for column in range(len(names))]
    true_positives = [matrix[index][index] for index in range(len(names))]
    rows = _classifier_rows(names, true_positives, supports, predicted, ["0.048", "0.131"])

    classification_example = json.loads(read_data_file(CLASSIFICATION_EXAMPLE_FILE))
    return {
        "metrics": [
            _classifier_table("Record-wise Classifier Metrics", "Record", rows),
            # The vendor's example also repeats the record-wise rows at chunk level.
            _classifier_table("Chunk-wise Classifier Metrics", "Chunk", [list(row) for row in rows]),
            _confusion_table(names, matrix),
        ],
        "platform_version": "23.05.0",
        "ibformers_version": "2.1.0",
        "train_count": classification_example["train_count"],
        "train_total": classification_example["train_total"],
        "train_datasets": ["Paystubs"],
        "test_count": dict(zip(names, supports)),
        "test_total": sum(supports),
        "test_datasets": ["Paystubs 2024"],
        "hyperparams": classification_example["hyperparams"],
    }


# Jobs for comparisons: a retrain of the classification example's model with
# other hyperparameters and more data, a pruned copy of the retrained model,
# and an evaluation of the retrained model on new data. Their test sets have
# hundreds of records, so some differences between them are larger than the
# noise: on the new data, ADP recall (80 of 85 -> 62 of 90) and Paychex
# precision (45 of 47 -> 48 of 66) drop beyond it, while every difference of
# the pruned model stays within it.
RETRAIN_JOB_ID = "retrain-job"
PRUNING_JOB_ID = "pruning-job"
NEW_DATA_EVALUATION_JOB_ID = "evaluation-new-data"

PAYSTUB_CLASSES = ["W2", "ADP", "Paychex"]
RETRAIN_MATRIX = [[88, 2, 0], [3, 80, 2], [1, 4, 45]]
PRUNED_MATRIX = [[86, 4, 0], [3, 79, 3], [1, 6, 43]]
NEW_DATA_MATRIX = [[92, 3, 0], [10, 62, 18], [0, 2, 48]]
RETRAIN_TRAIN_COUNT = {"W2": 210, "ADP": 198, "Paychex": 112}
RETRAIN_DATASETS = ["Paystubs", "Paystubs 2023"]


def _matrix_scores(matrix: list[list[int]], calibration_errors: list[str]) -> list[list[Any]]:
    """Build classifier rows for PAYSTUB_CLASSES from a confusion matrix (rows are true classes)."""
    size = len(PAYSTUB_CLASSES)
    supports = [sum(row) for row in matrix]
    predicted = [sum(row[column] for row in matrix) for column in range(size)]
    true_positives = [matrix[index][index] for index in range(size)]
    return _classifier_rows(PAYSTUB_CLASSES, true_positives, supports, predicted, calibration_errors)


def _paystub_payload(
    matrix: list[list[int]],
    calibration_errors: list[str],
    hyperparams: dict[str, Any],
    test_datasets: list[str],
    extra_tables: list[dict[str, Any]],
) -> dict[str, Any]:
    rows = _matrix_scores(matrix, calibration_errors)
    test_count = {name: sum(row) for name, row in zip(PAYSTUB_CLASSES, matrix)}
    return {
        "metrics": [
            _classifier_table("Record-wise Classifier Metrics", "Record", rows),
            # As in the vendor's example, the chunk-wise rows repeat the record-wise ones.
            _classifier_table("Chunk-wise Classifier Metrics", "Chunk", [list(row) for row in rows]),
            *extra_tables,
            _confusion_table(PAYSTUB_CLASSES, matrix),
        ],
        "platform_version": "23.07.0",
        "ibformers_version": "2.2.0",
        "train_count": dict(RETRAIN_TRAIN_COUNT),
        "train_total": sum(RETRAIN_TRAIN_COUNT.values()),
        "train_datasets": list(RETRAIN_DATASETS),
        "test_count": test_count,
        "test_total": sum(test_count.values()),
        "test_datasets": test_datasets,
        "hyperparams": hyperparams,
    }


def _retrain_hyperparams() -> dict[str, Any]:
    hyperparams = json.loads(read_data_file(CLASSIFICATION_EXAMPLE_FILE))["hyperparams"]
    hyperparams.update(learning_rate=2e-05, num_train_epochs=8, class_weights_ins_power=0.5, batch_size=8)
    return hyperparams


def _retrain_payload() -> dict[str, Any]:
    """Build the retrain of the classification example's model: other hyperparameters, more data, a third class."""
    rng = random.Random(11)
    return _paystub_payload(
        RETRAIN_MATRIX,
        ["0.041", "0.067", "0.093"],
        _retrain_hyperparams(),
        list(RETRAIN_DATASETS),
        [_loss_curve_table(rng, 8), _hyperparameter_table(rng, 5, 20)],
    )


def _pruning_payload() -> dict[str, Any]:
    """Build the pruning of the retrained model: half the weights removed, then two epochs of fine-tuning.

    `pruning_sparsity` is the sandbox's own name; the API reference documents
    no pruning hyperparameters.
    """
    hyperparams = _retrain_hyperparams()
    hyperparams.update(num_train_epochs=2, do_hyperparam_optimization=False, hp_search_num_trials=0, pruning_sparsity=0.5)
    return _paystub_payload(
        PRUNED_MATRIX,
        ["0.048", "0.072", "0.118"],
        hyperparams,
        list(RETRAIN_DATASETS),
        [_loss_curve_table(random.Random(12), 2)],
    )


def _new_data_evaluation_payload() -> dict[str, Any]:
    """Build the evaluation of the retrained model on new data, where ADP documents have a new layout."""
    return _paystub_payload(NEW_DATA_MATRIX, ["0.052", "0.163", "0.121"], _retrain_hyperparams(), ["Paystubs 2025"], [])


def default_jobs() -> list[Job]:
    """Build a fresh copy of the catalogue that a sandbox serves by default."""
    return [
        _file_job(CLASSIFICATION_PROJECT, CLASSIFICATION_EXAMPLE_JOB_ID, CLASSIFICATION_EXAMPLE_FILE),
        _file_job(EXTRACTION_PROJECT, "extraction-example", EXTRACTION_EXAMPLE_FILE),
        _file_job(EXTRACTION_PROJECT, "extraction-as-documented", EXTRACTION_AS_DOCUMENTED_FILE),
        _file_job(CLASSIFICATION_PROJECT, "running-job", CLASSIFICATION_EXAMPLE_FILE, running_polls=3),
        Job(
            CLASSIFICATION_PROJECT,
            "failed-job",
            final_state="FAILED",
            error="Training failed: CUDA out of memory on worker 2",
        ),
        Job(
            CLASSIFICATION_PROJECT,
            "error-job",
            final_state="ERROR",
            error="Model project is locked by another job",
        ),
        Job(CLASSIFICATION_PROJECT, "legacy-job", payload=_legacy_payload()),
        Job(CLASSIFICATION_PROJECT, "large-job", payload=make_classification_payload(500, seed=0)),
        Job(CLASSIFICATION_PROJECT, "evaluation-job", job_type="evaluation", payload=_evaluation_payload()),
        Job(CLASSIFICATION_PROJECT, RETRAIN_JOB_ID, payload=_retrain_payload()),
        Job(CLASSIFICATION_PROJECT, PRUNING_JOB_ID, job_type="pruning", payload=_pruning_payload()),
        Job(
            CLASSIFICATION_PROJECT,
            NEW_DATA_EVALUATION_JOB_ID,
            job_type="evaluation",
            payload=_new_data_evaluation_payload(),
        ),
    ]
