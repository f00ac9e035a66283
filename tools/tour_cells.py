"""Cells shared by the notebook generators in this folder."""

from nbformat.v4 import new_code_cell

SANDBOX_SETUP = (
    "import os\n"
    "import tempfile\n"
    "\n"
    "import ibmetrics_nb\n"
    "from ibmetrics_nb import sandbox\n"
    "\n"
    "# `ibmetrics demo` passes its own sandbox; otherwise start one inside this kernel.\n"
    "if os.environ.get(\"IBMETRICS_SANDBOX_URL\"):\n"
    "    sandbox_url, sandbox_token = os.environ[\"IBMETRICS_SANDBOX_URL\"], os.environ[\"IBMETRICS_SANDBOX_TOKEN\"]\n"
    "else:\n"
    "    server = sandbox.start()\n"
    "    sandbox_url, sandbox_token = server.url, server.token\n"
    "\n"
    "# Finished jobs are cached on disk; keep this tour's sandbox jobs out of your own cache.\n"
    "os.environ.setdefault(\"IBMETRICS_CACHE_DIR\", tempfile.mkdtemp(prefix=\"ibmetrics-tour-\"))\n"
    "ibmetrics_nb.set_token(sandbox_token)  # on a real instance: ibmetrics_nb.set_token() prompts for it\n"
    "project = sandbox.CLASSIFICATION_PROJECT\n"
)


def sandbox_setup_cell(last_lines: str):
    """Return the cell that connects a tour to a sandbox, ending with `last_lines`."""
    return new_code_cell(SANDBOX_SETUP + last_lines)


def load_extension_cell():
    """Return the cell that loads the extension and points it at the sandbox."""
    return new_code_cell(
        "%load_ext ibmetrics_nb\n"
        "%config IbMetrics.root_url = sandbox_url\n"
        "%config IbMetrics.poll_interval = 0.5"
    )
