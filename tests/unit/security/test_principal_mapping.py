"""ssl.principal.mapping.rules and the RFC 2253 subject DN Kafka maps."""

from __future__ import annotations

import pytest

from grete.security.principal_mapping import NoMatchingRule, SslPrincipalMapper
from grete.security.tls import subject_dn

DN = "CN=Alice,OU=ServiceUsers,O=Grete,C=DE"


def test_default_keeps_the_dn() -> None:
    assert SslPrincipalMapper.parse("DEFAULT").name(DN) == DN


def test_rules_with_commas_in_patterns_first_match_wins_and_case() -> None:
    mapper = SslPrincipalMapper.parse(
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/U,DEFAULT"
    )
    assert mapper.name(DN) == "alice"
    assert mapper.name("CN=Bob,OU=Ops,O=Grete,C=DE") == "BOB@OPS"
    assert mapper.name("O=Other") == "O=Other"


def test_escaped_slash_and_no_matching_rule() -> None:
    mapper = SslPrincipalMapper.parse(r"RULE:^CN=([^,]*),.*$/svc\/$1/")
    assert mapper.name(DN) == "svc/Alice"
    with pytest.raises(NoMatchingRule):
        mapper.name("O=Grete")


@pytest.mark.parametrize("bad", ["", "RULE:abc", "RULE:(/x/", "NOPE", "RULE:a/b/X"])
def test_invalid_rules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        SslPrincipalMapper.parse(bad)


def test_subject_dn_is_rfc2253_most_specific_first_with_escapes() -> None:
    peercert = {
        "subject": (
            (("countryName", "DE"),),
            (("organizationName", "Grete, Inc."),),
            (("organizationalUnitName", "eng"), ("userId", "u1")),
            (("commonName", "alice"),),
        )
    }
    assert subject_dn(peercert) == r"CN=alice,OU=eng+UID=u1,O=Grete\, Inc.,C=DE"
