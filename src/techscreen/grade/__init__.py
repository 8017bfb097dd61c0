"""Grading: indicators per technology node, scores, tiers, experts, sensitivity."""
