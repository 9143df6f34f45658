"""A small schema language for YAML configs: type errors name the key path,
unknown keys give warnings."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, join_path


class Spec:
    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class Scalar(Spec):
    kinds: tuple[type, ...]
    name: str

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if isinstance(value, bool) and bool not in self.kinds:
            raise ConfigError(f"expected {self.name}, got {value!r}", path)
        if not isinstance(value, self.kinds):
            raise ConfigError(f"expected {self.name}, got {_kind(value)} {value!r}", path)
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"expected {self.name}, got NaN", path)

    def describe(self) -> str:
        return self.name


class Anything(Spec):
    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        pass

    def describe(self) -> str:
        return "anything"


@dataclass
class ListOf(Spec):
    item: Spec

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list of {self.item.describe()}, got {_kind(value)}", path)
        for i, item in enumerate(value):
            self.item.check(item, join_path(path, i), warnings)

    def describe(self) -> str:
        return f"list of {self.item.describe()}"


@dataclass
class Mapping(Spec):
    """A mapping with known keys; ``values`` checks the values of free-form keys."""

    keys: dict[str, Spec] = field(default_factory=dict)
    values: Spec | None = None
    required: tuple[str, ...] = ()

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {_kind(value)}", path)
        for key in self.required:
            if key not in value:
                raise ConfigError(f"missing required key '{key}'", path)
        for key, item in value.items():
            sub = join_path(path, str(key))
            spec = self.keys.get(key) if isinstance(key, str) else None
            if spec is None:
                spec = self.values
            if spec is None:
                warnings.append(f"{sub}: unknown key, ignored")
                continue
            if item is None and not isinstance(spec, (Anything, Nullable)):
                if isinstance(spec, (Mapping, Switch)):
                    continue  # an empty section
                raise ConfigError(f"expected {spec.describe()}, got nothing", sub)
            spec.check(item, sub, warnings)

    def describe(self) -> str:
        return "a mapping"


@dataclass
class OneOf(Spec):
    options: tuple[Spec, ...]

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        errors = []
        for option in self.options:
            trial: list[str] = []
            try:
                option.check(value, path, trial)
            except ConfigError as ex:
                errors.append(ex)
                continue
            warnings.extend(trial)
            return
        if len(errors) == 1:
            raise errors[0]
        # report the error of the option whose kind matched best
        deepest = max(errors, key=lambda e: len(e.path))
        if deepest.path != path:
            raise deepest
        raise ConfigError(f"expected {self.describe()}, got {_kind(value)} {value!r}", path)

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


@dataclass
class Nullable(Spec):
    inner: Spec

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if value is not None:
            self.inner.check(value, path, warnings)

    def describe(self) -> str:
        return self.inner.describe()


@dataclass
class Switch(Spec):
    """Picks a mapping spec by the value of a key (``type`` of a source)."""

    key: str
    cases: dict[str, Mapping]
    default: str | None = None

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {_kind(value)}", path)
        kind = value.get(self.key, self.default)
        if kind is None:
            raise ConfigError(f"missing required key '{self.key}'", path)
        case = self.cases.get(kind)
        if case is None:
            choices = ", ".join(sorted(self.cases))
            raise ConfigError(f"unknown {self.key} '{kind}' (known: {choices})", join_path(path, self.key))
        case.check(value, path, warnings)

    def describe(self) -> str:
        return "a mapping"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


STR = Scalar((str,), "a string")
NUMBER = Scalar((int, float), "a number")
INT = Scalar((int,), "an integer")
BOOL = Scalar((bool,), "true or false")
ANY = Anything()
STR_OR_NUMBER = Scalar((str, int, float), "a string or a number")
DATETIME = Scalar((datetime.date,), "an ISO date/time")  # YAML reads unquoted ISO times as datetimes
STR_LIST = OneOf((ListOf(STR), STR))
NUMBER_PAIR = ListOf(NUMBER)
BBOX = OneOf((ListOf(NUMBER), STR))


def validate(data: Any, spec: Spec) -> list[str]:
    """Check ``data`` against ``spec``; returns warnings, raises ConfigError."""
    warnings: list[str] = []
    spec.check(data, "", warnings)
    return warnings
