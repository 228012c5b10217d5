"""digitnet: a from-scratch NumPy network for handwritten digits.

One copy of the math, shipped in the model Lambda layer and imported by both
the training code and the predict function.
"""
