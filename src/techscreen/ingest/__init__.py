"""Ingestion: raw units → validated canonical patents + quarantine, duplicates merged."""
