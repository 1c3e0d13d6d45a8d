"""Readers and writers for the file formats annotation teams exchange."""
