"""Finding skill loads in a session (for the two skill built-ins).

AgentCore anchors one result to each tool call that loaded a skill and emits no result when there
is none. Frameworks load skills through a tool; which one is not standardised, so a call counts as a
skill load when its tool is named like a skill loader (`skill`, `skills`, `load_skill`, …) or its
arguments or result mention a `SKILL.md` file. The skill's name is read from the arguments
(`skill`, `skill_name`, `name`, or the folder of a SKILL.md path); its content is the call's result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from batcheval.traces.model import ToolCall

SKILL_TOOL_NAMES = frozenset(
    {"skill", "skills", "load_skill", "activate_skill", "use_skill", "invoke_skill", "read_skill"}
)
_SKILL_FILE = re.compile(r"([\w.\-]+)/SKILL\.md", re.IGNORECASE)
_NAME_KEYS = ("skill", "skill_name", "skillName", "name")


@dataclass(frozen=True, slots=True)
class SkillLoad:
    name: str
    content: str | None


def skill_load(call: ToolCall) -> SkillLoad | None:
    """The skill `call` loaded, or None if it is not a skill load."""
    mentions_file = any(
        text is not None and "skill.md" in text.lower() for text in (call.arguments, call.result)
    )
    if call.name.lower() not in SKILL_TOOL_NAMES and not mentions_file:
        return None
    return SkillLoad(name=_skill_name(call), content=call.result)


def _skill_name(call: ToolCall) -> str:
    if call.arguments:
        try:
            args = msgspec.json.decode(call.arguments)
        except ValueError:
            args = None
        if isinstance(args, dict):
            for key in _NAME_KEYS:
                value = args.get(key)
                if isinstance(value, str) and value:
                    return value
        found = _SKILL_FILE.search(call.arguments)
        if found:
            return found.group(1)
    return call.name
