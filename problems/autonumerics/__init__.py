"""AutoNumerics plugin: evolve float32 approximations of exp from scratch and verify them exhaustively."""

from problems.autonumerics.problem import ExpFloat32

__all__ = ["ExpFloat32"]
