"""Symbolic regression plugin: AI Feynman equations and user CSV data."""

from problems.symbolic_regression.problem import SymbolicRegression

__all__ = ["SymbolicRegression"]
