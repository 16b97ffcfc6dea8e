"""``engine bench ...``: benchmarks that measure what they compare in one run and print ratios."""
