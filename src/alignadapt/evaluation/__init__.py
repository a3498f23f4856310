"""Proving the gain: the evaluation run, metrics, the report with its plots, the naive baseline."""
