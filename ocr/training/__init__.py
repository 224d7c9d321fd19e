"""Reproducible training of the shipped models."""
