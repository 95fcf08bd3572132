"""Just enough of CloudFormation's intrinsic functions to read template.yaml in tests."""

from __future__ import annotations

import re
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}


def evaluate(node: Any, values: dict[str, str]) -> Any:
    """The value of a template expression (Ref, GetAtt, Sub, Select, Split, If, conditions).

    Fn::If reads its condition's value from `values` (see with_conditions); AWS::NoValue is
    None.
    """
    if isinstance(node, list):
        return [evaluate(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if node == NO_VALUE:
        return None
    if "Ref" in node:
        return values[node["Ref"]]
    if "Fn::GetAtt" in node:
        return values[".".join(node["Fn::GetAtt"])]
    if "Fn::Select" in node:
        index, items = node["Fn::Select"]
        return evaluate(items, values)[int(index)]
    if "Fn::Split" in node:
        separator, text = node["Fn::Split"]
        return evaluate(text, values).split(separator)
    if "Fn::Sub" in node:
        sub = node["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else sub
        scope = {**values, **{name: evaluate(v, values) for name, v in variables.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda match: scope[match.group(1)], text)
    if "Fn::If" in node:
        condition, if_true, if_false = node["Fn::If"]
        return evaluate(if_true if values[condition] else if_false, values)
    if "Fn::Equals" in node:
        left, right = evaluate(node["Fn::Equals"], values)
        return left == right
    if "Fn::Not" in node:
        [operand] = evaluate(node["Fn::Not"], values)
        return not operand
    if "Fn::Or" in node:
        return any(evaluate(node["Fn::Or"], values))
    if "Fn::And" in node:
        return all(evaluate(node["Fn::And"], values))
    return {key: evaluate(value, values) for key, value in node.items()}


def with_conditions(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The values with the template's conditions evaluated under them, for Fn::If."""
    conditions = template["Conditions"].items()
    return values | {name: evaluate(condition, values) for name, condition in conditions}


def branches(items: list[Any], values: dict[str, Any] | None = None) -> list[Any]:
    """A list with each Fn::If item replaced by its branches that are not AWS::NoValue.

    Every branch, or with `values` (conditions included) only the branch they choose.
    """
    expanded = []
    for item in items:
        options = [item]
        if isinstance(item, dict) and "Fn::If" in item:
            condition, if_true, if_false = item["Fn::If"]
            if values is None:
                options = [if_true, if_false]
            else:
                options = [if_true if values[condition] else if_false]
        expanded += [option for option in options if option != NO_VALUE]
    return expanded


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_environment(transformed: dict[str, Any], function: str) -> dict[str, Any]:
    """The environment variables a function of the transformed template gets."""
    variables: dict[str, Any] = transformed["Resources"][function]["Properties"]["Environment"][
        "Variables"
    ]
    return variables
