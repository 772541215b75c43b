"""Reading IAM out of a synthesized template."""

from __future__ import annotations

from typing import Any


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every Allow/Deny statement attached to the role: inline policies and AWS::IAM::Policy."""
    resources = template["Resources"]
    statements: list[dict[str, Any]] = []
    for policy in resources[role_id]["Properties"].get("Policies", []):
        statements += as_list(policy["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements += as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def function_role(template: dict[str, Any], function_id: str) -> str:
    role = template["Resources"][function_id]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def function_by_handler(template: dict[str, Any], handler_module: str) -> str:
    matches = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Handler"] == f"{handler_module}.lambda_handler"
    ]
    assert len(matches) == 1, (handler_module, matches)
    return matches[0]


def all_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of every identity policy in the template (roles' inline and managed-by-stack)."""
    statements: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements += as_list(resource["Properties"]["PolicyDocument"]["Statement"])
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                statements += [
                    s for s in as_list(policy["PolicyDocument"]["Statement"]) if isinstance(s, dict)
                ]
                # Fn::If-wrapped statements (caller stack): look inside both branches.
                for s in as_list(policy["PolicyDocument"]["Statement"]):
                    if isinstance(s, dict) and "Fn::If" in s:
                        statements += [b for b in s["Fn::If"][1:] if isinstance(b, dict) and "Effect" in b]
    return [s for s in statements if "Effect" in s]
