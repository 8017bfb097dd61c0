"""techscreen: distributed patent screening for export-restriction candidates (SMSSEV)."""

__version__ = "0.1.0"
