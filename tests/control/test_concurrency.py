"""Steps are safe to run concurrently: several function instances handling the same pod at once."""

from __future__ import annotations

import threading

from podnet.forwarder import Forwarder
from podnet.ports import PODS
from podnet.steps.dispatch import process_message
from podnet.steps.messages import Envelope
from tests.control.scenario_helpers import free_ips, iface, pod, pod_enis, podeni, podnetworking, system


def test_concurrent_duplicate_steps_create_one_eni_per_interface():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
        s.forwarder.stop()  # drive the steps by hand, several at once
        names = [f"p{i}" for i in range(3)]
        for n in names:
            s.admin.create(PODS, pod(n, [iface("eth0", "a"), iface("eth1", "b")]))
        s._reconcile_cluster()  # schedule them
        errors: list[BaseException] = []

        def run(step: str, name: str) -> None:
            try:
                for _ in range(3):
                    process_message(s.ctx, step, Envelope(step=step, kind="Pod", key=f"default/{name}").to_body())  # type: ignore[arg-type]
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        for step in ("allocate", "bind", "bind"):
            threads = [threading.Thread(target=run, args=(step, n)) for n in names for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors
        # let the queued follow-ups (retries, delayed InUse checks) finish
        s.forwarder = Forwarder(s.kube, s.queues, watch_timeout_s=30).start()
        s.run_until_quiescent()
        assert all(podeni(s, n)["status"]["phase"] == "Bind" for n in names)
        assert len(pod_enis(s)) == 6, "concurrent duplicates created extra ENIs"
        assert free_ips(s, "vsw-g1") == 249 and free_ips(s, "vsw-g2") == 249
        assert not s.dead_letters()
