"""PolyGround: in-context regression on Chebyshev polynomials (arXiv 2407.19346), reproduced."""

__version__ = "0.1.0"
