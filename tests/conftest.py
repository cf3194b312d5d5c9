"""Shared pytest configuration: the fakes' fixtures are plugins living next to each fake."""

pytest_plugins = [
    "podnet.fakes.kube.fixtures",
    "podnet.fakes.cloud.fixtures",
    "podnet.fakes.mns.fixtures",
]
