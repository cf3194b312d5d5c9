"""FC 3.0 HTTP trigger handler: the admission webhook (issue #5). The work is in ``podnet.admission``.

Environment: the Kubernetes connection as ``podnet.adapters.config.Settings`` reads it (PODNET_KUBE_URL,
PODNET_KUBE_TOKEN[_FILE], PODNET_KUBE_CA_FILE or PODNET_KUBECONFIG), PODNET_SYSTEM_USER, PODNET_PLATFORM,
PODNET_MAX_INTERFACES, and PODNET_WEBHOOK_PATH_TOKEN (when set, only ``/<token>/mutate`` and
``/<token>/validate`` are served: the trigger URL is public).
"""

from __future__ import annotations

import os
from typing import Any

from podnet.admission import AdmissionConfig, handle_fc_event
from podnet.ports import KubeApi

_state: dict[str, Any] = {}


def initialize(context: Any) -> None:
    """FC instance initializer: build the Kubernetes client and the admission settings once."""
    _setup()


def _setup() -> tuple[KubeApi, AdmissionConfig]:
    if "kube" not in _state:
        from podnet.adapters.kube_http import HttpKube

        _state["config"] = AdmissionConfig.from_env()
        # short timeouts: the API server waits at most the webhook's timeoutSeconds for the answer
        if os.environ.get("PODNET_KUBE_URL"):
            _state["kube"] = HttpKube.from_env(timeout_s=3.0)
        else:
            _state["kube"] = HttpKube.from_kubeconfig(os.environ.get("PODNET_KUBECONFIG") or None, timeout_s=3.0)
    return _state["kube"], _state["config"]


def handler(event: bytes, context: Any) -> dict[str, Any]:
    """HTTP trigger event in, ``{statusCode, headers, body}`` out."""
    kube, config = _setup()
    return handle_fc_event(event, kube=kube, config=config, path_prefix=os.environ.get("PODNET_WEBHOOK_PATH_TOKEN", ""))
