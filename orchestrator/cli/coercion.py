"""Plain parameter coercion for the Typer commands of `cli.app`, to keep start-up fast.

Typer 0.29 coerces every parameter value through a pydantic `TypeAdapter`, and importing
pydantic costs about 90 ms, a third of a whole `stackyard validate` (which is benchmarked as
a process). Our parameters are all strings, integers, booleans, lists of strings or str enums
(optionally None) that click has already parsed, so `PlainGroup`/`PlainCommand` give them a
plain coercion instead.

This leans on a private Typer hook (`_TyperParameter._runtime_param`, the lazily built
coercer). If a Typer upgrade moves it, nothing breaks: Typer's own coercion runs and we are
only slower, which `tests/unit/test_cli.py` notices (it checks that pydantic is not imported).
"""

import enum
import functools
import typing

import typer
import typer.core


@functools.cache
def _plain_param_class():
    try:
        from typer._coercion import RuntimeParam
    except ImportError:  # another Typer: keep its own coercion
        return None

    class PlainParam(RuntimeParam):
        def _coerce_value(self, value, param, ctx):
            annotation = _unwrap_optional(self.annotation)
            if value is None and annotation is not self.annotation:
                return None
            if _is_list(annotation):
                item = annotation.__args__[0]
                return [_coerce_one(item, v, param, ctx) for v in value]
            return _coerce_one(annotation, value, param, ctx)

    return PlainParam


def _unwrap_optional(annotation):
    """`X` of `Optional[X]`; any other annotation as it is."""
    if typing.get_origin(annotation) is typing.Union:
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _is_list(annotation) -> bool:
    return getattr(annotation, "__origin__", None) is list


def _is_plain(annotation) -> bool:
    annotation = _unwrap_optional(annotation)
    if _is_list(annotation):
        annotation = annotation.__args__[0]
    return annotation in (str, bool, int, float) or (
        isinstance(annotation, type) and issubclass(annotation, str)
        and issubclass(annotation, enum.Enum))


def _coerce_one(annotation, value, param, ctx):
    if annotation is bool:
        return bool(value)
    if annotation is str:
        return value if isinstance(value, str) else str(value)
    if annotation in (int, float):
        try:
            return annotation(value)
        except (TypeError, ValueError):
            kind = "an integer" if annotation is int else "a number"
            raise typer.BadParameter(f"{value!r} is not {kind}.", ctx=ctx, param=param) from None
    if isinstance(value, annotation):
        return value
    for member in annotation:  # a str enum; matched case-insensitively, as the options declare
        if member.value.lower() == str(value).lower():
            return member
    choices = ", ".join(repr(m.value) for m in annotation)
    raise typer.BadParameter(f"{value!r} is not one of {choices}.", ctx=ctx, param=param)


def use_plain_coercion(params) -> None:
    """Give every plain-typed Typer parameter in `params` the plain coercer (if not built yet)."""
    plain_param = _plain_param_class()
    if plain_param is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is not None and getattr(param, "_runtime_param", False) is None
                and _is_plain(descriptor.annotation)):
            param._runtime_param = plain_param(parameter_info=descriptor.parameter_info,
                                               annotation=descriptor.annotation)


# get_params() is where click collects the parameters it is about to parse, the help option
# (created lazily) included, so it is the one place that sees them all before coercion.

class PlainGroup(typer.core.TyperGroup):
    def get_params(self, ctx):
        params = super().get_params(ctx)
        use_plain_coercion(params)
        return params


class PlainCommand(typer.core.TyperCommand):
    def get_params(self, ctx):
        params = super().get_params(ctx)
        use_plain_coercion(params)
        return params
