"""The filter of a DescribeClientQuotas request, with Kafka's matching rules.

Each component names an entity type and how to match its name: EXACT (that name), DEFAULT
(the type's default entity) or SPECIFIED (any entity that has the type; as in Kafka, the
default entity counts). An entity matches when every component matches one of its parts;
with ``strict`` it must have no other parts. No component and not strict: every entity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grete.security.quota.entity import (
    CLIENT_ID,
    ENTITY_TYPES,
    IP,
    USER,
    QuotaConfigs,
    QuotaEntity,
    QuotaRequestError,
)

MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2


@dataclass(frozen=True, slots=True)
class QuotaFilter:
    exact: Mapping[str, str | None]  # entity type -> name, None: the default entity
    specified: frozenset[str]  # entity types matched whatever the name
    strict: bool

    @classmethod
    def parse(cls, components: Iterable[tuple[str, int, str | None]], strict: bool) -> QuotaFilter:
        """From (entity type, match type, match) components, or QuotaRequestError."""
        exact: dict[str, str | None] = {}
        specified: set[str] = set()
        for entity_type, match_type, match in components:
            if not entity_type:
                raise QuotaRequestError("Invalid empty entity type.")
            if entity_type in exact or entity_type in specified:
                raise QuotaRequestError(
                    f"Entity type {entity_type} cannot appear more than once in the filter."
                )
            if entity_type not in ENTITY_TYPES:
                raise QuotaRequestError(
                    f"Unsupported entity type {entity_type}", kind="unsupported_version"
                )
            if match_type == MATCH_EXACT:
                if match is None:
                    raise QuotaRequestError(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null."
                    )
                exact[entity_type] = match
            elif match_type == MATCH_DEFAULT:
                if match is not None:
                    raise QuotaRequestError(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                    )
                exact[entity_type] = None
            elif match_type == MATCH_SPECIFIED:
                if match is not None:
                    raise QuotaRequestError(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                    )
                specified.add(entity_type)
            else:
                raise QuotaRequestError(f"Unknown match type {match_type}")
        named = set(exact) | specified
        if IP in named and named & {USER, CLIENT_ID}:
            raise QuotaRequestError(
                "Invalid entity filter component combination. IP filter component should not be "
                "used with user or clientId filter component."
            )
        return cls(exact, frozenset(specified), strict)

    def matches(self, entity: QuotaEntity) -> bool:
        if self.strict and len(entity.parts) != len(self.exact) + len(self.specified):
            return False
        for entity_type, name in self.exact.items():
            if not entity.has(entity_type) or entity.name(entity_type) != name:
                return False
        return all(entity.has(entity_type) for entity_type in self.specified)

    def select(self, quotas: QuotaConfigs) -> list[tuple[QuotaEntity, dict[str, float]]]:
        """The matching entities that hold a quota, with their values, in a stable order."""
        found = [(e, dict(v)) for e, v in quotas.items() if v and self.matches(e)]
        return sorted(found, key=lambda item: item[0].sort_key())
