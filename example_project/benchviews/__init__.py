"""Ceiling views for benchmarks/pixel.py (mounted only with LEADPIXEL_BENCH_VIEWS=1)."""
