"""The webhook receiver (FastAPI): `python -m webhook`."""
