"""Benchmarks of the Vilnius reference server and SDK (run: ``python -m benchmarks``)."""
