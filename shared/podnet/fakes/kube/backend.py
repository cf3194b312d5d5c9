"""State model of the fake kube-apiserver: objects, resourceVersions, watch history, admission.

No HTTP here (moto's models.py): every method takes and returns plain dicts and raises
``podnet.fakes.kube.errors.ApiError`` subclasses, which the HTTP layer renders as ``Status`` objects.
The HTTP layer calls exactly these methods, so in-process use and HTTP behave the same.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podnet.clock import Clock, SystemClock
from podnet.fakes.faults import FaultInjector
from podnet.fakes.kube import errors
from podnet.fakes.kube.patching import PatchType, apply_patch
from podnet.fakes.kube.resources import ResourceRef, ResourceRegistry, ResourceType, default_registry
from podnet.fakes.kube.selectors import (
    FieldRequirement,
    Requirement,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)

DEFAULT_USER = "system:admin"  # who in-process calls act as
MAX_WRITE_RETRIES = 8  # unconditional writes retry when the object moved while admission ran

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # (group, plural, namespace or "", name)

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the server's generateName alphabet (no vowels)
# metadata the server owns: a client's copy in an update is ignored
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                "name", "namespace")


# --- admission -------------------------------------------------------------------------------------
@dataclass
class AdmissionRequest:
    """What an in-process admission hook sees (a subset of admission.k8s.io/v1 AdmissionRequest)."""

    uid: str
    operation: str  # CREATE | UPDATE | DELETE
    resource: str  # plural
    group: str
    version: str
    kind: str
    namespace: str | None
    name: str
    object: Obj | None  # None for DELETE
    old_object: Obj | None  # None for CREATE
    user: str
    subresource: str | None = None  # "status" for /status writes: the hook decides whether it cares
    dry_run: bool = False


@dataclass
class AdmissionResponse:
    """A hook's answer; ``patch`` is a JSON patch applied to the object before it is stored."""

    allowed: bool
    message: str = ""
    code: int = 403
    reason: str = "Forbidden"
    patch: list[dict[str, Any]] | None = None


AdmissionHook = Callable[[AdmissionRequest], "AdmissionResponse | None"]


