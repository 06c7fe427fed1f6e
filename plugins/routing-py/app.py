"""Switchyard `routing-py` plugin: the `routing` plugin written in Python.

Built with componentize-py against the `pure-step` world (see README.md):

    componentize-py -d ../wit -w pure-step componentize app -o routing-py.wasm

The routing logic is in routing_logic.py (plain Python, unit-tested with
CPython); this module only adapts it to the generated bindings. Any
unexpected exception becomes a `fatal` step error instead of a trap.
"""

import wit_world
from componentize_py_types import Err
from wit_world.imports import types

import routing_logic


def _action(kind, value):
    if kind == "assign-group":
        return types.Action_AssignGroup(value)
    return types.Action_AddWorkNote(value)


class WitWorld(wit_world.WitWorld):
    """The exported functions of the pure-step world."""

    def validate_config(self, config: str) -> None:
        try:
            routing_logic.parse_config(config)
        except routing_logic.ConfigError as e:
            raise Err(e.errors)
        except Exception as e:  # never trap on odd input
            raise Err([f"config: {type(e).__name__}: {e}"])

    def run(self, input: types.StepInput) -> types.StepResult:
        try:
            previous = [p.output for p in input.previous]
            actions, output = routing_logic.route(input.config, input.ticket, previous)
        except routing_logic.ConfigError as e:
            raise Err(types.StepError_InvalidConfig("; ".join(e.errors)))
        except routing_logic.FatalError as e:
            raise Err(types.StepError_Fatal(str(e)))
        except Exception as e:
            raise Err(types.StepError_Fatal(f"routing-py failed: {type(e).__name__}: {e}"))
        return types.StepResult(
            actions=[_action(kind, value) for kind, value in actions],
            output=output,
            next_step=None,
        )
