"""Outbound safety: which addresses a connector may reach, checked after DNS.

A flow's templates can steer a connector's URL, and a connector's settings come
from anyone holding a full management key, so neither may point idflow at its
own network. Every destination is resolved here and each address checked; the
caller then connects to the checked address itself (keeping the host name for
`Host` and TLS), so a second DNS answer cannot swap in another address.

Refused unless the operator allowlists them (IDFLOW_OUTBOUND_ALLOW, a comma list
of addresses and networks): loopback, private (RFC 1918, unique local), shared
(100.64/10), link-local (which holds the cloud metadata address 169.254.169.254),
multicast, reserved and unspecified addresses; in short, anything not global.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from idflow.errors import ConfigurationError, ConnectorError, OutboundRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The operator's allowlist of otherwise refused networks."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> OutboundPolicy:
        """Read a comma-separated list of addresses and CIDR networks.

        Raises:
            ConfigurationError: naming the entry that is neither.
        """
        networks = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"IDFLOW_OUTBOUND_ALLOW holds {entry!r}: expected an address or network such as 10.0.0.0/8."
                ) from None
        return cls(tuple(networks))

    def permits(self, address: IPAddress) -> bool:
        """True when a connector may connect to this address."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return True
        return address.is_global and not address.is_multicast

    def check(self, host: str, addresses: Iterable[str]) -> list[str]:
        """Return the addresses, or refuse them all when any one is not permitted.

        One refused address refuses the host: a name answering both a public and
        a private address is how rebinding attacks begin.

        Raises:
            OutboundRefused: naming the host and the address refused.
        """
        checked = []
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not self.permits(address):
                raise OutboundRefused(
                    f"Host {host!r} resolves to {address}, a non-public address: allowlist it in IDFLOW_OUTBOUND_ALLOW to reach it."
                )
            checked.append(str(address))
        return checked


def resolve(policy: OutboundPolicy, host: str, port: int) -> list[str]:
    """Resolve a host name (or read an address) and check every address found.

    Returns:
        The permitted addresses, in the resolver's order.

    Raises:
        ConnectorError: when the name does not resolve.
        OutboundRefused: when an address is not permitted.
    """
    bare = host.strip("[]")
    try:
        return policy.check(host, [str(ipaddress.ip_address(bare))])
    except ValueError:
        pass

    try:
        answers = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectorError(
            f"Host {host!r} does not resolve: {exc.strerror}."
        ) from exc
    found = list(dict.fromkeys(str(info[4][0]) for info in answers))

    return policy.check(host, found)


def connect_checked(
    policy: OutboundPolicy, host: str, port: int, timeout: float
) -> socket.socket:
    """Open a TCP connection to the first reachable checked address of a host.

    Raises:
        ConnectorError: when no address accepts the connection.
        OutboundRefused: when an address is not permitted.
    """
    last: OSError | None = None
    for address in resolve(policy, host, port):
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last = exc
    reason = (
        (last.strerror or str(last) or type(last).__name__) if last else "no address"
    )
    raise ConnectorError(f"Could not connect to {host}:{port}: {reason}.") from last
