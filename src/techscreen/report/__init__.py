"""The screening report: one self-contained HTML page and the graded list as CSV and Parquet.

Everything here is pandas and plotly on node-level frames (one row per technology node,
graded item, network edge): :mod:`techscreen.stages.report` reads the workspace tables and
the MLflow runs into a :class:`~techscreen.report.data.ReportInputs`, and
:func:`~techscreen.report.html.render` turns it into the page — without Spark, so every part
is testable on small hand-made frames.

* :mod:`techscreen.report.data` — the inputs, map-column helpers, the flat export frame;
* :mod:`techscreen.report.figures` — the plotly figures (networks, cluster maps, trends…);
* :mod:`techscreen.report.notes` — the plain-language notes on each domain's data;
* :mod:`techscreen.report.html` — the page: lineage, tier table, breakdowns, figures.
"""

from techscreen.report.data import ReportInputs, ReportOptions, export_frame
from techscreen.report.html import render

__all__ = ["ReportInputs", "ReportOptions", "export_frame", "render"]
