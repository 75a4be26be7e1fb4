"""Loaders for events, tickets and notes: sources -> stage -> checks -> warehouse."""

from .pipeline import LoadReport, run_load
from .targets import EVENTS, NOTES, TICKETS

__all__ = ["EVENTS", "NOTES", "TICKETS", "LoadReport", "run_load"]
