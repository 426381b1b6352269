"""Unit tests of the pure transforms: tiny hand-written frames, exact expected frames."""
