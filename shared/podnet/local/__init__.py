"""``podnet local``: the whole system in one process on the simulated cloud and Kubernetes API."""
