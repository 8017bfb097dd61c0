"""Readers for raw patent formats, and all reads and writes of workspace tables."""
