"""Reading runs: ``runs`` (rows, cells, ``--where``), show, diff, lineage, plot, stats of evidence, blame (targets, render, ablate)."""
