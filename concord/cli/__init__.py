"""Concord's command line: serving the planes, ``concord up``, ``concord demo`` and
commands over both planes' HTTP APIs."""
