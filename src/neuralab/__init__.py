"""neuralab: a deep-learning curriculum as tested, fast, runnable commands."""

__version__ = "0.1.0"
