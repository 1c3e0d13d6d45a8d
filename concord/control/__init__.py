"""The control plane: users, roles, projects, feed settings, progress and statistics."""
