"""Routing rules for the Switchyard `routing-py` plugin.

The same behaviour and config as the Rust `routing` plugin (see
plugins/routing/src/lib.rs and plugins/README.md). This module holds plain
Python with no WIT types, so it runs under CPython for the unit tests
(`python3 -m unittest` in this folder); `app.py` adapts it to the
generated bindings.

Tickets are read by attribute (`ticket.category`, ...), the channel through
`channel_name` so that both the generated enum and a plain string work.
"""

import json
import re

CHANNELS = ("portal", "email", "api", "alert", "phone", "chat")
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_RULE_KEYS = {"name", "group", "match"}
_MATCH_KEYS = {
    "category",
    "subcategory",
    "service",
    "ci_class",
    "keywords",
    "channel",
    "priority",
    "max_priority",
}
_TOP_KEYS = {"rules", "default_group", "work_note"}


class ConfigError(Exception):
    """The config is invalid; `errors` lists every problem found."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


class FatalError(Exception):
    """The input cannot be routed (e.g. there is no ticket)."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _str_list(errors, at, v):
    if not isinstance(v, list) or not all(isinstance(x, str) and x != "" for x in v):
        errors.append(f"{at}: must be a list of non-empty strings")
        return
    if not v:
        errors.append(f"{at}: must not be an empty list")


def parse_config(text):
    """Parses and checks a config text; raises ConfigError."""
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ConfigError([f"config: {e}"]) from None
    if not isinstance(config, dict):
        raise ConfigError(["config: must be a JSON object"])
    errors = []
    for k in sorted(set(config) - _TOP_KEYS):
        errors.append(f"config: unknown field `{k}`")
    rules = config.get("rules", [])
    default = config.get("default_group")
    work_note = config.get("work_note", False)
    if not isinstance(rules, list):
        errors.append("rules: must be a list")
        rules = []
    if not isinstance(work_note, bool):
        errors.append("work_note: must be a boolean")
    if default is not None and (not isinstance(default, str) or not _HANDLE.match(default)):
        errors.append(f"default_group: `{default}` is not a valid group name")
    if not rules and default is None:
        errors.append("config: give at least one rule or a default_group")
    names = set()
    for i, rule in enumerate(rules):
        at = f"rules[{i}]"
        if not isinstance(rule, dict):
            errors.append(f"{at}: must be an object")
            continue
        for k in sorted(set(rule) - _RULE_KEYS):
            errors.append(f"{at}: unknown field `{k}`")
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{at}.name: must not be empty")
        elif name in names:
            errors.append(f"{at}.name: duplicate rule name `{name}`")
        else:
            names.add(name)
        group = rule.get("group")
        if not isinstance(group, str) or not _HANDLE.match(group):
            errors.append(f"{at}.group: `{group}` is not a valid group name")
        m = rule.get("match", {})
        if not isinstance(m, dict):
            errors.append(f"{at}.match: must be an object")
            continue
        for k in sorted(set(m) - _MATCH_KEYS):
            errors.append(f"{at}.match: unknown field `{k}`")
        for k in ("category", "subcategory", "ci_class", "keywords", "channel"):
            if k in m:
                _str_list(errors, f"{at}.match.{k}", m[k])
        for k in m.get("keywords", []) if isinstance(m.get("keywords"), list) else []:
            if isinstance(k, str) and not k.strip():
                errors.append(f"{at}.match.keywords: keywords must not be blank")
        if isinstance(m.get("channel"), list):
            for ch in m["channel"]:
                if ch not in CHANNELS:
                    errors.append(f"{at}.match.channel: `{ch}` is not one of {', '.join(CHANNELS)}")
        if "service" in m:
            s = m["service"]
            if not isinstance(s, list) or not all(_is_int(x) and x >= 0 for x in s):
                errors.append(f"{at}.match.service: must be a list of CI ids")
            elif not s:
                errors.append(f"{at}.match.service: must not be an empty list")
        if "priority" in m:
            p = m["priority"]
            if not isinstance(p, list) or not all(_is_int(x) for x in p):
                errors.append(f"{at}.match.priority: must be a list of integers")
            elif not p:
                errors.append(f"{at}.match.priority: must not be an empty list")
            else:
                for x in p:
                    if not 1 <= x <= 5:
                        errors.append(f"{at}.match: priority {x} is not in 1..5")
        if "max_priority" in m:
            x = m["max_priority"]
            if not _is_int(x) or not 1 <= x <= 5:
                errors.append(f"{at}.match: priority {x} is not in 1..5")
    if errors:
        raise ConfigError(errors)
    return {"rules": rules, "default_group": default, "work_note": work_note}


