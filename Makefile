# Benchmarks need root: they build namespaces, veths and TUNs.
GO ?= go

.PHONY: bench bench-smoke

# The full comparison (3 reps of 10 s runs); results in benchmarks/results.
bench:
	sudo $(GO) run ./benchmarks

# A quick check that every smoke row moves data (1 rep, 2 s runs).
bench-smoke:
	sudo $(GO) run ./benchmarks -smoke -out benchmarks/results-smoke
