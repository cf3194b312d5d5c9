"""Import-time benchmark: the numbers behind the adapters' cold-start choices.

Each entry runs in a fresh interpreter (so nothing is cached in ``sys.modules``), times only the
statement (not interpreter start-up), and reports the median of ``--repeat`` runs (default 5).
Function Compute pays these on every cold start, so a handler's imports should stay well under
its 300 ms budget.

    python benchmarks/imports.py            # table
    python benchmarks/imports.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

# (label, setup statement run untimed, timed statement)
ADAPTERS: list[tuple[str, str, str]] = [
    ("podnet.adapters.retry", "", "import podnet.adapters.retry"),
    ("podnet.adapters.ratelimit", "", "import podnet.adapters.ratelimit"),
    ("podnet.adapters.config", "", "import podnet.adapters.config"),
    ("podnet.metrics", "", "import podnet.metrics"),
    ("podnet.log", "", "import podnet.log"),
    ("podnet.adapters.memory_queue", "", "import podnet.adapters.memory_queue"),
    ("podnet.adapters.kube_http", "", "import podnet.adapters.kube_http"),
    ("podnet.adapters.cloud", "", "import podnet.adapters.cloud"),
    ("podnet.adapters.mns_queue", "", "import podnet.adapters.mns_queue"),
    # what the first real use costs on top (the lazy imports)
    (
        "  + HttpKube(...) (urllib3)",
        "from podnet.adapters.kube_http import HttpKube",
        "HttpKube('http://127.0.0.1:1')",
    ),
    (
        "  + OpenApiCloud first call (Tea generic)",
        "import podnet.adapters.cloud as c",
        "c._tea()",
    ),
    (
        "  + MnsQueue first call (mns.account)",
        "import podnet.adapters.mns_queue",
        "import mns.account, mns.queue, mns.mns_exception",
    ),
    (
        "all adapters ready (kube+cloud+mns)",
        "",
        "import podnet.adapters.cloud as c, podnet.adapters.mns_queue, podnet.adapters.config, podnet.metrics, "
        "podnet.log; from podnet.adapters.kube_http import HttpKube; HttpKube('http://127.0.0.1:1'); c._tea(); "
        "import mns.account, mns.queue",
    ),
]

LIBRARIES: list[tuple[str, str, str]] = [
    ("kubernetes.client", "", "import kubernetes.client"),
    ("kubernetes.config", "", "import kubernetes.config"),
    ("alibabacloud_ecs20140526.client (typed)", "", "import alibabacloud_ecs20140526.client"),
    ("alibabacloud_ecs20140526.models", "", "import alibabacloud_ecs20140526.models"),
    ("alibabacloud_vpc20160428.client (typed)", "", "import alibabacloud_vpc20160428.client"),
    ("alibabacloud_tea_openapi.client (generic)", "", "import alibabacloud_tea_openapi.client"),
    ("mns.account", "", "import mns.account"),
    ("urllib3", "", "import urllib3"),
    ("requests", "", "import requests"),
    ("pydantic", "", "import pydantic"),
    ("tenacity", "", "import tenacity"),
]

_PROBE = """
import time
{setup}
_t = time.perf_counter()
{stmt}
print(time.perf_counter() - _t)
"""


def measure(setup: str, stmt: str, repeat: int) -> float:
    """Median seconds of ``stmt`` over ``repeat`` fresh interpreters."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE.format(setup=setup, stmt=stmt)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=["adapters", "libraries"], default=None)
    args = parser.parse_args()
    groups = [("adapters", ADAPTERS), ("libraries", LIBRARIES)]
    results: dict[str, dict[str, float]] = {}
    for group, entries in groups:
        if args.only and args.only != group:
            continue
        results[group] = {label: measure(setup, stmt, args.repeat) for label, setup, stmt in entries}
    if args.json:
        print(json.dumps({k: {n: round(v * 1000, 1) for n, v in d.items()} for k, d in results.items()}, indent=2))
        return
    print(f"import times, median of {args.repeat} fresh interpreters ({sys.version.split()[0]})")
    for group, data in results.items():
        print(f"\n{group}:")
        for label, seconds in data.items():
            print(f"  {label:<48} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
