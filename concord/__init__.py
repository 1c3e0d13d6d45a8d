"""Concord: team annotation with a control plane for people and a cluster for the data."""

__version__ = "0.1.0"
