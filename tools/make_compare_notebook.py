"""Write notebooks/compare_jobs.ipynb from the cells below (outputs empty)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from tour_cells import load_extension_cell, sandbox_setup_cell

CELLS = [
    new_markdown_cell(
        "# Compare jobs: is the difference real?\n\n"
        "You retrained a model with other hyperparameters, pruned it, evaluated it on new data. Which job is better, "
        "on which classes, and which differences are larger than the noise of a small test set?\n\n"
        "This tour runs against the built-in sandbox, a local server on 127.0.0.1 that serves example jobs through the "
        "same API as `GET api/v2/model/metrics`:\n\n"
        "- `dc991a28-bd92-47bb-ajj8-e0f2ca930e51`: the classification example of the API reference, 10 test records;\n"
        "- `retrain-job`: the model retrained with other hyperparameters and more data, 225 test records;\n"
        "- `pruning-job` (job type `pruning`): the retrained model, pruned;\n"
        "- `evaluation-new-data` (job type `evaluation`): the retrained model on new documents."
    ),
    sandbox_setup_cell('reference_job = sandbox.CLASSIFICATION_EXAMPLE_JOB_ID'),
    load_extension_cell(),
    new_markdown_cell(
        "## Two jobs side by side\n\n"
        "Give the magic several job IDs and it returns a comparison against the first one, the baseline. "
        "Each cell shows a job's score and its difference to the baseline in percentage points. "
        "The reference job has only 10 test records, so every difference here is within the noise (grey), "
        "however large it looks."
    ),
    new_code_cell("%ibmetrics $project $reference_job retrain-job"),
    new_markdown_cell(
        "## How uncertain is one score?\n\n"
        "Each per-class score gets a 95% interval from its counts: the Wilson score interval for precision and recall, "
        "and for F1 the Wilson interval of TP / (TP + FP + FN) mapped to F1. The counts come from the confusion matrix. "
        "With 6 W2 records, a recall of 83% (5 of 6) is consistent with anything from 44% to 97%."
    ),
    new_code_cell(
        "reference = %ibmetrics $project $reference_job\n"
        "columns = [\"table\", \"label\", \"recall\", \"recall_low\", \"recall_high\", \"f1\", \"f1_low\", \"f1_high\", \"tp\", \"fp\", \"fn\"]\n"
        "reference.to_dataframe(intervals=True).query(\"not is_average\")[columns]"
    ),
    new_code_cell("reference.scores_plot(\"recall\")"),
    new_markdown_cell(
        "## Fetch a family of jobs at once\n\n"
        "`get_many` fetches jobs concurrently over one connection pool, with a progress bar. A job that fails does not "
        "stop the others: here one job ID does not exist and one job failed on the server."
    ),
    new_code_cell(
        "client = ibmetrics_nb.MetricsClient(sandbox_url, sandbox_token, poll_interval=0.5)\n"
        "many = client.get_many(\n"
        "    [\n"
        "        (project, \"retrain-job\", \"training\"),\n"
        "        (project, \"pruning-job\", \"pruning\"),\n"
        "        (project, \"evaluation-new-data\", \"evaluation\"),\n"
        "        (project, \"no-such-job\", \"training\"),\n"
        "        (project, \"failed-job\", \"training\"),\n"
        "    ]\n"
        ")\n"
        "many"
    ),
    new_code_cell("{str(job): type(error).__name__ for job, error in many.errors.items()}"),
    new_markdown_cell(
        "## Real changes and noise\n\n"
        "Against the retrained model, the pruned model loses a few points everywhere, all within the noise. On the new "
        "documents, ADP recall and Paychex precision drop far beyond it: Fisher's exact test on the counts gives p < 0.05, "
        "and the cells are marked in red."
    ),
    new_code_cell("comparison = many.compare()\ncomparison"),
    new_code_cell(
        "comparison.changes()[[\"table\", \"label\", \"metric\", \"job\", \"baseline_value\", \"value\", \"delta\", \"p_value\"]]"
    ),
    new_code_cell("comparison.f1_plot()"),
    new_markdown_cell("Only the hyperparameters, dataset counts and versions that differ between the jobs are listed:"),
    new_code_cell("comparison.hyperparams"),
    new_code_cell("comparison.datasets"),
    new_markdown_cell(
        "## Do the numbers add up?\n\n"
        "`audit()` recomputes precision, recall, F1 and support from the confusion matrix, and the averages rows from the "
        "per-class rows, and lists every value that disagrees beyond the server's rounding. The reference job is "
        "consistent. A copy with one edited cell is not, and its display says so in one line."
    ),
    new_code_cell("reference.audit()"),
    new_code_cell(
        "import copy\n"
        "\n"
        "edited = copy.deepcopy(reference.raw)\n"
        "edited[\"metrics\"][0][\"rows\"][0][2] = \"95.00%\"  # W2 precision, 100.00% in the response\n"
        "tampered = ibmetrics_nb.MetricsResult(edited, job_id=\"edited-copy\")\n"
        "[str(finding) for finding in tampered.audit()]"
    ),
    new_code_cell("tampered"),
    new_markdown_cell("## More plots\n\nCalibration per class, the hyperparameter search, and the confusion matrix normalised by true class."),
    new_code_cell("retrain = many[\"retrain-job\"]\nretrain.ece_plot()"),
    new_code_cell("retrain.trials_plot(\"learning_rate\")"),
    new_code_cell("many[\"evaluation-new-data\"].confusion_plot(normalize=\"true\")"),
    new_markdown_cell(
        "## Keep and share results\n\n"
        "`save` writes the response as strict JSON and `MetricsResult.load` reads it back; `to_excel` writes one sheet "
        "per table; `to_markdown` a report. On the command line, `ibmetrics fetch PROJECT JOB --format markdown` does the same."
    ),
    new_code_cell(
        "from pathlib import Path\n"
        "\n"
        "folder = Path(tempfile.mkdtemp(prefix=\"ibmetrics-export-\"))\n"
        "retrain.save(folder / \"retrain-job.json\")\n"
        "loaded = ibmetrics_nb.MetricsResult.load(folder / \"retrain-job.json\")\n"
        "workbook = retrain.to_excel(folder / \"retrain-job.xlsx\")\n"
        "loaded.raw == retrain.raw, workbook.name"
    ),
    new_code_cell(
        "from IPython.display import Markdown\n"
        "\n"
        "Markdown(retrain.to_markdown().split(\"## Chunk-wise\")[0])"
    ),
    new_markdown_cell(
        "## The cache\n\n"
        "A finished job's metrics never change, so the client keeps them on disk and answers the next request for the same "
        "job without asking the server. `%ibmetrics --refresh` (or `refresh=True`) fetches again; `ibmetrics_nb.clear_cache()` "
        "empties the cache."
    ),
    new_code_cell(
        "import time\n"
        "\n"
        "started = time.perf_counter()\n"
        "again = client.get_metrics(project, \"retrain-job\")\n"
        "f\"{again.job_id}: read from the cache in {1000 * (time.perf_counter() - started):.1f} ms\""
    ),
    new_code_cell("refreshed = %ibmetrics --refresh $project retrain-job\nrefreshed.headline"),
]


def main() -> None:
    notebook = new_notebook(cells=CELLS)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    path = Path(__file__).resolve().parents[1] / "notebooks" / "compare_jobs.ipynb"
    nbformat.write(notebook, path)
    print(path)


if __name__ == "__main__":
    main()
