"""recengine: the movie recommendation engine behind the assistant, usable on its own.

Start with :func:`recengine.movielens.load_dataset` for a catalog and its ratings, or run
``python -m recengine --help`` for the command line.
"""

__version__ = "0.1.0"
