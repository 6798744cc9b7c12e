"""What can be wrong with a workload, its data or a model's outputs; the message names the
file or the workload and what is wrong."""

from __future__ import annotations

from ecoscore.errors import InputError


class WorkloadError(InputError):
    """A workload cannot be used as asked (unknown name, bad data, bad model output)."""


class DataChecksumError(WorkloadError):
    """The evaluation data does not match the checksum fixed in the workload definition."""


class DataFormatError(WorkloadError):
    """A user data folder or file is not in the expected format."""
