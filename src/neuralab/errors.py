"""Errors a user can act on.

The CLI prints a NeuralabError as one clear message (what, where, what to do) instead of a traceback from deep
inside a library; anything else is a bug and keeps its traceback.
"""


class NeuralabError(Exception):
    """Base class: the message alone must tell the user what went wrong and what to do."""


class ConfigError(NeuralabError, ValueError):
    """A configuration value is out of range, of the wrong type, or unknown."""


class DataError(NeuralabError):
    """Data is present but unusable: corrupt files, empty class folders, missing columns, bad shapes."""


class MissingDataError(DataError, FileNotFoundError):
    """Data is absent and could not be downloaded; the message names the exact files expected."""


class CheckpointError(NeuralabError):
    """A checkpoint or weights file is missing, unsafe, or does not match the model."""


class TrainingDiverged(NeuralabError):
    """The loss became NaN or infinite; the message names the epoch and step."""


class Preempted(NeuralabError):
    """SIGTERM arrived: the current step finished, a checkpoint was written; `--resume` continues."""
