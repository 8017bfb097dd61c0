"""Embedding: patent texts → L2-normalised float32 vectors, on Spark executors."""
