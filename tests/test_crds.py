"""The CRDs in deploy/crds and the pydantic models describe the same objects: same fields (by their
JSON names), types, enums, defaults and required fields, found by walking both side by side."""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from podnet.domain.models import API_GROUP, PodENI, PodNetworking
from podnet.ports import PODENIS, PODNETWORKINGS

CRD_DIR = Path(__file__).resolve().parents[1] / "deploy" / "crds"
CASES = [("podnetworkings.yaml", PodNetworking, PODNETWORKINGS), ("podenis.yaml", PodENI, PODENIS)]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CRD_DIR / name).read_text())


def version(crd: dict[str, Any]) -> dict[str, Any]:
    (v,) = crd["spec"]["versions"]
    return v


def _unwrap_optional(ann: Any) -> Any:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        assert len(args) == 1, ann
        return args[0]
    return ann


def _prune(value: Any) -> Any:
    """Drop None and empty lists/objects, recursively: they are the same as "absent"."""
    if isinstance(value, dict):
        value = {k: _prune(v) for k, v in value.items()}
        value = {k: v for k, v in value.items() if v is not None}
    elif isinstance(value, list):
        value = [_prune(v) for v in value]
    return None if value is None or value == [] or value == {} else value


def _json_default(value: Any) -> Any:
    """A model default as it would appear in JSON (None when there is none)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(value, enum.Enum):
        value = value.value
    return _prune(value)


def _defaulted(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with the schema's nested defaults filled in, as the API server's defaulting does."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = sub["default"]
        if key in out:
            out[key] = _defaulted(out[key], sub)
    return out


def compare_default(model_default: Any, schema: dict[str, Any], path: str) -> None:
    """A model default must be the CRD's default; an object the model creates when absent must be what the
    API server's defaulting makes of an empty object of that schema."""
    if model_default is None:
        assert "default" not in schema, f"default of {path}: the CRD has {schema['default']!r}, the model none"
    elif "default" in schema:
        crd = _prune(_defaulted(schema["default"], schema))
        assert model_default == crd, f"default of {path}: model {model_default!r} vs CRD {crd!r}"
    else:
        crd = _prune(_defaulted({}, schema)) if schema.get("type") == "object" else None
        assert model_default == crd, f"default of {path}: model {model_default!r} vs CRD {crd!r}"


def compare_type(ann: Any, schema: dict[str, Any], path: str) -> None:
    ann = _unwrap_optional(ann)
    origin = typing.get_origin(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        assert schema.get("type") == "object", path
        compare_model(ann, schema, path)
    elif isinstance(ann, type) and issubclass(ann, enum.Enum):
        assert schema.get("type") == "string", path
        assert sorted(schema.get("enum", [])) == sorted(m.value for m in ann), f"enum of {path}"
    elif origin is typing.Literal:
        assert sorted(schema.get("enum", [])) == sorted(typing.get_args(ann)), f"enum of {path}"
    elif origin is list:
        assert schema.get("type") == "array", path
        compare_type(typing.get_args(ann)[0], schema["items"], f"{path}[]")
    elif origin is dict:
        assert schema.get("type") == "object", path
        value_type = typing.get_args(ann)[1]
        if value_type is Any:
            assert "properties" not in schema and "additionalProperties" not in schema, path
        else:
            compare_type(value_type, schema["additionalProperties"], f"{path}{{}}")
    else:
        expected = {str: "string", bool: "boolean", int: "integer"}[ann]
        assert schema.get("type") == expected, path
        assert "enum" not in schema, f"{path}: the CRD has an enum the model lacks"


def compare_model(model: type[BaseModel], schema: dict[str, Any], path: str) -> None:
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    props = schema.get("properties", {})
    assert set(fields) == set(props), f"{path or model.__name__}: model {sorted(fields)} vs CRD {sorted(props)}"
    required = {alias for alias, f in fields.items() if f.is_required()}
    assert required == set(schema.get("required", [])), f"required fields of {path or model.__name__}"
    for alias, f in fields.items():
        sub = props[alias]
        here = f"{path}.{alias}" if path else alias
        compare_type(f.annotation, sub, here)
        if here in ("apiVersion", "kind"):
            continue  # set by clients; the API server requires them rather than defaulting them
        model_default = None if f.is_required() else _json_default(f.get_default(call_default_factory=True))
        compare_default(model_default, sub, here)


@pytest.mark.parametrize(("file", "model", "resource"), CASES)
def test_schema_and_model_agree(file: str, model: type[BaseModel], resource: Any) -> None:
    crd = load(file)
    compare_model(model, version(crd)["schema"]["openAPIV3Schema"], "")


@pytest.mark.parametrize(("file", "model", "resource"), CASES)
def test_crd_identity_matches_the_ports_resource(file: str, model: type[BaseModel], resource: Any) -> None:
    crd = load(file)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert spec["group"] == API_GROUP == resource.group
    assert crd["metadata"]["name"] == f"{resource.plural}.{resource.group}"
    assert spec["names"]["kind"] == resource.kind == model.model_fields["kind"].default
    assert spec["names"]["plural"] == resource.plural
    assert spec["scope"] == ("Namespaced" if resource.namespaced else "Cluster")
    v = version(crd)
    assert v["name"] == resource.version and v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}


