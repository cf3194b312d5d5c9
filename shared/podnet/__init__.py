"""podnet-fc: multi-network Pods for Kubernetes on Alibaba Cloud, control plane on Function Compute + MNS."""

__version__ = "0.1.0"
