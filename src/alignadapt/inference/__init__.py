"""Getting timestamps from a model: the aligner (with its settings and long recordings),
pseudo-labelling, export and the output formats."""
