"""Inspection QA: question answering with checkable citations over inspection reports."""

__version__ = "0.1.0"
