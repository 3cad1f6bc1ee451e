"""Huiqi rules engine."""
