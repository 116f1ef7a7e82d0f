"""The text of an invalid configuration: one line per problem, for people.

Each line names the key (``auth.basic_over_http``), says what is wrong in plain words (a
misspelt key is an ``unknown key``, with the closest valid one when there is one) and, for a
value given by a flag or an environment variable rather than the file, where it came from.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError


def _inner_model(annotation: object) -> type[BaseModel] | None:
    """The settings model inside ``annotation`` (``X``, ``X | None``, ``list[X]``,
    ``dict[str, X]``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> dict[str, object]:
    """Every name a key of ``model`` may have (field names and aliases) -> its annotation."""
    names: dict[str, object] = {}
    for name, field in model.model_fields.items():
        names[name] = field.annotation
        if field.alias:
            names[field.alias] = field.annotation
    return names


def known_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys valid where ``loc``'s last part is (empty when that place is not a model).

    Parts that are not keys of the current model are list indexes or mapping keys (a site's
    name, a trigger's position) and are stepped over.
    """
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return []
        annotation = _field_names(model).get(str(part)) if isinstance(part, str) else None
        if annotation is not None:
            model = _inner_model(annotation)
    return sorted(_field_names(model)) if model is not None else []


def closest(word: str, keys: list[str]) -> str | None:
    """The key of ``keys`` that ``word`` most likely misspells (two letters swapped first:
    ``prot`` is ``port``, not ``root``), or None."""
    swapped = [k for k in keys if sorted(k) == sorted(word)]
    if swapped:
        return swapped[0]
    close = difflib.get_close_matches(word, keys, n=1)
    return close[0] if close else None


def describe(
    exc: ValidationError,
    root: type[BaseModel],
    source: str,
    origins: Mapping[str, str],
) -> str:
    """The message for ``exc`` raised while validating ``root`` from ``source``; ``origins``
    maps a top-level key to the flag or environment variable that set it."""
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden" and loc:
            message = "unknown key"
            close = closest(str(loc[-1]), known_keys(root, loc))
            if close is not None:
                message += f" (did you mean {close!r}?)"
        origin = origins.get(str(loc[0])) if loc else None
        if origin is not None:
            message += f" (from {origin})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
