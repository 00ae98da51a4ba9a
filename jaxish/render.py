"""Pictures of graphs for Jupyter: Graphviz's ``dot`` executable, when it is on ``PATH``, turns
``Graph.to_dot()`` into SVG; without it ``Graph._repr_html_`` shows the graph's text.

Only the ``dot`` executable is needed (``apt install graphviz``, ``conda install graphviz``, ``brew install
graphviz``), not the ``graphviz`` Python package. This module imports nothing of jaxish.
"""
from __future__ import annotations

import html
import shutil
import subprocess

DOT_TIMEOUT_S = 20.0


def dot_executable() -> str | None:
    """The path of Graphviz's ``dot``, or None when it is not on ``PATH``."""
    return shutil.which("dot")


def svg(dot_source: str) -> str | None:
    """SVG text of a DOT graph drawn by ``dot -Tsvg``; None without ``dot`` or when it fails."""
    exe = dot_executable()
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-Tsvg"], input=dot_source.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    text = done.stdout.decode("utf-8", "replace")
    start = text.find("<svg")  # drop the XML prolog and DOCTYPE: the SVG is embedded in HTML
    return text[start:] if start >= 0 else None


def html_of(text: str, svg_text: str | None) -> str:
    """HTML for a graph: its picture when there is one, else its text in a ``<pre>``."""
    if svg_text is not None:
        return f'<div class="jaxish-graph">{svg_text}</div>'
    return f'<pre class="jaxish-graph">{html.escape(text)}</pre>'
