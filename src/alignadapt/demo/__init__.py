"""Scaffolding for runs without the hub: the tiny aligner, the synthetic tone corpus and the
espeak-ng speech corpus of the demo."""
