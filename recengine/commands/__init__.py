"""Sub-commands of ``python -m recengine``; every module here defines ``register(subparsers)``."""
