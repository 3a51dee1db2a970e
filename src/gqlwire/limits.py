"""What one operation may ask for, measured on its document before it runs.

A short document can ask for an enormous amount of work: fields nested many levels
deep, thousands of aliases of one expensive field, or fragments that spread each other
so that a few hundred bytes expand to tens of thousands of fields. Limits counted on the
text as written miss the last case, so everything here is counted *after* fragment
expansion: each spread counts as the fragment's whole content, where it is used.

Expansion itself must not cost what it measures. Each fragment is summarised once
(memoised by name) and a spread adds that summary, so analysing a document costs time
proportional to its length, however many fields it expands to; a spread of a fragment
that is being expanded (a cycle, which validation rejects anyway) counts nothing.

The result is computed once per document and schema, with validation, and cached with
it (see :class:`gqlwire.execution.DocumentCache`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import ValidationRule

DEFAULT_MAX_DEPTH: Final = 15
DEFAULT_MAX_ALIASES: Final = 30
DEFAULT_MAX_ROOT_FIELDS: Final = 20
DEFAULT_MAX_FIELDS: Final = 5000
DEFAULT_MAX_DIRECTIVES: Final = 50


@dataclass(frozen=True, slots=True)
class OperationLimits:
    """The most one operation may select; ``None`` leaves a measure unlimited."""

    max_depth: int | None = DEFAULT_MAX_DEPTH
    """Levels of nested fields: ``{ a { b } }`` is 2 deep."""
    max_aliases: int | None = DEFAULT_MAX_ALIASES
    """Fields selected under an alias."""
    max_root_fields: int | None = DEFAULT_MAX_ROOT_FIELDS
    """Fields selected at the operation's root."""
    max_fields: int | None = DEFAULT_MAX_FIELDS
    """Fields selected in all, each fragment counted wherever it is spread."""
    max_directives: int | None = DEFAULT_MAX_DIRECTIVES
    """Directives used on the operation, its fields, spreads and fragments, each
    fragment's counted wherever it is spread."""

    def __post_init__(self) -> None:
        for name in (
            "max_depth",
            "max_aliases",
            "max_root_fields",
            "max_fields",
            "max_directives",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")

    @property
    def unlimited(self) -> bool:
        return (
            self.max_depth is None
            and self.max_aliases is None
            and self.max_root_fields is None
            and self.max_fields is None
            and self.max_directives is None
        )


@dataclass(frozen=True, slots=True)
class SelectionCost:
    """What a selection set asks for, with its fragments expanded."""

    depth: int = 0
    aliases: int = 0
    root_fields: int = 0
    """Fields at the selection set's own level (through fragments, not into fields)."""
    fields: int = 0
    directives: int = 0


_NOTHING: Final = SelectionCost()


class _Analysis:
    """The costs of one document's selection sets, each fragment summarised once."""

    __slots__ = ("_expanding", "_fragments", "_summaries")

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._summaries: dict[str, SelectionCost] = {}
        self._expanding: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> SelectionCost:
        if selection_set is None:
            return _NOTHING
        depth = aliases = root_fields = fields = directives = 0
        for selection in selection_set.selections:
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                below = self.selection_set(selection.selection_set)
                depth = max(depth, below.depth + 1)
                aliases += below.aliases + (selection.alias is not None)
                root_fields += 1
                fields += below.fields + 1
                directives += below.directives
                continue
            if isinstance(selection, FragmentSpreadNode):
                cost = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                cost = self.selection_set(selection.selection_set)
            else:  # pragma: no cover - no other kind of selection exists
                continue
            depth = max(depth, cost.depth)
            aliases += cost.aliases
            root_fields += cost.root_fields
            fields += cost.fields
            directives += cost.directives
        return SelectionCost(depth, aliases, root_fields, fields, directives)

    def fragment(self, name: str) -> SelectionCost:
        summary = self._summaries.get(name)
        if summary is not None:
            return summary
        definition = self._fragments.get(name)
        if definition is None or name in self._expanding:
            return _NOTHING  # unknown or cyclic: validation reports both
        self._expanding.add(name)
        try:
            summary = self.selection_set(definition.selection_set)
            if definition.directives:
                summary = replace(
                    summary, directives=summary.directives + len(definition.directives)
                )
        finally:
            self._expanding.discard(name)
        self._summaries[name] = summary
        return summary


def operation_costs(document: DocumentNode) -> list[tuple[OperationDefinitionNode, SelectionCost]]:
    """Each operation of ``document`` with what it selects after fragment expansion."""
    analysis = _Analysis(document)
    costs = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            cost = analysis.selection_set(definition.selection_set)
            own = len(definition.directives or ()) + sum(
                len(variable.directives or ()) for variable in definition.variable_definitions or ()
            )
            costs.append((definition, replace(cost, directives=cost.directives + own)))
    return costs


def limit_errors(document: DocumentNode, limits: OperationLimits) -> list[GraphQLError]:
    """One error per operation of ``document`` that exceeds ``limits``, naming the
    first limit it exceeds and that limit's value."""
    if limits.unlimited:
        return []
    errors = []
    for operation, cost in operation_costs(document):
        message = _exceeded(cost, limits)
        if message is not None:
            errors.append(GraphQLError(message, operation))
    return errors


def _exceeded(cost: SelectionCost, limits: OperationLimits) -> str | None:
    if limits.max_depth is not None and cost.depth > limits.max_depth:
        return f"Query depth {cost.depth} exceeds the limit of {limits.max_depth}"
    if limits.max_root_fields is not None and cost.root_fields > limits.max_root_fields:
        return f"Root field count {cost.root_fields} exceeds the limit of {limits.max_root_fields}"
    if limits.max_aliases is not None and cost.aliases > limits.max_aliases:
        return f"Alias count {cost.aliases} exceeds the limit of {limits.max_aliases}"
    if limits.max_fields is not None and cost.fields > limits.max_fields:
        return f"Field count {cost.fields} exceeds the limit of {limits.max_fields}"
    if limits.max_directives is not None and cost.directives > limits.max_directives:
        return f"Directive count {cost.directives} exceeds the limit of {limits.max_directives}"
    return None


# -- introspection ---------------------------------------------------------------------------

INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type"})


class NoIntrospection(ValidationRule):
    """Refuses ``__schema`` and ``__type`` (``__typename`` stays: clients need it to
    tell the types of a union apart), one error per field selected."""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        name = node.name.value
        if name in INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(f"Introspection is disabled: the query selects '{name}'.", node)
            )


# -- suggestions ----------------------------------------------------------------------------

_SUGGESTION: Final = re.compile(r"\s*Did you mean [^?]*\?$")


def without_suggestions(errors: list[GraphQLError]) -> list[GraphQLError]:
    """``errors`` without their "Did you mean ...?" sentences, which name fields,
    types and values a client may not know of.

    graphql-core has ``hide_suggestions`` for this; this covers the messages of rules
    that do not honour it (a schema library's own, or an older release's).
    """
    stripped = []
    for error in errors:
        message = _SUGGESTION.sub("", error.message)
        if message != error.message:
            error = GraphQLError(
                message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                error.original_error,
                error.extensions,
            )
        stripped.append(error)
    return stripped
