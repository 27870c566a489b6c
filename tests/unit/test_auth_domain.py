import pytest

from scaiecho.domain.auth import (
    Scope,
    hash_secret,
    issue_key,
    parse_scopes,
    secret_matches,
    split_key,
    validate_tenant_id,
)
from scaiecho.errors import ValidationFailed


def test_issued_key_round_trips_and_only_the_hash_is_kept() -> None:
    issued = issue_key()
    key_id, secret = split_key(issued.plaintext)  # type: ignore[misc]
    assert key_id == issued.key_id
    assert secret not in issued.secret_hash
    assert secret_matches(secret, issued.secret_hash)
    assert not secret_matches(secret + "x", issued.secret_hash)


def test_keys_are_unique() -> None:
    assert len({issue_key().plaintext for _ in range(50)}) == 50


@pytest.mark.parametrize("bad", ["", "nonsense", "se_", "se_abc", "xx_abc_def", "se__secret"])
def test_malformed_keys_do_not_parse(bad: str) -> None:
    assert split_key(bad) is None


def test_secret_may_contain_underscores() -> None:
    assert split_key("se_abc_de_f") == ("abc", "de_f")
    assert hash_secret("de_f") != hash_secret("def")


def test_scopes_parse_from_csv_and_list() -> None:
    assert parse_scopes("scaiecho:enroll, scaiecho:diarize") == {Scope.ENROLL, Scope.DIARIZE}
    assert parse_scopes(["scaiecho:transcribe"]) == {Scope.TRANSCRIBE}


@pytest.mark.parametrize("bad", ["", "admin", "scaiecho:enroll,root"])
def test_unknown_or_empty_scopes_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_scopes(bad)
    assert err.value.code == "unknown_scope"


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "t/1"])
def test_tenant_ids_are_validated(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_tenant_id(bad)
