"""Typer commands, one module per group; each parses options and calls a plain function."""
