"""Write notebooks/quickstart.ipynb from the cells below (outputs empty)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from tour_cells import load_extension_cell, sandbox_setup_cell

CELLS = [
    new_markdown_cell(
        "# ibmetrics_nb quickstart\n\n"
        "Fetch Instabase model-training metrics into a notebook and work with them as pandas and matplotlib objects.\n"
        "This tour runs against the built-in sandbox, a local server on 127.0.0.1 that speaks the same API as\n"
        "`GET api/v2/model/metrics` and serves example jobs, so it needs no Instabase account.\n\n"
        "Against a real instance, skip the sandbox cell and set `IB_ROOT_URL` and `IB_API_TOKEN` before starting Jupyter."
    ),
    sandbox_setup_cell('project'),
    new_markdown_cell("Load the extension and point it at the sandbox. `%config IbMetrics` lists every setting."),
    load_extension_cell(),
    new_markdown_cell(
        "## Fetch a finished classification job\n\n"
        "Quote a project path that contains spaces. The result shows the summary, the per-class scores, the loss curve "
        "and the confusion matrix; tables that the Instabase UI hides start collapsed."
    ),
    new_code_cell(
        "%ibmetrics 'user1/my-repo/fs/Instabase Drive/PaystubClassifier' dc991a28-bd92-47bb-ajj8-e0f2ca930e51"
    ),
    new_markdown_cell("Bind the result to a name to use it. A variable holding the path works as `$project` or `{project}`."),
    new_code_cell("result = %ibmetrics $project dc991a28-bd92-47bb-ajj8-e0f2ca930e51\nlist(result.tables)"),
    new_code_cell("result.tables[\"Record-wise Classifier Metrics\"]"),
    new_code_cell("result.confusion_df"),
    new_code_cell("result.loss_df"),
    new_code_cell("result.loss_plot()"),
    new_code_cell("result.confusion_plot(normalize=\"true\")"),
    new_markdown_cell("Every per-class score as one long frame, ready to concatenate across jobs:"),
    new_code_cell("result.to_dataframe()"),
    new_code_cell("result.hyperparams"),
    new_markdown_cell(
        "## A running job\n\nThe magic waits while the job runs and shows its state in place, then returns the result."
    ),
    new_code_cell("running = %ibmetrics --max-wait 60 $project running-job\nrunning.state, running.headline"),
    new_markdown_cell("## An extraction job\n\nPer-field scores, with micro and macro averages."),
    new_code_cell(
        "extraction = %ibmetrics 'user1/my-repo/fs/Instabase Drive/PaystubExtractor' extraction-example\n"
        "extraction"
    ),
    new_markdown_cell(
        "## A job run before platform 23.07\n\nThe server may return partial results for old jobs; the result says what is missing."
    ),
    new_code_cell("legacy = %ibmetrics $project legacy-job\nlegacy"),
    new_markdown_cell("## Errors are one line\n\nA failed job, or an unknown one, stops the cell with a short message and no traceback."),
    new_code_cell("%ibmetrics $project failed-job", metadata={"tags": ["raises-exception"]}),
    new_code_cell("%ibmetrics $project no-such-job", metadata={"tags": ["raises-exception"]}),
    new_markdown_cell("## From Python\n\nThe same through the client, for scripts and pipelines:"),
    new_code_cell(
        "client = ibmetrics_nb.MetricsClient(sandbox_url, sandbox_token)\n"
        "evaluation = client.get_metrics(project, \"evaluation-job\", \"evaluation\")\n"
        "evaluation.to_dataframe().query(\"not is_average\")[[\"label\", \"precision\", \"recall\", \"f1\", \"support\"]]"
    ),
]


def main() -> None:
    notebook = new_notebook(cells=CELLS)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    path = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
    nbformat.write(notebook, path)
    print(path)


if __name__ == "__main__":
    main()
