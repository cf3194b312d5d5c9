"""s.yaml (Serverless Devs, fc3) against the code it deploys: handlers, queues, triggers, environment."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from podnet.fc import message_bodies
from podnet.steps.context import dead_letter_queue_name, queue_name
from podnet.steps.messages import STEP_NAMES, parse_envelope

ROOT = Path(__file__).resolve().parents[2]
SYAML = ROOT / "s.yaml"
QUEUE_STEPS = [s for s in STEP_NAMES if s != "sweep"]  # the sweep runs on a timer


_VAR = re.compile(r"\$\{vars\.([A-Za-z0-9_.]+)\}")


def _resolve(value: Any, variables: dict[str, Any]) -> Any:
    """Substitute ``${vars.a.b}`` as ``s`` does (a whole-string reference keeps the value's type)."""
    if isinstance(value, dict):
        return {k: _resolve(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(path: str) -> Any:
        out: Any = variables
        for part in path.split("."):
            out = out[part]
        return _resolve(out, variables)

    whole = _VAR.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return _VAR.sub(lambda m: str(lookup(m.group(1))), value)


def load() -> dict[str, Any]:
    # PyYAML's SafeLoader resolves the `<<: *step` merge key, as Serverless Devs does
    doc = yaml.safe_load(SYAML.read_text())
    return _resolve(doc, doc.get("vars") or {})


DOC = load()
RESOURCES: dict[str, Any] = DOC["resources"]
PREFIX = DOC["vars"]["queuePrefix"]


def props(name: str) -> dict[str, Any]:
    return RESOURCES[name]["props"]


def triggers(name: str, kind: str) -> list[dict[str, Any]]:
    return [t for t in props(name).get("triggers") or [] if t.get("triggerType") == kind]


def defined_names(path: Path) -> set[str]:
    """Top-level names a module binds (defs and assignment targets, tuple unpacking included)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names.update(e.id for e in elts if isinstance(e, ast.Name))
    return names


def test_edition_and_one_resource_per_function() -> None:
    assert DOC["edition"] == "3.0.0"
    functions = {p.parent.name for p in (ROOT / "functions").glob("*/index.py")}
    assert set(RESOURCES) == functions  # no function left undeployed, no resource without code
    assert set(STEP_NAMES) | {"validate"} == functions
    names = [props(r)["functionName"] for r in RESOURCES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_resource_points_at_its_handler(name: str) -> None:
    res = RESOURCES[name]
    p = res["props"]
    assert res["component"] == "fc3"
    assert p["runtime"] == "python3.10"
    assert p["functionName"] == f"podnet-{name}"
    m = re.fullmatch(r"\./build/([a-z0-9-]+)", p["code"])
    assert m, p["code"]
    source = ROOT / "functions" / m.group(1) / "index.py"
    assert m.group(1) == name and source.is_file()
    handler_module, handler_attr = p["handler"].rsplit(".", 1)
    init_module, init_attr = p["instanceLifecycleConfig"]["initializer"]["handler"].rsplit(".", 1)
    assert handler_module == init_module == "index"  # bundle.sh copies functions/<x>/index.py to build/<x>/index.py
    assert {handler_attr, init_attr} <= defined_names(source)
    # and they really are callables once imported
    spec = importlib.util.spec_from_file_location(f"_syaml_index_{name}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(getattr(module, handler_attr)) and callable(getattr(module, init_attr))
    assert 0 < p["instanceLifecycleConfig"]["initializer"]["timeout"] <= 300  # FC's initializer limit


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_mns_triggers_name_the_step_queue(name: str) -> None:
    for trig in triggers(name, "eventbridge"):
        cfg = trig["triggerConfig"]
        source = cfg["eventSourceConfig"]
        assert source["eventSourceType"] == "MNS"
        mns = source["eventSourceParameters"]["sourceMNSParameters"]
        assert name in STEP_NAMES
        assert mns["QueueName"] == queue_name(PREFIX, name)
        assert mns["IsBase64Decode"] is False  # the forwarder sends raw text bodies
        run = cfg["runOptions"]
        assert run["mode"] in ("event", "stream")
        if run["mode"] == "stream":
            assert 1 <= run["batchWindow"]["CountBasedWindow"] <= 16
        dlq = run.get("deadLetterQueue", {}).get("Arn", "")
        assert dlq.endswith(f"/queues/{dead_letter_queue_name(PREFIX)}")


@pytest.mark.parametrize("step", QUEUE_STEPS)
def test_every_queue_step_has_exactly_one_queue_trigger(step: str) -> None:
    assert len(triggers(step, "eventbridge")) == 1


def _valid_cron(expr: str) -> bool:
    every = re.fullmatch(r"@every (\d+)(m|h)", expr)
    if every:
        minutes = int(every.group(1)) * (60 if every.group(2) == "h" else 1)
        return minutes >= 1  # FC's minimum period is one minute
    fields = expr.removeprefix("CRON_TZ=").split()
    if expr.startswith("CRON_TZ="):
        fields = fields[1:]
    field_re = re.compile(r"^(\*|\?|[0-9A-Za-z,\-/*L#]+)$")
    return len(fields) == 6 and all(field_re.match(f) for f in fields)  # seconds minutes hours dom month dow


def test_sweep_runs_on_a_timer_that_produces_a_sweep_message() -> None:
    timers = triggers("sweep", "timer")
    assert len(timers) == 1 and not triggers("sweep", "eventbridge")
    cfg = timers[0]["triggerConfig"]
    assert cfg["enable"] is True
    assert _valid_cron(cfg["cronExpression"]), cfg["cronExpression"]
    json.loads(cfg["payload"])  # FC hands payload over as a string; it must be JSON
    event = {"triggerTime": "2026-01-01T00:00:00Z", "triggerName": timers[0]["triggerName"], "payload": cfg["payload"]}
    [body] = message_bodies(json.dumps(event).encode())
    env = parse_envelope(body)
    assert (env.step, env.kind, env.eventType) == ("sweep", "Timer", "TIMER")


def test_cron_checker_rejects_nonsense() -> None:
    assert _valid_cron("@every 1m") and _valid_cron("0 */5 * * * *") and _valid_cron("CRON_TZ=Asia/Shanghai 0 0 3 * * *")
    assert not _valid_cron("@every 10s") and not _valid_cron("*/5 * * * *") and not _valid_cron("every minute")


def test_validate_is_an_http_trigger() -> None:
    [http] = triggers("validate", "http")
    assert "POST" in http["triggerConfig"]["methods"]
    assert not triggers("validate", "eventbridge") and not triggers("validate", "timer")


def test_environment_is_what_the_code_reads() -> None:
    env = DOC["vars"]["env"]
    assert env["PODNET_QUEUE_PREFIX"] == PREFIX
    source = "\n".join(p.read_text() for p in (ROOT / "shared" / "podnet").rglob("*.py"))
    unread = [k for k in env if f'"{k}"' not in source]
    assert unread == [], f"s.yaml sets variables nothing reads: {unread}"
    for name in RESOURCES:
        assert props(name)["environmentVariables"] == env  # every function gets the same settings
