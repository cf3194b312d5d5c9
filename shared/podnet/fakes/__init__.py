"""Stateful local stand-ins for Kubernetes, ECS/VPC and MNS that speak the real wire protocols.

Each service keeps its state model (``backend.py``) apart from its HTTP layer (``server.py``),
as moto does, so the local runner can read state directly while the project's code talks HTTP.
"""
