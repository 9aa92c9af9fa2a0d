"""Command implementations: each `execute` returns an Outcome for the CLI to render."""
