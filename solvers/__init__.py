"""Solvers: one module per physics, each with its verification tests in tests/verification."""
