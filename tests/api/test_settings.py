"""Settings from the environment, value objects, and the small public helpers."""

from __future__ import annotations

import pytest

from polyctl.api import (
    DEFAULT_BASE_URL,
    ApiSettings,
    Dependent,
    RetryPolicy,
    generate_idempotency_key,
    is_masked,
)


def test_defaults_without_environment():
    settings = ApiSettings.from_env({})
    assert settings.base_url == DEFAULT_BASE_URL == "https://app.polytomic.com"
    assert (settings.api_key, settings.partner_key, settings.deployment_key) == (None, None, None)
    assert settings.timeout == 30.0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("app.polytomic.com", "https://app.polytomic.com"),
        ("example.com/", "https://example.com"),
        ("example.com///", "https://example.com"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("HTTP://127.0.0.1:8787/", "HTTP://127.0.0.1:8787"),
        ("https://self.hosted/polytomic/", "https://self.hosted/polytomic"),
        ("  ", DEFAULT_BASE_URL),
    ],
)
def test_deployment_url_gets_scheme_and_loses_trailing_slashes(given, expected):
    assert ApiSettings.from_env({"POLYTOMIC_DEPLOYMENT_URL": given}).base_url == expected


def test_direct_construction_normalises_too():
    assert ApiSettings(base_url="example.com/").base_url == "https://example.com"


def test_keys_are_read_trimmed_and_blank_means_unset():
    settings = ApiSettings.from_env(
        {
            "POLYTOMIC_API_KEY": " key-1\n",
            "POLYTOMIC_PARTNER_KEY": "",
            "POLYTOMIC_DEPLOYMENT_KEY": "dep-3",
        }
    )
    assert settings.api_key == "key-1"
    assert settings.partner_key is None
    assert settings.deployment_key == "dep-3"
    assert settings.has_credentials


def test_repr_never_shows_keys():
    settings = ApiSettings(api_key="sekrit-api", partner_key="sekrit-partner", deployment_key="sekrit-dep")
    for text in (repr(settings), str(settings)):
        assert "sekrit" not in text
        assert "api_key='***'" in text
    assert "api_key=None" in repr(ApiSettings())


def test_settings_are_frozen_and_timeout_must_be_positive():
    with pytest.raises(AttributeError):
        ApiSettings().api_key = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ApiSettings(timeout=0)


def test_retry_policy_defaults_and_validation():
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.max_total) == (5, 1.0, 60.0, 300.0)
    assert policy.jitter == (0.9, 1.1)
    assert RetryPolicy.none().max_attempts == 1
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=(1.2, 1.0))
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)


@pytest.mark.parametrize("value", ["********", "******", "*" * 25, "*"])
def test_star_runs_are_masked(value):
    assert is_masked(value)


@pytest.mark.parametrize("value", ["", "secret", "**a**", " ****", None, 0, ["****"], {"a": "****"}])
def test_other_values_are_not_masked(value):
    assert not is_masked(value)


def test_dependent_reads_like_the_terraform_provider():
    dep = Dependent(type="model", name="Users", id="m-1")
    assert str(dep) == 'model "Users" (m-1)'
    assert Dependent.from_mapping({"type": "sync", "name": "S", "id": "s-1", "extra": 1}) == Dependent(
        "sync", "S", "s-1"
    )


def test_idempotency_keys_are_unique_strings():
    keys = {generate_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(isinstance(k, str) and len(k) >= 32 for k in keys)
