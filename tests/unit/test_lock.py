"""The installs come from uv.lock: every package, its version and its hash (issue 12, point 1).

`make venv` runs `uv sync --locked --extra dev` (exact: the venv is the lock, nothing more or less);
`make lambda-asset` installs `uv export --locked` output with `--require-hashes` for CPython 3.13 on
manylinux2014 x86_64. These tests read the lock with tomllib and check the venv running them, the
Makefile's command lines and what the asset installs; none needs the network.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "uv.lock"
UV = ROOT / ".venv-uv" / "bin" / "uv"
# One requirements-file entry: exactly one version (markers allowed) and at least one sha256.
PINNED_AND_HASHED = re.compile(r"^[A-Za-z0-9_.\-]+==[^\s;]+\s.*--hash=sha256:[0-9a-f]{64}")
PROJECT = "batcheval"

# The Lambda runtime (python3.13, x86_64) as the Makefile targets it: --python-platform x86_64-manylinux2014.
LAMBDA_ENVIRONMENT = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}
_LAMBDA_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
LAMBDA_TAGS = frozenset(cpython_tags((3, 13), platforms=_LAMBDA_PLATFORMS)) | frozenset(
    compatible_tags((3, 13), "cp313", _LAMBDA_PLATFORMS)
)


@dataclass(frozen=True)
class Locked:
    name: str
    version: str


def load_lock(path: Path = LOCK) -> list[dict[str, Any]]:
    with path.open("rb") as file:
        packages: list[dict[str, Any]] = tomllib.load(file)["package"]
    return packages


def resolve(
    packages: list[dict[str, Any]], extras: Iterable[str], environment: Mapping[str, str] | None
) -> dict[Locked, dict[str, Any]]:
    """The locked packages installed for the project with `extras`, in `environment` (None: this one)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(package["name"], []).append(package)
    env = dict(environment) if environment is not None else None
    found: dict[Locked, dict[str, Any]] = {}
    pending: list[tuple[dict[str, Any], frozenset[str]]] = [
        ({"name": PROJECT}, frozenset()),
        ({"name": PROJECT}, frozenset(extras)),
    ]
    seen: set[tuple[Locked, frozenset[str]]] = set()
    while pending:
        dependency, wanted = pending.pop()
        marker = dependency.get("marker")
        if marker is not None and not Marker(marker).evaluate(env):
            continue
        candidates = [
            p
            for p in by_name[dependency["name"]]
            if "version" not in dependency or p["version"] == dependency["version"]
        ]
        assert len(candidates) == 1, f"ambiguous lock entry for {dependency}"
        package = candidates[0]
        key = Locked(package["name"], package["version"])
        if (key, wanted) in seen:
            continue
        seen.add((key, wanted))
        found[key] = package
        edges = list(package.get("dependencies", []))
        for extra in wanted:
            edges += package.get("optional-dependencies", {}).get(extra, [])
        for edge in edges:
            pending.append((edge, frozenset(edge.get("extra", []))))
            if edge.get("extra"):
                pending.append((edge, frozenset()))
    return found


def unlocked(installed: Mapping[str, str], locked: Iterable[Locked]) -> list[str]:
    """Installed distributions the lock does not list at that version."""
    versions = {(canonicalize_name(p.name), p.version) for p in locked}
    return sorted(f"{n}=={v}" for n, v in installed.items() if (canonicalize_name(n), v) not in versions)


def missing(installed: Mapping[str, str], wanted: Iterable[Locked]) -> list[str]:
    """Locked packages this environment should have but does not (at that version)."""
    have = {(canonicalize_name(n), v) for n, v in installed.items()}
    return sorted(f"{p.name}=={p.version}" for p in wanted if (p.name, p.version) not in have)


def unhashed_for_lambda(packages: Mapping[Locked, dict[str, Any]]) -> list[str]:
    """Packages with no sha256-hashed wheel that installs on the Lambda runtime (cp313 manylinux x86_64)."""
    problems = []
    for key, package in packages.items():
        if key.name == PROJECT:
            continue
        fits = [
            wheel
            for wheel in package.get("wheels", [])
            if wheel.get("hash", "").startswith("sha256:")
            and LAMBDA_TAGS & parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3]
        ]
        if not fits:
            problems.append(f"{key.name}=={key.version}")
    return sorted(problems)


def this_environment() -> dict[str, str]:
    return {dist.metadata["Name"]: dist.version for dist in metadata.distributions()}


