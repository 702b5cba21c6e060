"""The part of a JAAS login configuration a Kafka broker reads from ``sasl.jaas.config``.

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a";

One login module, a control flag, options ``key=value`` (values quoted or bare), a final
semicolon. For PLAIN, each ``user_<name>`` option is a user and its password (Kafka's
PlainServerCallbackHandler). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEAD = re.compile(r"\s*(?P<module>[\w.$]+)\s+(?P<flag>required|requisite|sufficient|optional)\s*")
_OPTION = re.compile(
    r'\s*(?P<key>[\w.-]+)\s*=\s*(?:"(?P<quoted>(?:\\.|[^"\\])*)"|(?P<bare>[^\s;"]+))\s*'
)


@dataclass(frozen=True, slots=True)
class JaasConfig:
    login_module: str
    options: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> JaasConfig:
        """ValueError says where the text stops being a JAAS entry."""
        head = _HEAD.match(text)
        if head is None:
            raise ValueError("expected '<LoginModule class> required ...'")
        options: dict[str, str] = {}
        at = head.end()
        while at < len(text) and text[at] != ";":
            match = _OPTION.match(text, at)
            if match is None:
                raise ValueError(f"invalid JAAS option at {text[at : at + 30]!r}")
            quoted = match["quoted"]
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match["bare"]
            options[match["key"]] = value
            at = match.end()
        if text[at:].strip() != ";":
            raise ValueError("a JAAS entry ends with a single ';'")
        return cls(head["module"], options)

    def plain_users(self) -> dict[str, str]:
        """PLAIN users and passwords: the ``user_<name>`` options."""
        return {k[len("user_") :]: v for k, v in self.options.items() if k.startswith("user_")}
