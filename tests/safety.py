"""Checks shared by the display, property and secret tests.

`markup_of` lists the tags and attributes of an HTML fragment, so a test can
assert that no tag from the data survived escaping. `run_notebook` executes
cells in a real Jupyter kernel and saves the notebook, so a test can search
the saved file for a secret, as a user's saved notebook would hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

# Every tag and attribute that ibmetrics_nb.display writes itself.
ALLOWED_TAGS = frozenset(
    {
        "style", "div", "dl", "dt", "dd", "details", "summary", "small", "p",
        "table", "thead", "tbody", "tr", "th", "td",
        "svg", "title", "line", "text", "polyline",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = frozenset(
    {
        "class", "style", "open", "xmlns", "role", "width", "height", "viewbox",
        "font-size", "font-family", "x", "y", "x1", "y1", "x2", "y2",
        "stroke", "stroke-width", "fill", "text-anchor", "points",
    }
)  # fmt: skip
HOSTILE_STRINGS = (
    "<unk>",
    "A & B",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</td></tr></table><b>bold</b>",
    "<!-- comment -->",
    "<![CDATA[x]]>",
    "&lt;already escaped&gt;",
    "<style>body{display:none}</style>",
    "javascript:alert(1)",
    "\u202eevil\u202c",
    "line\nbreak",
)


@dataclass
class Markup:
    """The tags, attributes and comments that an HTML parser found."""

    tags: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)
    declarations: list[str] = field(default_factory=list)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.markup = Markup()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.tags.add(tag)
        self.markup.attributes.update(name for name, _ in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.markup.comments.append(data)

    def handle_decl(self, decl: str) -> None:
        self.markup.declarations.append(decl)

    def unknown_decl(self, data: str) -> None:
        self.markup.declarations.append(data)


def markup_of(html: str) -> Markup:
    """Parse `html` and return its tags, attribute names, comments and declarations."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.markup


def unexpected_markup(html: str) -> list[str]:
    """Return every tag, attribute, comment or declaration that the display code does not write."""
    markup = markup_of(html)
    found = [f"tag <{tag}>" for tag in sorted(markup.tags - ALLOWED_TAGS)]
    found += [f"attribute {name}" for name in sorted(markup.attributes - ALLOWED_ATTRIBUTES)]
    found += [f"comment {text!r}" for text in markup.comments]
    found += [f"declaration {text!r}" for text in markup.declarations]
    return found


def run_notebook(cells: list[str], path: Path, timeout: int = 60) -> str:
    """Run `cells` in a fresh python3 kernel, save the notebook to `path` and return the saved text.

    Errors in cells do not stop the run, as in "Run All" with errors allowed.
    The kernel inherits this process's environment, so set secrets there
    (never in a cell) before calling.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True).execute()
    nbformat.write(notebook, str(path))
    return path.read_text(encoding="utf-8")
