"""Our wire models against the botocore `bedrock-agentcore` model installed with boto3.

A boto3 upgrade that adds a member, changes a required flag, a pattern, a length, a list size, an
enum or a union makes this fail, so an API change is caught before a client sees it.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, ShapeResolver, StructureShape
from pydantic import AwareDatetime, Field, StringConstraints
from pydantic.fields import FieldInfo

from batcheval import errors
from batcheval.api import routes
from batcheval.api.models import OPERATIONS, WireModel, anchored

SERVICE = botocore.session.get_session().get_service_model("bedrock-agentcore")
CONSTRAINT_NAMES = ("pattern", "min_length", "max_length", "ge", "le")


@dataclass
class Unwrapped:
    """An annotation stripped of Optional/Annotated, with the constraints found on the way."""

    core: Any
    constraints: dict[str, Any] = field(default_factory=dict)


def _collect(metadata: typing.Iterable[Any], into: dict[str, Any]) -> None:
    for item in metadata:
        if isinstance(item, FieldInfo):
            _collect(item.metadata, into)
            continue
        for name in CONSTRAINT_NAMES:
            value = getattr(item, name, None)
            if value is not None:
                into[name] = value


def unwrap(annotation: Any, metadata: typing.Iterable[Any] = ()) -> Unwrapped:
    constraints: dict[str, Any] = {}
    _collect(metadata, constraints)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            _collect(extra, constraints)
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            assert len(members) == 1, f"unexpected union annotation {annotation}"
            annotation = members[0]
        else:
            return Unwrapped(annotation, constraints)


def expected_constraints(shape: Shape) -> dict[str, Any]:
    meta = shape.metadata
    out: dict[str, Any] = {}
    if shape.type_name == "string":
        if "pattern" in meta:
            out["pattern"] = anchored(meta["pattern"])
        if "min" in meta:
            out["min_length"] = meta["min"]
        if "max" in meta:
            out["max_length"] = meta["max"]
    elif shape.type_name in ("list", "map"):
        if "min" in meta:
            out["min_length"] = meta["min"]
        if "max" in meta:
            out["max_length"] = meta["max"]
    elif shape.type_name in ("integer", "long", "double", "float"):
        if "min" in meta:
            out["ge"] = meta["min"]
        if "max" in meta:
            out["le"] = meta["max"]
    return out


def compare(shape: Shape, ours: Unwrapped, path: str, problems: list[str], *, request: bool) -> None:
    """Append one line to `problems` for every difference between a botocore shape and our type."""
    if ours.constraints != expected_constraints(shape):
        problems.append(f"{path}: constraints {ours.constraints} != {expected_constraints(shape)}")
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        compare_structure(shape, ours.core, path, problems, request=request)
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if typing.get_origin(ours.core) is not list:
            problems.append(f"{path}: expected a list, ours is {ours.core}")
            return
        (item,) = typing.get_args(ours.core)
        compare(shape.member, unwrap(item), f"{path}[]", problems, request=request)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if typing.get_origin(ours.core) is not dict:
            problems.append(f"{path}: expected a dict, ours is {ours.core}")
            return
        key, value = typing.get_args(ours.core)
        compare(shape.key, unwrap(key), f"{path}{{key}}", problems, request=request)
        compare(shape.value, unwrap(value), f"{path}{{value}}", problems, request=request)
    elif kind == "string" and shape.metadata.get("enum"):
        if typing.get_origin(ours.core) is not typing.Literal:
            problems.append(f"{path}: expected an enum Literal, ours is {ours.core}")
        elif set(typing.get_args(ours.core)) != set(shape.metadata["enum"]):
            problems.append(f"{path}: enum {sorted(typing.get_args(ours.core))} != {shape.metadata['enum']}")
    else:
        python_type = {
            "string": str,
            "integer": int,
            "long": int,
            "double": float,
            "float": float,
            "boolean": bool,
            "timestamp": datetime,
        }.get(kind)
        core = ours.core
        if kind == "timestamp" and core is AwareDatetime:
            return
        if python_type is None or not (isinstance(core, type) and issubclass(core, python_type)):
            problems.append(f"{path}: botocore {kind} vs ours {core}")


def compare_structure(
    shape: StructureShape | None, model: Any, path: str, problems: list[str], *, request: bool
) -> None:
    assert shape is not None
    if not (isinstance(model, type) and issubclass(model, WireModel)):
        problems.append(f"{path}: expected a WireModel for {shape.name}, ours is {model}")
        return
    if bool(shape.metadata.get("union")) != model.wire_union:
        problems.append(f"{path}: union flag {model.wire_union} != botocore {shape.metadata.get('union')}")
    fields = model.model_fields
    missing = set(shape.members) - set(fields)
    problems.extend(f"{path}.{name}: missing from {model.__name__}" for name in sorted(missing))
    if request:
        # Requests forbid unknown members, so an extra one would be an unreachable invention.
        extra = set(fields) - set(shape.members)
        problems.extend(f"{path}.{name}: not in botocore {shape.name}" for name in sorted(extra))
    required = set(shape.required_members)
    for name, member in shape.members.items():
        if name not in fields:
            continue
        info = fields[name]
        if info.is_required() != (name in required):
            problems.append(f"{path}.{name}: required={info.is_required()} but botocore {name in required}")
        compare(member, unwrap(info.annotation, info.metadata), f"{path}.{name}", problems, request=request)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_request_model_matches_botocore(operation: str) -> None:
    # Given the botocore input shape of the operation and our request model
    request_model, _ = OPERATIONS[operation]
    shape = SERVICE.operation_model(operation).input_shape
    problems: list[str] = []

    # When walking both, member by member
    compare_structure(shape, request_model, operation, problems, request=True)

    # Then nothing is missing or different
    assert problems == []


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_response_model_matches_botocore(operation: str) -> None:
    # Given the botocore output shape and our response model
    _, response_model = OPERATIONS[operation]
    shape = SERVICE.operation_model(operation).output_shape
    problems: list[str] = []

    # When walking both
    compare_structure(shape, response_model, operation, problems, request=False)

    # Then every botocore member and constraint is there (extra extension members are allowed)
    assert problems == []


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_route_matches_botocore_http_binding(operation: str) -> None:
    # Given the operation's HTTP binding in botocore
    http = SERVICE.operation_model(operation).http

    # Then our route table has the same method, path and success code
    route = routes.ROUTES[operation]
    assert (route.method, route.path, route.success_status) == (
        http["method"],
        http["requestUri"],
        http.get("responseCode", 200),
    )


def _wire_errors() -> dict[str, int]:
    """Every domain error class that names its own wire code, with its HTTP status."""
    found: dict[str, int] = {"InternalServerException": errors.DomainError.http_status}
    pending = list(errors.DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "wire_code" in vars(cls):
            found[cls.wire_code] = cls.http_status
    return found


def test_error_shapes_match_botocore() -> None:
    # Given botocore's error shapes for the five operations
    ops = [SERVICE.operation_model(name) for name in OPERATIONS]
    modeled = {
        shape.name: shape.metadata["error"]["httpStatusCode"] for op in ops for shape in op.error_shapes
    }

    # When listing the wire errors our domain errors become
    ours = _wire_errors()

    # Then each modeled error exists with botocore's status
    assert {code: ours.get(code) for code in modeled} == modeled
    # And the ValidationException reasons are exactly botocore's enum
    validation = SERVICE.shape_for("ValidationException")
    assert isinstance(validation, StructureShape)
    reason_enum = getattr(validation.members["reason"], "enum", None)
    assert list(typing.get_args(errors.ValidationReason)) == reason_enum


def test_the_walker_notices_a_difference() -> None:
    # Given a request model with one member short of botocore's input shape
    class Short(WireModel):
        maxResults: int | None = None

    problems: list[str] = []

    # When compared with ListBatchEvaluations' input
    compare_structure(
        SERVICE.operation_model("ListBatchEvaluations").input_shape, Short, "List", problems, request=True
    )

    # Then the missing member and the missing range are both reported
    assert "List.nextToken: missing from Short" in problems
    assert any(p.startswith("List.maxResults: constraints") for p in problems)


# ---- the walker itself, on a small synthetic service model -------------------------------------
SYNTHETIC = ShapeResolver(
    cast(
        Any,
        {
            "Req": {
                "type": "structure",
                "required": ["name"],
                "members": {
                    "name": {"shape": "Name"},
                    "mode": {"shape": "Mode"},
                    "choice": {"shape": "Choice"},
                    "items": {"shape": "Items"},
                },
            },
            "Name": {"type": "string", "pattern": "[a-z]+", "min": 1, "max": 5},
            "Mode": {"type": "string", "enum": ["A", "B"]},
            "Choice": {
                "type": "structure",
                "union": True,
                "members": {"x": {"shape": "Name"}, "y": {"shape": "Name"}},
            },
            "Items": {"type": "list", "member": {"shape": "Name"}, "min": 1, "max": 3},
        },
    )
).get_shape_by_name("Req")

Name = Annotated[str, StringConstraints(pattern=anchored("[a-z]+"), min_length=1, max_length=5)]


class Choice(WireModel):
    wire_union = True
    x: Name | None = None
    y: Name | None = None


class NotAUnion(WireModel):
    x: Name | None = None
    y: Name | None = None


class Matching(WireModel):
    name: Name
    mode: Literal["A", "B"] | None = None
    choice: Choice | None = None
    items: Annotated[list[Name], Field(min_length=1, max_length=3)] | None = None


class WrongPattern(Matching):
    name: Annotated[str, StringConstraints(pattern=anchored("[a-z]*"), min_length=1, max_length=5)]


class WrongLength(Matching):
    name: Annotated[str, StringConstraints(pattern=anchored("[a-z]+"), min_length=1, max_length=6)]


class NotRequired(Matching):
    name: Name | None = None  # type: ignore[assignment]


class MissingEnumValue(Matching):
    mode: Literal["A"] | None = None


class UnionFlagMissing(Matching):
    choice: NotAUnion | None = None  # type: ignore[assignment]


class WrongListSize(Matching):
    items: Annotated[list[Name], Field(min_length=1, max_length=4)] | None = None


class WrongItemPattern(Matching):
    items: Annotated[list[str], Field(min_length=1, max_length=3)] | None = None


def test_the_walker_accepts_a_faithful_model():
    problems: list[str] = []
    compare_structure(cast(StructureShape, SYNTHETIC), Matching, "Req", problems, request=True)
    assert problems == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (WrongPattern, "Req.name: constraints"),
        (WrongLength, "Req.name: constraints"),
        (NotRequired, "Req.name: required=False"),
        (MissingEnumValue, "Req.mode: enum"),
        (UnionFlagMissing, "Req.choice: union flag"),
        (WrongListSize, "Req.items: constraints"),
        (WrongItemPattern, "Req.items[]: constraints"),
    ],
)
def test_the_walker_reports_each_kind_of_drift(model, expected):
    # Given a model that differs from the shape in one way
    problems: list[str] = []

    # When comparing
    compare_structure(cast(StructureShape, SYNTHETIC), model, "Req", problems, request=True)

    # Then exactly that difference is reported
    assert len(problems) == 1
    assert problems[0].startswith(expected)
