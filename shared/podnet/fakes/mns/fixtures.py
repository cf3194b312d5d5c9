"""pytest fixtures for the fake mns service (registered in tests/conftest.py)."""