# --- watch -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchEvent:
    """One change in the history ring; ``old`` is the previous state for MODIFIED (for selectors)."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    group: str
    plural: str
    namespace: str
    object: Obj
    old: Obj | None = None


class Watch:
    """A live watch on one collection: ``initial`` events, then ``poll()`` for more.

    Created by ``KubeBackend.watch``; raises ``ExpiredError`` when the start (or a slow consumer)
    falls behind the history ring.
    """

    def __init__(
        self,
        backend: KubeBackend,
        rt: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[FieldRequirement],
        resource_version: str | None,
    ) -> None:
        self._b = backend
        self.rt = rt
        self.namespace = namespace
        self._labels = labels
        self._fields = fields
        self.initial: list[Obj] = []
        with backend._lock:
            if resource_version in (None, "", "0"):
                # "Get state and start at most recent": synthetic ADDED for what exists now
                for obj in backend._select(rt, namespace, labels, fields):
                    self.initial.append({"type": "ADDED", "object": copy.deepcopy(obj)})
                self.cursor = backend._rv
            else:
                self.cursor = backend._parse_rv(resource_version)
                backend._check_not_compacted(self.cursor)

    def _matches(self, obj: Obj) -> bool:
        return labels_match(self._labels, obj) and fields_match(self._fields, obj)

    def _translate(self, ev: WatchEvent) -> Obj | None:
        if (ev.group, ev.plural) != self.rt.key or (self.namespace and ev.namespace != self.namespace):
            return None
        now_in = self._matches(ev.object)
        if ev.type == "MODIFIED" and ev.old is not None and (self._labels or self._fields):
            was_in = self._matches(ev.old)
            # an object moving into or out of the selection is ADDED/DELETED for this watcher
            kind = {(True, True): "MODIFIED", (False, True): "ADDED", (True, False): "DELETED"}.get((was_in, now_in))
            return {"type": kind, "object": copy.deepcopy(ev.object)} if kind else None
        return {"type": ev.type, "object": copy.deepcopy(ev.object)} if now_in else None

    def _drain(self) -> list[Obj]:
        b = self._b
        b._check_not_compacted(self.cursor)  # a consumer slower than the ring loses its place
        fresh: list[WatchEvent] = []
        for ev in reversed(b._history):
            if ev.rv <= self.cursor:
                break
            fresh.append(ev)
        self.cursor = max(self.cursor, b._rv)
        out = [self._translate(ev) for ev in reversed(fresh)]
        return [e for e in out if e is not None]

    def poll(self, timeout: float) -> list[Obj]:
        """Events after the cursor, waiting up to ``timeout`` seconds for the first one."""
        with self._b.changed:
            events = self._drain()
            if not events and timeout > 0:
                self._b.changed.wait(timeout)
                events = self._drain()
            return events

    def bookmark(self) -> Obj:
        """A BOOKMARK at the cursor (call ``poll(0)`` first so nothing before it is skipped)."""
        return {
            "type": "BOOKMARK",
            "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version,
                       "metadata": {"resourceVersion": str(self.cursor)}},
        }


# --- the backend -----------------------------------------------------------------------------------
@dataclass
class _Write:
    """What an update-like operation computed from the current object (before admission)."""

    new: Obj
    operation: str = "UPDATE"
    admit: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class KubeBackend:
    """A thread-safe in-memory kube-apiserver state: one lock, watchers woken by ``changed``."""

    def __init__(self, clock: Clock | None = None, history: int = 1000, *, seed: int = 0) -> None:
        self.clock: Clock = clock or SystemClock()
        self.registry: ResourceRegistry = default_registry()
        self.faults = FaultInjector(seed)
        self.calls: Counter[str] = Counter()  # "<verb>:<plural>" -> number of calls (HTTP or in-process)
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque(maxlen=max(0, history))
        self._compacted_rv = 0  # events with rv <= this may be gone from the ring
        self._hooks: list[tuple[str, AdmissionHook]] = []
        self._rng = random.Random(seed)

    # -- registry, hooks, introspection ---------------------------------------------------------
    def resource(self, ref: ResourceRef) -> ResourceType:
        """The served resource for a plural, ``plural.group``, Kind or Resource (404 if unknown)."""
        try:
            return self.registry.lookup(ref)
        except KeyError:
            raise errors.path_not_found() from None

    def add_admission_hook(self, fn: AdmissionHook, name: str | None = None) -> AdmissionHook:
        """Run ``fn`` on every create/update/patch/delete (usable as a decorator)."""
        with self._lock:
            self._hooks.append((name or getattr(fn, "__name__", "admission-hook"), fn))
        return fn

    def remove_admission_hook(self, fn: AdmissionHook) -> None:
        with self._lock:
            self._hooks = [(n, f) for n, f in self._hooks if f is not fn]

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion."""
        with self._lock:
            return str(self._rv)

    def events_since(
        self, rv: str | int, resource: ResourceRef | None = None, namespace: str | None = None
    ) -> list[WatchEvent]:
        """History events after ``rv`` (raises ExpiredError when the ring no longer has them)."""
        rt = self.resource(resource) if resource is not None else None
        with self._lock:
            start = self._parse_rv(str(rv))
            self._check_not_compacted(start)
            fresh: list[WatchEvent] = []
            for ev in reversed(self._history):  # newest first: stop at the start point
                if ev.rv <= start:
                    break
                if (rt is None or (ev.group, ev.plural) == rt.key) and (namespace is None or ev.namespace == namespace):
                    fresh.append(ev)
            fresh.reverse()
            return fresh

    def reset(self) -> None:
        """Forget every object and the history (resourceVersions keep counting up)."""
        with self._lock:
            self._objects.clear()
            self._history.clear()
            self._compacted_rv = self._rv
            self.calls.clear()
            self.changed.notify_all()

    def _count(self, verb: str, rt: ResourceType, suffix: str = "") -> None:
        with self._lock:
            self.calls[f"{verb}:{rt.plural}{suffix}"] += 1

    def wake_watchers(self) -> None:
        """Wake every waiting watch (used when the server stops)."""
        with self._lock:
            self.changed.notify_all()

    # -- reads ----------------------------------------------------------------------------------
    def get(self, resource: ResourceRef, name: str, namespace: str | None = None) -> Obj:
        """The object (raises NotFoundError)."""
        rt = self.resource(resource)
        self._count("get", rt)
        with self._lock:
            return copy.deepcopy(self._current(rt, namespace, name))

    def list(
        self,
        resource: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        """The List object (``items``, ``metadata.resourceVersion``, ``continue`` when paged)."""
        rt = self.resource(resource)
        self._count("list", rt)
        labels, fields = self._selectors(rt, label_selector, field_selector)
        if limit is not None and limit < 0:
            raise errors.bad_request("limit must be a non-negative integer")
        with self._lock:
            list_rv, start_after = self._rv, ""
            if continue_token:
                list_rv, start_after = self._decode_continue(continue_token)
            items = [o for o in self._select(rt, namespace, labels, fields) if self._sort_key(o) > start_after]
            page = items[:limit] if limit else items
            meta: Obj = {"resourceVersion": str(list_rv)}
            if limit and len(items) > limit:
                meta["continue"] = self._encode_continue(list_rv, self._sort_key(page[-1]))
                meta["remainingItemCount"] = len(items) - limit
            out_items = [copy.deepcopy(o) for o in page]
        if not rt.custom:  # the real server leaves kind/apiVersion out of built-in list items
            for o in out_items:
                o.pop("kind", None)
                o.pop("apiVersion", None)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": out_items}

    def items(
        self, resource: ResourceRef, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        """Convenience for in-process callers: just the objects (with kind/apiVersion)."""
        rt = self.resource(resource)
        labels, fields = self._selectors(rt, label_selector, None)
        with self._lock:
            return [copy.deepcopy(o) for o in self._select(rt, namespace, labels, fields)]

    def watch(
        self,
        resource: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> Watch:
        """Start a watch (raises ExpiredError when ``resource_version`` is older than the ring)."""
        rt = self.resource(resource)
        self._count("watch", rt)
        labels, fields = self._selectors(rt, label_selector, field_selector)
        return Watch(self, rt, namespace, labels, fields, resource_version)

    # -- writes ---------------------------------------------------------------------------------
    def create(
        self,
        resource: ResourceRef,
        obj: Obj,
        namespace: str | None = None,
        *,
        user: str = DEFAULT_USER,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> Obj:
        """POST: store a new object (409 AlreadyExists; ``keep_status`` skips the create-time status reset)."""
        rt = self.resource(resource)
        self._count("create", rt)
        new = self._check_body(rt, obj)
        md = new["metadata"]
        ns = self._body_namespace(rt, md, namespace)
        if md.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            md.pop(f, None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = self._generate_name(rt, ns, str(md["generateName"]))
        name = str(md.get("name") or "")
        if not name:
            raise errors.invalid(rt, "", "metadata.name", "Required value: name or generateName is required",
                                 "FieldValueRequired")
        if not keep_status:
            status = rt.initial_status(new.get("status"))
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        admitted = self._admit(rt, "CREATE", new, None, user, None, dry_run, ns, name)
        assert admitted is not None
        new = admitted
        new.update(kind=rt.kind, apiVersion=rt.api_version)
        md = new.setdefault("metadata", {})
        md["name"] = name
        if rt.namespaced:
            md["namespace"] = ns
        self._validate_create(rt, new)
        with self._lock:
            key = self._key(rt, ns, name)
            if key in self._objects:
                raise errors.already_exists(rt, name)
            md["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            md["creationTimestamp"] = self._now()
            if rt.generation:
                md["generation"] = 1
            if dry_run:
                return copy.deepcopy(new)
            return copy.deepcopy(self._store(rt, key, new, "ADDED", None))

    def update(
        self,
        resource: ResourceRef,
        obj: Obj,
        namespace: str | None = None,
        *,
        name: str | None = None,
        subresource: str | None = None,
        user: str = DEFAULT_USER,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: replace the object (or only its status with ``subresource="status"``).

        A non-empty ``metadata.resourceVersion`` is a precondition (409 Conflict when stale);
        without one the update is unconditional.
        """
        rt = self.resource(resource)
        self._count("update", rt)
        body = self._check_body(rt, obj)
        md = body["metadata"]
        name = name or str(md.get("name") or "")
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({name})")
        ns = self._body_namespace(rt, md, namespace)
        self._check_subresource(rt, subresource)
        expected = str(md.get("resourceVersion") or "")

        def compute(current: Obj) -> _Write:
            if expected and expected != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name)
            return _Write(self._compose(rt, current, body, subresource))

        return self._mutate(rt, ns, name, compute, user=user, subresource=subresource, dry_run=dry_run)

    def patch(
        self,
        resource: ResourceRef,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        user: str = DEFAULT_USER,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with ``merge``, ``strategic`` (built-in types only) or ``json`` (RFC 6902, ``test`` ops)."""
        rt = self.resource(resource)
        self._count("patch", rt)
        self._check_subresource(rt, subresource)
        if patch_type == "strategic" and rt.custom:
            raise errors.unsupported_media_type("application/strategic-merge-patch+json")
        if patch_type not in ("merge", "strategic", "json"):
            raise errors.unsupported_media_type(str(patch_type))
        ns = self._namespace(rt, namespace)

        def compute(current: Obj) -> _Write:
            patched = apply_patch(current, patch, patch_type)
            md = patched.get("metadata")
            if not isinstance(md, dict):
                raise errors.bad_request("metadata must be an object")
            # a resourceVersion in the patched object is a precondition, as on the real server
            wanted = str(md.get("resourceVersion") or "")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name)
            return _Write(self._compose(rt, current, patched, subresource))

        return self._mutate(rt, ns, name, compute, user=user, subresource=subresource, dry_run=dry_run)

    def bind_pod(self, name: str, namespace: str, node: str, *, user: str = DEFAULT_USER) -> Obj:
        """POST pods/binding: set ``spec.nodeName`` once (409 when already bound), as the scheduler does."""
        rt = self.resource("pods")
        self._count("create", rt, "/binding")

        def compute(current: Obj) -> _Write:
            bound = (current.get("spec") or {}).get("nodeName")
            if bound:
                raise errors.conflict(rt, name, f'pod {name} is already assigned to node "{bound}"')
            new = copy.deepcopy(current)
            new.setdefault("spec", {})["nodeName"] = node
            conds = [c for c in (new.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": self._now()})
            new["status"]["conditions"] = conds
            return _Write(new, admit=False)

        return self._mutate(rt, namespace, name, compute, user=user, subresource="binding", dry_run=False)

    def delete(
        self,
        resource: ResourceRef,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: dict[str, Any] | None = None,
        user: str = DEFAULT_USER,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE: remove now, or (finalizers left) set deletionTimestamp; returns the object's last state.

        Callers tell the two apart by ``metadata.finalizers`` in the answer.
        """
        rt = self.resource(resource)
        self._count("delete", rt)
        ns = self._namespace(rt, namespace)
        key = self._key(rt, ns, name)
        pre = preconditions or {}
        for _ in range(MAX_WRITE_RETRIES):
            with self._lock:
                current = self._current(rt, ns, name)
                md = current["metadata"]
                if pre.get("uid") and pre["uid"] != md.get("uid"):
                    raise errors.precondition_failed(rt, name, "UID", pre["uid"], md.get("uid", ""))
                if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
                    raise errors.precondition_failed(rt, name, "ResourceVersion", pre["resourceVersion"],
                                                     md.get("resourceVersion", ""))
            self._admit(rt, "DELETE", None, current, user, None, dry_run, ns, name)
            with self._lock:
                if self._objects.get(key) is not current:
                    continue  # changed while admission ran: check again
                if not md.get("finalizers"):
                    if dry_run:
                        return copy.deepcopy(current)
                    return copy.deepcopy(self._remove(rt, key, current))
                if md.get("deletionTimestamp"):
                    return copy.deepcopy(current)  # already being deleted
                new = copy.deepcopy(current)
                new["metadata"]["deletionTimestamp"] = self._now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if rt.generation:
                    new["metadata"]["generation"] = int(md.get("generation") or 0) + 1
                if dry_run:
                    return new
                return copy.deepcopy(self._store(rt, key, new, "MODIFIED", current))
        raise errors.conflict(rt, name)

    def delete_collection(
        self,
        resource: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        user: str = DEFAULT_USER,
    ) -> int:
        """Delete every matching object (as ``delete`` would); returns how many were matched."""
        rt = self.resource(resource)
        labels, fields = self._selectors(rt, label_selector, field_selector)
        with self._lock:
            names = [(o["metadata"].get("namespace"), o["metadata"]["name"])
                     for o in self._select(rt, namespace, labels, fields)]
        for ns, name in names:
            try:
                self.delete(rt, name, ns, user=user)
            except errors.NotFoundError:
                pass
        return len(names)

    # -- internals: write machinery -----------------------------------------------------------------
    def _mutate(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        compute: Callable[[Obj], _Write],
        *,
        user: str,
        subresource: str | None,
        dry_run: bool,
    ) -> Obj:
        """Update-like write: compute from the current object, admit outside the lock, commit if unchanged.

        Admission hooks may call back into the API (even over HTTP), so they never run under the lock;
        if the object moved meanwhile, the computation is redone like the server's GuaranteedUpdate.
        """
        ns = self._namespace(rt, namespace)
        key = self._key(rt, ns, name)
        for _ in range(MAX_WRITE_RETRIES):
            with self._lock:
                current = self._current(rt, ns, name)
                write = compute(current)
            new = write.new
            if write.admit:
                admitted = self._admit(rt, write.operation, new, current, user, subresource, dry_run, ns, name)
                assert admitted is not None
                new = admitted
            with self._lock:
                if self._objects.get(key) is not current:
                    continue
                return copy.deepcopy(self._commit_update(rt, key, current, new, subresource, dry_run))
        raise errors.conflict(rt, name)

    def _compose(self, rt: ResourceType, current: Obj, incoming: Obj, subresource: str | None) -> Obj:
        """The object an update would store, before server-owned fields are re-applied."""
        if subresource == "status":
            # /status changes only status
            new = copy.deepcopy(current)
            if "status" in incoming:
                new["status"] = copy.deepcopy(incoming["status"])
            else:
                new.pop("status", None)
            return new
        new = copy.deepcopy(incoming)
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        if rt.status_subresource:  # writes to the object never change status
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        return new

    def _commit_update(
        self, rt: ResourceType, key: Key, current: Obj, new: Obj, subresource: str | None, dry_run: bool
    ) -> Obj:
        cur_md = current["metadata"]
        new.update(kind=rt.kind, apiVersion=rt.api_version)
        md = new.setdefault("metadata", {})
        for f in _SYSTEM_META:
            if f in cur_md:
                md[f] = cur_md[f]
            else:
                md.pop(f, None)
        md["resourceVersion"] = cur_md["resourceVersion"]
        if cur_md.get("deletionTimestamp"):
            added = [f for f in md.get("finalizers") or [] if f not in (cur_md.get("finalizers") or [])]
            if added:
                raise errors.invalid(
                    rt, cur_md["name"], "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {json.dumps(added)}", "FieldValueForbidden")
        if rt.plural == "pods" and rt.group == "" and subresource is None:
            self._check_pod_spec_update(rt, current, new)
        if rt.generation and _spec_part(new) != _spec_part(current):
            md["generation"] = int(cur_md.get("generation") or 0) + 1
        if md.get("finalizers") == []:
            md.pop("finalizers")
        if _comparable(new) == _comparable(current):
            return current  # a no-op write: no new resourceVersion, no event
        if dry_run:
            return new
        if cur_md.get("deletionTimestamp") and not md.get("finalizers"):
            return self._remove(rt, key, new)  # the last finalizer is gone
        return self._store(rt, key, new, "MODIFIED", current)

    def _store(self, rt: ResourceType, key: Key, obj: Obj, event: str, old: Obj | None) -> Obj:
        """Commit under the lock: new resourceVersion, store, record the event, wake watchers."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._record(WatchEvent(self._rv, event, rt.group, rt.plural, key[2], obj, old))
        return obj

    def _remove(self, rt: ResourceType, key: Key, last: Obj) -> Obj:
        final = copy.deepcopy(last)
        self._rv += 1
        final["metadata"]["resourceVersion"] = str(self._rv)
        self._objects.pop(key, None)
        self._record(WatchEvent(self._rv, "DELETED", rt.group, rt.plural, key[2], final, None))
        return final

    def _record(self, ev: WatchEvent) -> None:
        maxlen = self._history.maxlen or 0
        if maxlen == 0:
            self._compacted_rv = ev.rv
        elif len(self._history) == maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(ev)
        self.changed.notify_all()

    def _admit(
        self,
        rt: ResourceType,
        operation: str,
        obj: Obj | None,
        old: Obj | None,
        user: str,
        subresource: str | None,
        dry_run: bool,
        namespace: str | None,
        name: str,
    ) -> Obj | None:
        with self._lock:
            hooks = list(self._hooks)
        for hook_name, fn in hooks:
            req = AdmissionRequest(
                uid=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                operation=operation, resource=rt.plural, group=rt.group, version=rt.version, kind=rt.kind,
                namespace=namespace if rt.namespaced else None, name=name,
                object=copy.deepcopy(obj), old_object=copy.deepcopy(old), user=user,
                subresource=subresource, dry_run=dry_run,
            )
            try:
                resp = fn(req)
            except errors.ApiError:
                raise
            except Exception as exc:  # a failing webhook with failurePolicy=Fail
                raise errors.internal(f'Internal error occurred: failed calling webhook "{hook_name}": {exc}') from exc
            if resp is None:
                continue
            if not resp.allowed:
                raise _denied(hook_name, resp)
            if resp.patch and obj is not None:
                try:
                    obj = apply_patch(obj, resp.patch, "json")
                except errors.ApiError as exc:
                    raise errors.internal(
                        f'Internal error occurred: failed to apply patch from webhook "{hook_name}": {exc.message}'
                    ) from exc
        return obj

    # -- internals: validation --------------------------------------------------------------------
    def _check_body(self, rt: ResourceType, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        new = copy.deepcopy(obj)
        if new.get("kind") and new["kind"] != rt.kind:
            raise errors.bad_request(f"the kind of the object ({new['kind']}) does not match the resource ({rt.kind})")
        if new.get("apiVersion") and new["apiVersion"] != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({new['apiVersion']}) does not match the expected API version "
                f"({rt.api_version})")
        if new.get("metadata") is None:
            new["metadata"] = {}
        if not isinstance(new["metadata"], dict):
            raise errors.bad_request("metadata must be an object")
        return new

    def _validate_create(self, rt: ResourceType, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        pattern = _LABEL if rt.plural == "namespaces" else _SUBDOMAIN
        if len(name) > (63 if pattern is _LABEL else 253) or not pattern.match(name):
            what, chars = ("RFC 1123 label", "'-'") if pattern is _LABEL else ("RFC 1123 subdomain", "'-' or '.'")
            raise errors.invalid(
                rt, name, "metadata.name",
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric '
                f"characters, {chars}, and must start and end with an alphanumeric character")
        if rt.plural == "pods" and rt.group == "":
            containers = (obj.get("spec") or {}).get("containers")
            if not isinstance(containers, list) or not containers:
                raise errors.invalid(rt, name, "spec.containers", "Required value", "FieldValueRequired")
            for i, c in enumerate(containers):
                for f in ("name", "image"):
                    if not isinstance(c, dict) or not c.get(f):
                        raise errors.invalid(rt, name, f"spec.containers[{i}].{f}", "Required value",
                                             "FieldValueRequired")

    def _check_pod_spec_update(self, rt: ResourceType, current: Obj, new: Obj) -> None:
        """Pods: only images, activeDeadlineSeconds, added tolerations, removed scheduling gates change."""
        old_spec = current.get("spec") or {}
        norm = copy.deepcopy(new.get("spec") or {})
        for fld in ("containers", "initContainers"):
            olds, news = old_spec.get(fld) or [], norm.get(fld) or []
            if len(olds) == len(news):
                for oc, nc in zip(olds, news, strict=True):
                    if isinstance(oc, dict) and isinstance(nc, dict):
                        if "image" in oc:
                            nc["image"] = oc["image"]
                        else:
                            nc.pop("image", None)
        for fld in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
            if fld in old_spec:
                norm[fld] = old_spec[fld]
            else:
                norm.pop(fld, None)
        old_tol, new_tol = old_spec.get("tolerations") or [], norm.get("tolerations") or []
        if all(t in new_tol for t in old_tol):
            _restore(norm, old_spec, "tolerations")
        old_gates, new_gates = old_spec.get("schedulingGates") or [], norm.get("schedulingGates") or []
        if all(g in old_gates for g in new_gates):
            _restore(norm, old_spec, "schedulingGates")
        if norm != old_spec:
            raise errors.invalid(
                rt, current["metadata"]["name"], "spec",
                "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                "previously negative)", "FieldValueForbidden")

    def _check_subresource(self, rt: ResourceType, subresource: str | None) -> None:
        if subresource is not None and not (subresource == "status" and rt.status_subresource):
            raise errors.path_not_found()

    # -- internals: lookups -----------------------------------------------------------------------
    def _namespace(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rt.namespaced else ""

    def _body_namespace(self, rt: ResourceType, md: Obj, namespace: str | None) -> str:
        if not rt.namespaced:
            md.pop("namespace", None)
            return ""
        body_ns = md.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        return str(namespace or body_ns or "default")

    @staticmethod
    def _key(rt: ResourceType, namespace: str, name: str) -> Key:
        return (rt.group, rt.plural, namespace, name)

    def _current(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get(self._key(rt, self._namespace(rt, namespace), name))
        if obj is None:
            raise errors.not_found(rt, name)
        return obj

    def _selectors(
        self, rt: ResourceType, label_selector: str | None, field_selector: str | None
    ) -> tuple[list[Requirement], list[FieldRequirement]]:
        try:
            return parse_label_selector(label_selector), parse_field_selector(field_selector, rt.supports_field)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None

    @staticmethod
    def _sort_key(obj: Obj) -> str:
        md = obj["metadata"]
        return f"{md.get('namespace', '')}/{md['name']}"

    def _select(
        self, rt: ResourceType, namespace: str | None, labels: list[Requirement], fields: list[FieldRequirement]
    ) -> list[Obj]:
        """Matching stored objects in etcd key order (namespace/name); caller holds the lock."""
        ns = namespace if rt.namespaced else None
        out = [
            o for (g, p, n, _), o in self._objects.items()
            if (g, p) == rt.key and (not ns or n == ns) and labels_match(labels, o) and fields_match(fields, o)
        ]
        out.sort(key=self._sort_key)
        return out

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        prefix = prefix[:58]
        with self._lock:
            while True:
                name = prefix + "".join(self._rng.choice(_NAME_CHARS) for _ in range(5))
                if self._key(rt, namespace, name) not in self._objects:
                    return name

    def _parse_rv(self, rv: str) -> int:
        try:
            value = int(rv)
        except (TypeError, ValueError):
            raise errors.bad_request(f'resourceVersion: Invalid value: "{rv}": must be a valid integer') from None
        if value < 0:
            raise errors.bad_request(f'resourceVersion: Invalid value: "{rv}": must be non-negative')
        return value

    def _check_not_compacted(self, rv: int) -> None:
        if rv < self._compacted_rv:
            raise errors.expired(f"too old resource version: {rv} ({self._compacted_rv + 1})")

    def _encode_continue(self, rv: int, start: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _decode_continue(self, token: str) -> tuple[int, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            rv, start = int(data["rv"]), str(data["start"])
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                     "(version meta.k8s.io/v1)") from None
        if rv < self._compacted_rv:
            raise errors.expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a "
                "new list without the continue parameter.")
        return rv, start

    def _now(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


# --- helpers ---------------------------------------------------------------------------------------
def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _comparable(obj: Obj) -> Obj:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    return out


def _restore(target: Obj, source: Obj, key: str) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _denied(hook_name: str, resp: AdmissionResponse) -> errors.ApiError:
    """The Status a rejection becomes (the apiserver's webhook ToStatusErr rules)."""
    code = resp.code if resp.code >= 400 else 400
    denied_by = f'admission webhook "{hook_name}" denied the request'
    if resp.message:
        message = f"{denied_by}: {resp.message}"
    elif resp.reason:
        message = f"{denied_by}: {resp.reason}"
    else:
        message = f"{denied_by} without explanation"
    err = errors.error_for(code, resp.reason, message)
    err.details = None
    return err
