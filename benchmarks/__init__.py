"""msau.benchmarks: the msau-bench latency, quality and comparison harnesses, roofline figures, tables, plots."""
