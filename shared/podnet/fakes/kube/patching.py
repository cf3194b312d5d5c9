"""The three patch flavours the API server accepts: JSON merge, strategic merge and JSON patch."""

from __future__ import annotations

import copy
from typing import Any, Literal

import jsonpatch
import jsonpointer

from podnet.fakes.kube import errors

PatchType = Literal["merge", "strategic", "json"]

CONTENT_TYPES: dict[str, PatchType] = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}

# Lists that strategic merge patch merges instead of replacing (patchStrategy=merge in the core
# types): the value is the patchMergeKey, None for a list of scalars merged as a set. Paths skip
# list indices, so "spec.containers.env" is every container's env. Other lists are replaced.
SMP_MERGE_KEYS: dict[str, str | None] = {
    "metadata.finalizers": None,
    "metadata.ownerReferences": "uid",
    "spec.containers": "name",
    "spec.initContainers": "name",
    "spec.ephemeralContainers": "name",
    "spec.volumes": "name",
    "spec.imagePullSecrets": "name",
    "spec.hostAliases": "ip",
    "spec.podCIDRs": None,
    **{
        f"spec.{c}.{f}": k
        for c in ("containers", "initContainers", "ephemeralContainers")
        for f, k in (("env", "name"), ("ports", "containerPort"), ("volumeMounts", "mountPath"),
                     ("volumeDevices", "devicePath"))
    },
    "status.conditions": "type",
    "status.podIPs": "ip",
    "status.hostIPs": "ip",
    "status.addresses": "type",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not (k.startswith("$patch") or k.startswith("$retainKeys") or k.startswith("$setElementOrder/")
                    or k.startswith("$deleteFromPrimitiveList/"))
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return copy.deepcopy(value)


def strategic_merge_patch(target: Any, patch: Any, path: str = "") -> Any:
    """Strategic merge patch for the list fields in SMP_MERGE_KEYS, with the common ``$`` directives.

    Supported: ``$patch: replace|delete`` on maps and list items, ``$deleteFromPrimitiveList/<f>``,
    and ``$setElementOrder``/``$retainKeys`` (accepted and ignored).
    """
    if not isinstance(patch, dict):
        return _strip_directives(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    result = dict(target) if isinstance(target, dict) else {}
    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            deletions.append((key.split("/", 1)[1], value))
            continue
        if key.startswith("$"):
            continue
        sub = f"{path}.{key}" if path else key
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, sub)
        elif isinstance(value, list) and sub in SMP_MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, SMP_MERGE_KEYS[sub], sub)
        else:
            result[key] = _strip_directives(value)
    for key, remove in deletions:
        if isinstance(result.get(key), list) and isinstance(remove, list):
            result[key] = [x for x in result[key] if x not in remove]
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str | None, path: str) -> list[Any]:
    if merge_key is None:  # a set of scalars
        out = copy.deepcopy(current)
        out.extend(copy.deepcopy(x) for x in patch if x not in out)
        return out
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip_directives(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    out = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            out.append(_strip_directives(item))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(_strip_directives(item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item, path)
    return out


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch; a failed ``test`` or a bad path is a 422 like the server's."""
    if not isinstance(ops, list):
        raise errors.bad_request("json patch must be a list of operations")
    try:
        patch = jsonpatch.JsonPatch(ops)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError, AttributeError) as exc:
        raise errors.bad_request(str(exc)) from exc
    try:
        out = patch.apply(copy.deepcopy(target))
    except jsonpatch.InvalidJsonPatch as exc:
        raise errors.bad_request(str(exc)) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError, KeyError,
            IndexError) as exc:
        raise errors.unprocessable(str(exc)) from exc
    if not isinstance(out, dict):
        raise errors.unprocessable("the patched document is not an object")
    return out


def apply_patch(target: dict[str, Any], patch: Any, patch_type: PatchType) -> dict[str, Any]:
    """Apply a patch of the given type to a copy of ``target``."""
    if patch_type == "json":
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise errors.bad_request(f"{patch_type} patch must be a JSON object")
    if patch_type == "strategic":
        return strategic_merge_patch(target, patch)
    return merge_patch(target, patch)
