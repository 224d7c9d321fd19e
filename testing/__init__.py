"""Fakes and sample makers for tests, the demo and the benchmarks (not used by the product)."""
