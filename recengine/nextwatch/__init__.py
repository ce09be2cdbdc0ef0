"""Next-watch recommendations: a BERT4Rec-style sequential model, its baselines and its evaluation.

Importing this package does not import TensorFlow; only training and the TensorFlow scoring
functions in :mod:`recengine.nextwatch.model` do. Serving uses NumPy
(:mod:`recengine.nextwatch.inference`).
"""
