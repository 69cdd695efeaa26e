"""The `switchboard` command: the composition root that may import every service."""
