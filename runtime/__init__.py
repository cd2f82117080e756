"""Shared plumbing of the entry points: Temporal settings, the client, the embedded dev server."""
