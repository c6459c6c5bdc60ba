"""A reviewer's summary of a Terraform plan, from `terraform show -json PLANFILE`, as Markdown.

Replacements and destroys come first (they are what loses data or drops traffic), then creates and
updates with their attribute-level changes. Sensitive values are masked, unknown ones shown as
"(known after apply)". The full plan text goes in a collapsed section.
Plan JSON format: https://developer.hashicorp.com/terraform/internals/json-format
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import jinja2

MARKER = "<!-- dog-breeds:terraform-plan-summary -->"  # lets CI update its one PR comment
SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
ACTION_ORDER = ("replace", "delete", "create", "update")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class AttributeChange:
    path: str
    before: str
    after: str
    forces_replacement: bool = False


@dataclass
class ResourceChange:
    address: str
    type: str
    action: str  # create | update | replace | delete
    reason: str = ""
    attributes: list[AttributeChange] = field(default_factory=list)


@dataclass
class PlanSummary:
    changes: list[ResourceChange]
    outputs: list[AttributeChange]

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in ACTION_ORDER}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.outputs)

    def by_action(self, action: str) -> list[ResourceChange]:
        return [c for c in self.changes if c.action == action]


def action_of(actions: list[str]) -> str | None:
    """Terraform's action list as one word; None for no-op and read."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions in (["create"], ["update"], ["delete"]):
        return actions[0]
    return None


def summarize(plan: dict[str, Any]) -> PlanSummary:
    changes = []
    for rc in plan.get("resource_changes", []):
        action = action_of(rc["change"]["actions"])
        if action is None:
            continue
        change = rc["change"]
        attributes = [] if action in ("create", "delete") else list(_attribute_changes(change))
        changes.append(ResourceChange(
            address=rc["address"], type=rc["type"], action=action,
            reason=_reason(rc.get("action_reason", "")), attributes=attributes))
    changes.sort(key=lambda c: (ACTION_ORDER.index(c.action), c.address))
    outputs = []
    for name, oc in sorted(plan.get("output_changes", {}).items()):
        if action_of(oc["actions"]) is None:
            continue
        before = _show(oc.get("before"), oc.get("before_sensitive"), False)
        after = _show(oc.get("after"), oc.get("after_sensitive"), oc.get("after_unknown"))
        outputs.append(AttributeChange(name, before, after))
    return PlanSummary(changes=changes, outputs=outputs)


def render_markdown(summary: PlanSummary | None, *, title: str = "Terraform plan",
                    plan_text: str = "", error: str = "") -> str:
    """The Markdown summary; `summary=None` with `error` renders a failed plan."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    template = env.get_template("plan_summary.md.j2")
    return template.render(summary=summary, title=title, plan_text=plan_text.strip(),
                           error=error.strip(), marker=MARKER, actions=ACTION_ORDER)


def render_plan_file(plan_json_text: str, **kwargs: Any) -> str:
    return render_markdown(summarize(json.loads(plan_json_text)), **kwargs)


def _reason(code: str) -> str:
    return code.replace("_", " ").lower() if code else ""


def _attribute_changes(change: dict[str, Any]) -> Iterator[AttributeChange]:
    before = dict(_flatten(change.get("before") or {}))
    after = dict(_flatten(change.get("after") or {}))
    unknown = {path for path, value in _flatten(change.get("after_unknown") or {}) if value is True}
    before_sensitive = {p for p, v in _flatten(change.get("before_sensitive") or {}) if v is True}
    after_sensitive = {p for p, v in _flatten(change.get("after_sensitive") or {}) if v is True}
    forcing = {_path_text(p) for p in change.get("replace_paths") or []}
    for path in sorted(set(before) | set(after) | unknown):
        old, new = before.get(path), after.get(path)
        if path not in unknown and old == new:
            continue
        yield AttributeChange(
            path=path,
            before=_masked(old, _is_under(path, before_sensitive)),
            after=UNKNOWN if path in unknown else _masked(new, _is_under(path, after_sensitive)),
            forces_replacement=any(path == f or path.startswith(f + ".") for f in forcing))


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts/lists as dotted paths; empty containers are leaves."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _path_text(steps: list[Any]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _is_under(path: str, prefixes: set[str]) -> bool:
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in prefixes)


def _masked(value: Any, sensitive: bool) -> str:
    """A sensitive value is hidden; an absent one (null) has nothing to hide."""
    return SENSITIVE if sensitive and value is not None else _literal(value)


def _show(value: Any, sensitive: Any, unknown: Any) -> str:
    if unknown is True:
        return UNKNOWN
    return _masked(value, sensitive is True)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."
