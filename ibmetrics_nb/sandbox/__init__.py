"""A built-in metrics server on loopback, for demos and tests without an Instabase account.

The sandbox is a real HTTP server that serves `GET /api/v2/model/metrics`
as the Model API does, with a catalogue of example jobs::

    from ibmetrics_nb.sandbox import serve, CLASSIFICATION_PROJECT

    with serve() as sandbox:
        sandbox.url    # "http://127.0.0.1:PORT", the instance root
        sandbox.token  # a random token that only this server accepts

The default catalogue (see `default_jobs()`), by job id:

- `dc991a28-bd92-47bb-ajj8-e0f2ca930e51` (CLASSIFICATION_PROJECT): the
  classification example of the vendor's API reference, served from its
  exact bytes, including its duplicate `class_weights_ins_power` key.
- `extraction-example` (EXTRACTION_PROJECT): the extraction example,
  repaired into valid JSON.
- `extraction-as-documented` (EXTRACTION_PROJECT): the extraction example as
  published, which is invalid JSON because of a missing comma.
- `running-job`: RUNNING for 3 requests, then the classification example.
- `failed-job`: state FAILED with a message. `error-job`: the v1 error style
  `{"status": "ERROR", "msg": ...}`.
- `legacy-job`: a result from before platform 23.07, with an empty
  platform_version, no confusion matrix and older table headers.
- `large-job`: `make_classification_payload(500, seed=0)`.
- `evaluation-job` (job type `evaluation`): an evaluation of the classifier.
- `retrain-job`, `pruning-job` (job type `pruning`) and `evaluation-new-data`
  (job type `evaluation`): a retrain of the classifier with other
  hyperparameters on 225 test records, its pruned model, and its evaluation
  on new data, for comparisons (see `jobs.RETRAIN_JOB_ID`).

All jobs except the two extraction ones are in CLASSIFICATION_PROJECT. The
job types are `training` except where the list above names another.

Tests inject faults with `sandbox.script(project, job_id, replies=[Reply(...)])`
(error statuses, delays, dropped or hung connections, truncated bodies).
`run()` serves the catalogue from the command line with DEFAULT_TOKEN, a
public token, when IB_API_TOKEN is not set.
"""

from .jobs import (
    CLASSIFICATION_EXAMPLE_JOB_ID,
    CLASSIFICATION_PROJECT,
    EXTRACTION_PROJECT,
    JOB_TYPES,
    Job,
    default_jobs,
    make_classification_payload,
    make_extraction_payload,
    read_data_file,
    splice_envelope,
)
from .server import DEFAULT_TOKEN, METRICS_PATH, Reply, SandboxServer, run, serve, start

__all__ = [
    "CLASSIFICATION_EXAMPLE_JOB_ID",
    "CLASSIFICATION_PROJECT",
    "DEFAULT_TOKEN",
    "EXTRACTION_PROJECT",
    "JOB_TYPES",
    "METRICS_PATH",
    "Job",
    "Reply",
    "SandboxServer",
    "default_jobs",
    "make_classification_payload",
    "make_extraction_payload",
    "read_data_file",
    "run",
    "serve",
    "splice_envelope",
    "start",
]