def cmdb_facts(previous_outputs):
    """(ci_class, service_class, service_id) from the latest earlier output
    with a `ci` or `service` object (normally cmdb-lookup's)."""
    for text in reversed(previous_outputs):
        try:
            v = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if not isinstance(v, dict):
            continue
        ci = v.get("ci") if isinstance(v.get("ci"), dict) else None
        svc = v.get("service") if isinstance(v.get("service"), dict) else None
        if ci is None and svc is None:
            continue

        def cls(o):
            c = o.get("class") if o else None
            return c if isinstance(c, str) else None

        sid = svc.get("id") if svc else None
        return cls(ci), cls(svc), sid if _is_int(sid) and sid >= 0 else None
    return None, None, None


def contains_word(haystack, needle):
    """`needle` occurs in `haystack` with no letter or digit right before or
    after it (both already lower-case)."""
    if not needle:
        return False
    start = 0
    while True:
        at = haystack.find(needle, start)
        if at < 0:
            return False
        end = at + len(needle)
        before_ok = at == 0 or not haystack[at - 1].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum()
        if before_ok and after_ok:
            return True
        start = at + 1


def channel_name(channel):
    """The wire name of a channel (generated enum or string)."""
    name = getattr(channel, "name", channel)
    return str(name).lower()


def _eq_ci(items, value):
    return value is not None and any(x.lower() == value.lower() for x in items)


def matches(m, ticket, facts):
    """True when every criterion in `m` matches the ticket."""
    ci_class, service_class, service_id = facts
    if "category" in m and not _eq_ci(m["category"], ticket.category):
        return False
    if "subcategory" in m and not _eq_ci(m["subcategory"], ticket.subcategory):
        return False
    if "service" in m:
        ids = [i for i in (ticket.service, service_id) if i is not None]
        if not any(i in m["service"] for i in ids):
            return False
    if "ci_class" in m and not (_eq_ci(m["ci_class"], ci_class) or _eq_ci(m["ci_class"], service_class)):
        return False
    if "keywords" in m:
        title = ticket.title.lower()
        description = ticket.description.lower()
        if not any(
            contains_word(title, k.strip().lower()) or contains_word(description, k.strip().lower())
            for k in m["keywords"]
        ):
            return False
    if "channel" in m and channel_name(ticket.channel) not in m["channel"]:
        return False
    if "priority" in m and ticket.priority not in m["priority"]:
        return False
    if "max_priority" in m and ticket.priority > m["max_priority"]:
        return False
    return True


def route(config_text, ticket, previous_outputs):
    """Routes a ticket. Returns (actions, output_json) where actions are
    ("assign-group", group) and ("add-work-note", text) tuples.
    Raises ConfigError or FatalError."""
    config = parse_config(config_text)
    if ticket is None:
        raise FatalError("routing needs a ticket; this run has none")
    facts = cmdb_facts(previous_outputs)
    actions = []
    for i, rule in enumerate(config["rules"]):
        if matches(rule.get("match", {}), ticket, facts):
            actions.append(("assign-group", rule["group"]))
            if config["work_note"]:
                actions.append(("add-work-note", f"Routed to {rule['group']} by rule '{rule['name']}'."))
            out = {"assignment_group": rule["group"], "matched_rule": rule["name"], "rule_index": i, "default": False}
            return actions, json.dumps(out)
    group = config["default_group"]
    if group is not None:
        actions.append(("assign-group", group))
        if config["work_note"]:
            actions.append(("add-work-note", f"Routed to {group}: no rule matched, using the default group."))
        out = {"assignment_group": group, "matched_rule": None, "rule_index": None, "default": True}
    else:
        out = {"assignment_group": None, "matched_rule": None, "rule_index": None, "default": False}
    return actions, json.dumps(out)