def _walk_schema(schema: dict[str, Any], path: str) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk_schema(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from _walk_schema(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk_schema(schema["additionalProperties"], f"{path}{{}}")


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        return isinstance(value, dict) and all(
            k in schema.get("properties", {}) and _valid(v, schema["properties"][k]) for k, v in value.items()
        )
    return {"string": str, "boolean": bool, "integer": int, "array": list}[kind] is type(value)


@pytest.mark.parametrize("file", [c[0] for c in CASES])
def test_schema_is_structural_and_defaults_are_valid(file: str) -> None:
    root = version(load(file))["schema"]["openAPIV3Schema"]
    for path, node in _walk_schema(root, ""):
        assert node.get("type") in ("object", "array", "string", "boolean", "integer"), f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), f"{path} array without items"
        if "default" in node:
            assert _valid(node["default"], node), f"default of {path} does not fit its schema"
        for name in node.get("required", []):
            assert name in node.get("properties", {}), f"{path} requires unknown {name}"


def test_printer_columns() -> None:
    pn = {c["name"]: c for c in version(load("podnetworkings.yaml"))["additionalPrinterColumns"]}
    assert list(pn) == ["STATUS", "AGE"]
    assert pn["STATUS"]["jsonPath"] == ".status.status" and pn["AGE"]["type"] == "date"
    eni = {c["name"]: c for c in version(load("podenis.yaml"))["additionalPrinterColumns"]}
    assert [n for n, c in eni.items() if not c.get("priority")] == ["PHASE", "NODE", "AGE"]
    assert eni["PHASE"]["jsonPath"] == ".status.phase"
    assert eni["NODE"]["jsonPath"] == r".metadata.labels.k8s\.aliyun\.com/node"
    assert eni["INSTANCE"]["jsonPath"] == ".status.instanceID" and eni["INSTANCE"]["priority"] == 1


def test_walker_catches_a_disagreement() -> None:
    """The comparison is not vacuous: a CRD missing an enum value or a field fails it."""
    schema = version(load("podnetworkings.yaml"))["schema"]["openAPIV3Schema"]
    eni_type = schema["properties"]["spec"]["properties"]["eniOptions"]["properties"]["eniType"]
    eni_type["enum"] = ["Default", "ENI"]
    with pytest.raises(AssertionError, match="enum of spec.eniOptions.eniType"):
        compare_model(PodNetworking, schema, "")
    eni_type["enum"] = ["Default", "ENI", "Trunk"]
    del schema["properties"]["spec"]["properties"]["vSwitchOptions"]
    with pytest.raises(AssertionError, match="vSwitchOptions"):
        compare_model(PodNetworking, schema, "")
    schema = version(load("podnetworkings.yaml"))["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["allocationType"]["default"] = {"type": "Fixed"}
    with pytest.raises(AssertionError, match="default of spec.allocationType"):
        compare_model(PodNetworking, schema, "")
