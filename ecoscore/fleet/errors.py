"""Errors of fleet campaigns; the class says the exit code (``ecoscore.errors``)."""

from __future__ import annotations

from ecoscore.errors import InputError, IntegrityFailure, MeasurementError, UsageError


class FleetNotInstalled(UsageError):
    """Ray (the ``fleet`` extra) is not installed: the message says how to install it."""


class CampaignFileError(InputError):
    """A campaign file cannot be used; the message names the file and the key."""


class CampaignRecordError(InputError):
    """A campaign record cannot be read or used; the message names the file."""


class CampaignIntegrityError(IntegrityFailure, CampaignRecordError):
    """A campaign record's content does not match its record_id, or its signature fails."""


class NodeStartError(UsageError):
    """``ray start`` refused to start the node (address, port or option)."""


class ClusterError(UsageError):
    """The Ray cluster cannot be joined or started (address, options)."""


class CampaignIncomplete(MeasurementError):
    """Some entries of the campaign have no verified record (each with its reason)."""
