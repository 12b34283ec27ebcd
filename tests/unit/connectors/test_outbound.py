"""The outbound guard refuses every non-public address unless the operator allows it."""

from __future__ import annotations

import pytest

from idflow.connectors.outbound import OutboundPolicy, resolve
from idflow.errors import ConfigurationError, OutboundRefused


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(OutboundRefused, match="non-public address"):
        resolve(OutboundPolicy(), address, 443)


def test_a_public_address_is_permitted() -> None:
    assert resolve(OutboundPolicy(), "93.184.216.34", 443) == ["93.184.216.34"]


def test_a_name_is_checked_after_resolution() -> None:
    with pytest.raises(OutboundRefused, match="'localhost' resolves to"):
        resolve(OutboundPolicy(), "localhost", 80)


def test_the_allowlist_opens_exactly_its_networks() -> None:
    policy = OutboundPolicy.parse("127.0.0.1, 10.0.0.0/8")

    assert resolve(policy, "127.0.0.1", 80) == ["127.0.0.1"]
    assert resolve(policy, "10.9.8.7", 80) == ["10.9.8.7"]
    with pytest.raises(OutboundRefused):
        resolve(policy, "192.168.0.1", 80)


def test_one_refused_address_refuses_the_whole_name() -> None:
    policy = OutboundPolicy.parse("127.0.0.1")

    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.1"):
        policy.check("mixed.example", ["127.0.0.1", "10.0.0.1"])


def test_a_malformed_allowlist_entry_is_a_configuration_error() -> None:
    with pytest.raises(
        ConfigurationError, match=r"IDFLOW_OUTBOUND_ALLOW holds 'intranet'"
    ):
        OutboundPolicy.parse("intranet")
