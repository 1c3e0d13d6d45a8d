"""Code that both planes use: task records, hashing, metrics, formats and events.

Nothing in this package may import ``concord.control``, ``concord.cluster`` or
``concord.cli``; the import-linter contract in ``pyproject.toml`` enforces it.
"""