def requirement_lines(text: str) -> list[str]:
    """One entry per requirement of a requirements file (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_venv_is_exactly_the_lock():
    # Given the lock and the virtualenv running this test (made by `make venv`)
    packages = load_lock()
    wanted = resolve(packages, ["dev"], environment=None)
    installed = this_environment()

    # When comparing both ways / Then every installed distribution is locked at its version,
    # and every package the lock resolves here for the `dev` extra is installed
    assert unlocked(installed, [Locked(p["name"], p["version"]) for p in packages]) == []
    assert missing(installed, wanted) == []
    assert {"boto3", "moto", "pytest", "aws-cdk-lib"} <= {p.name for p in wanted}


def test_the_check_names_an_unlocked_or_differently_versioned_package():
    # Given a lock with boto3 1.44.5 and an environment that also has pip and a newer boto3
    locked = [Locked("boto3", "1.44.5"), Locked("pyyaml", "6.0.3")]
    installed = {"boto3": "1.44.6", "PyYAML": "6.0.3", "pip": "26.3"}

    # When checking / Then both are named, the matching one (name spelled differently) is not
    assert unlocked(installed, locked) == ["boto3==1.44.6", "pip==26.3"]
    assert missing(installed, locked) == ["boto3==1.44.5"]


def test_every_lambda_runtime_package_has_a_hashed_cp313_manylinux_wheel():
    # Given the runtime dependencies (no extras) resolved from the lock for the Lambda runtime
    runtime = resolve(load_lock(), [], LAMBDA_ENVIRONMENT)

    # When looking for an installable wheel with a hash / Then every package has one
    assert unhashed_for_lambda(runtime) == []
    names = {p.name for p in runtime}
    assert {"boto3", "botocore", "pydantic-core", "aws-xray-sdk"} <= names
    # and the extras stay out of the asset
    assert not names & {"moto", "plotly", "pytest"}


def test_the_hash_check_names_a_package_with_only_an_sdist_or_a_foreign_wheel():
    # Given two packages: one with only an sdist, one with only a macOS wheel
    packages: dict[Locked, dict[str, Any]] = {
        Locked("sdistonly", "1.0"): {"sdist": {"url": "https://x/sdistonly-1.0.tar.gz", "hash": "sha256:ab"}},
        Locked("maconly", "1.0"): {
            "wheels": [
                {"url": "https://x/maconly-1.0-cp313-cp313-macosx_11_0_arm64.whl", "hash": "sha256:cd"}
            ]
        },
        Locked("fine", "1.0"): {
            "wheels": [{"url": "https://x/fine-1.0-py3-none-any.whl", "hash": "sha256:ef"}]
        },
    }

    # When checking / Then both unusable ones are named
    assert unhashed_for_lambda(packages) == ["maconly==1.0", "sdistonly==1.0"]


def _make_dry_run(*arguments: str) -> str:
    result = subprocess.run(
        ["make", "-C", str(ROOT), "-n", "-B", *arguments], capture_output=True, text=True, check=True
    )
    return re.sub(r"\\\n\s*", " ", result.stdout)


def test_lambda_asset_installs_the_locked_export_with_hashes_and_the_named_extras():
    # Given the Makefile / When dry-running the asset build with an optional extra
    commands = _make_dry_run("lambda-asset", "EXTRAS=report,local").splitlines()

    # Then the requirements are exported from the lock, failing when it disagrees with pyproject.toml,
    # with both extras, and installed with hashes required for the Lambda platform
    export = [c for c in commands if " export " in c]
    assert len(export) == 1
    assert "--locked" in export[0].split()
    assert "--no-dev" in export[0].split()
    assert "--extra report --extra local" in export[0]
    install = [c for c in commands if "pip install" in c and "-r build/lambda-requirements.txt" in c]
    assert len(install) == 1
    for flag in ("--require-hashes", "--python-version 3.13", "--python-platform x86_64-manylinux2014"):
        assert flag in install[0]
    # and without EXTRAS no extra is exported
    assert "--extra" not in _make_dry_run("lambda-asset")


def test_the_venv_and_checkov_install_only_from_locks():
    # Given the Makefile / When dry-running the installs
    venv = _make_dry_run("venv")
    checkov = _make_dry_run("checkov-venv")

    # Then .venv is synced from the lock (never re-resolved), uv itself and checkov from hashed pins
    assert re.search(r"uv sync .*--locked --extra dev", venv)
    assert "--require-hashes -r uv-requirements.txt" in venv
    assert "--require-hashes infra/checkov-requirements.txt" in checkov
    for pinned in ("uv-requirements.txt", "infra/checkov-requirements.txt"):
        for line in requirement_lines((ROOT / pinned).read_text()):
            assert PINNED_AND_HASHED.match(line), line


@pytest.mark.parametrize("extras", [[], ["report"]])
def test_every_exported_lambda_requirement_is_pinned_and_hashed(extras: list[str]):
    # Given uv (`make venv` installs it into .venv-uv) and the lock
    assert UV.exists(), "run `make venv`: it installs the pinned uv into .venv-uv"

    # When exporting the asset's requirements offline as the Makefile does (--locked: the lock
    # must agree with pyproject.toml)
    arguments = [str(UV), "export", "--offline", "--locked", "--no-dev", "--no-emit-project", "-q"]
    arguments += ["--format", "requirements-txt", *(f"--extra={extra}" for extra in extras)]
    exported = subprocess.run(arguments, cwd=ROOT, capture_output=True, text=True, check=True).stdout

    # Then every line pins one version with at least one sha256, the extra's packages only when asked
    lines = requirement_lines(exported)
    assert lines
    for line in lines:
        assert PINNED_AND_HASHED.match(line), line
    assert any(line.startswith("plotly==") for line in lines) == ("report" in extras)
