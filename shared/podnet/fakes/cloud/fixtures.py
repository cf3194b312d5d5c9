"""pytest fixtures for the fake cloud service (registered in tests/conftest.py)."""
