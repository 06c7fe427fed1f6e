"""Unit tests of the routing-py logic under CPython.

Run: cd plugins/routing-py && python3 -m unittest -v
The cases mirror plugins/routing/src/tests.rs so both plugins behave alike.
"""

import json
import os
import unittest
from types import SimpleNamespace

from routing_logic import ConfigError, FatalError, contains_word, parse_config, route

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIG = json.dumps(
    {
        "rules": [
            {"name": "p1-alerts", "group": "noc", "match": {"channel": ["alert"], "max_priority": 1}},
            {"name": "db", "group": "dba", "match": {"ci_class": ["database"]}},
            {"name": "payroll", "group": "payroll-apps", "match": {"service": [42]}},
            {"name": "vpn", "group": "network-ops", "match": {"category": ["network"], "keywords": ["vpn", "wifi"]}},
            {
                "name": "hw-laptop",
                "group": "desk-side",
                "match": {"category": ["hardware"], "subcategory": ["laptop"], "priority": [3, 4, 5]},
            },
        ],
        "default_group": "service-desk",
        "work_note": True,
    }
)


def ticket(**changes):
    t = SimpleNamespace(
        title="VPN is down",
        description="Cannot connect from home since this morning",
        channel="portal",
        category="Network",
        subcategory=None,
        service=None,
        priority=3,
    )
    for k, v in changes.items():
        setattr(t, k, v)
    return t


def cmdb(ci_class, service_id):
    return json.dumps({"ci": {"id": 7, "class": ci_class}, "service": {"id": service_id, "class": "service"}})


class RoutingTest(unittest.TestCase):
    def test_table(self):
        cases = [
            ("keyword+category", {}, [], "network-ops", "vpn"),
            ("keyword case-insensitive", {"title": "WiFi flaky"}, [], "network-ops", "vpn"),
            ("word boundary", {"title": "wifis", "description": "openvpnx"}, [], "service-desk", None),
            ("category case-insensitive", {"category": "NETWORK"}, [], "network-ops", "vpn"),
            ("p1 alert first", {"channel": "alert", "priority": 1}, [], "noc", "p1-alerts"),
            ("p2 alert", {"channel": "alert", "priority": 2}, [], "network-ops", "vpn"),
            ("ci class", {"category": None}, [cmdb("database", 1)], "dba", "db"),
            ("service on ticket", {"category": None, "service": 42}, [], "payroll-apps", "payroll"),
            ("service from cmdb", {"category": None}, [cmdb("server", 42)], "payroll-apps", "payroll"),
            ("all must match", {"category": "hardware", "subcategory": "laptop", "priority": 2}, [], "service-desk", None),
            ("all match", {"category": "hardware", "subcategory": "Laptop", "priority": 4}, [], "desk-side", "hw-laptop"),
            ("default", {"category": None}, [], "service-desk", None),
        ]
        for name, changes, previous, group, rule in cases:
            with self.subTest(name):
                actions, output = route(CONFIG, ticket(**changes), previous)
                self.assertEqual(actions[0], ("assign-group", group))
                self.assertEqual(actions[1][0], "add-work-note")
                out = json.loads(output)
                self.assertEqual(out["assignment_group"], group)
                self.assertEqual(out["matched_rule"], rule)
                self.assertEqual(out["default"], rule is None)

    def test_shared_cases(self):
        """The cases shared with the Rust plugin (routing/testdata/cases.json)."""
        with open(os.path.join(HERE, "..", "routing", "testdata", "cases.json"), encoding="utf-8") as f:
            data = json.load(f)
        config = json.dumps(data["config"])
        for case in data["cases"]:
            with self.subTest(case["name"]):
                fields = dict(data["base_ticket"], **case["ticket"])
                # A JSON string stands for raw output text; anything else is serialised.
                previous = [o if isinstance(o, str) else json.dumps(o) for o in case.get("previous", [])]
                actions, output = route(config, SimpleNamespace(**fields), previous)
                out = json.loads(output)
                self.assertEqual(out["assignment_group"], case["group"])
                self.assertEqual(out["matched_rule"], case["rule"])
                self.assertEqual(actions[0], ("assign-group", case["group"]))

    def test_no_default_no_match(self):
        cfg = json.dumps({"rules": [{"name": "x", "group": "g", "match": {"category": ["none"]}}]})
        actions, output = route(cfg, ticket(), [])
        self.assertEqual(actions, [])
        self.assertIsNone(json.loads(output)["assignment_group"])

    def test_work_note_off_by_default_and_catch_all(self):
        actions, _ = route(json.dumps({"default_group": "desk"}), ticket(), [])
        self.assertEqual(actions, [("assign-group", "desk")])
        actions, _ = route(json.dumps({"rules": [{"name": "all", "group": "desk"}]}), ticket(), [])
        self.assertEqual(actions, [("assign-group", "desk")])

    def test_invalid_configs(self):
        bad = [
            {},
            {"rules": []},
            {"rules": [{"name": "a", "group": "Bad Group"}]},
            {"rules": [{"name": "a", "group": "g", "match": {"channel": ["fax"]}}]},
            {"rules": [{"name": "a", "group": "g", "match": {"priority": [0]}}]},
            {"rules": [{"name": "a", "group": "g", "match": {"keywords": []}}]},
            {"rules": [{"name": "a", "group": "g", "match": {"colour": ["red"]}}]},
            {"rules": [{"name": "a", "group": "g"}, {"name": "a", "group": "h"}]},
            {"default_group": "x", "extra": 1},
            {"default_group": "x", "work_note": "yes"},
            {"rules": [{"name": "a", "group": "g", "match": {"service": [True]}}]},
            [1, 2],
        ]
        for cfg in bad:
            with self.subTest(cfg=cfg):
                with self.assertRaises(ConfigError):
                    parse_config(json.dumps(cfg))
        with self.assertRaises(ConfigError):
            parse_config("not json")
        parse_config(CONFIG)

    def test_example_config(self):
        with open(os.path.join(HERE, "example-config.json")) as f:
            parse_config(f.read())

    def test_missing_ticket_is_fatal(self):
        with self.assertRaises(FatalError):
            route(CONFIG, None, [])

    def test_garbage_previous_outputs(self):
        actions, _ = route(CONFIG, ticket(category=None), ["not json", json.dumps({"ci": 5}), "[1]"])
        self.assertEqual(actions[0], ("assign-group", "service-desk"))

    def test_odd_inputs(self):
        for text in ["", "null", "[]", "1e999", "[" * 100000, '{"a":']:
            with self.subTest(text=text[:10]):
                with self.assertRaises(ConfigError):
                    parse_config(text)
        t = ticket(category=None, priority=0, title="{{" * 1000)
        actions, _ = route(CONFIG, t, ["[" * 100000, "null"])
        self.assertEqual(actions[0], ("assign-group", "service-desk"))

    def test_contains_word(self):
        self.assertTrue(contains_word("café vpn", "vpn"))
        self.assertFalse(contains_word("éévpné", "vpn"))
        self.assertTrue(contains_word("ok: can't login", "can't login"))
        self.assertFalse(contains_word("x", ""))


if __name__ == "__main__":
    unittest.main()
