"""ssl.principal.mapping.rules: a client certificate's subject DN -> a principal name.

Kafka's syntax, a comma-separated list tried in order, the first matching rule wins:

    RULE:<pattern>/<replacement>/[L|U]   the pattern must match the whole DN; the replacement
                                         may use $1..$9; L or U lower- or upper-cases it
    DEFAULT                              the DN unchanged

A pattern may itself contain commas ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/"), and "\\/"
stands for a slash. Patterns are Java regular expressions in Kafka; Python's `re` reads
the common subset (groups, classes, lazy quantifiers, anchors) the same way. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RULE = re.compile(
    r"\s*(?:(?P<default>DEFAULT)|RULE:(?P<pattern>(?:\\.|[^\\/])*)/"
    r"(?P<replacement>(?:\\.|[^\\/])*)/(?P<case>[LU])?)\s*(?:,|$)"
)
_GROUP_REF = re.compile(r"\$(\d)")


class NoMatchingRule(ValueError):
    """No rule maps the DN: Kafka fails the connection's authentication."""


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        match = self.pattern.fullmatch(dn)
        if match is None:
            return None
        name = match.expand(self.replacement)
        return name.lower() if self.case == "L" else name.upper() if self.case == "U" else name


class SslPrincipalMapper:
    """The parsed rules; ``name(dn)`` gives the principal name (without "User:")."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules

    @classmethod
    def parse(cls, text: str) -> SslPrincipalMapper:
        """Parse the setting; ValueError names the part that is not a rule."""
        rules: list[_Rule] = []
        at, text = 0, text.strip()
        while at < len(text):
            match = _RULE.match(text, at)
            if match is None or match.end() == at:
                raise ValueError(f"invalid rule at {text[at:]!r}")
            at = match.end()
            if match["default"]:
                rules.append(_Rule(None))
                continue
            pattern = match["pattern"].replace("\\/", "/")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None
            # Java's "$1" is Python's "\g<1>"; a literal backslash must survive expand().
            replacement = match["replacement"].replace("\\/", "/").replace("\\", "\\\\")
            rules.append(
                _Rule(compiled, _GROUP_REF.sub(r"\\g<\1>", replacement), match["case"] or "")
            )
        if not rules:
            raise ValueError("no rules")
        return cls(rules)

    def name(self, dn: str) -> str:
        for rule in self._rules:
            name = rule.apply(dn)
            if name is not None:
                return name
        raise NoMatchingRule(f"no rule of ssl.principal.mapping.rules applies to {dn!r}")
