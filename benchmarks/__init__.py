"""Benchmarks of signfed's hot paths: `python -m benchmarks.<name>`."""
