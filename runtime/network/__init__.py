"""The built-in network manager (issue 6): bridges, IPAM, sandboxes and endpoints, embedded
DNS, published ports and isolation between networks.

Used by the daemon only. Importing this package is cheap: pyroute2 and dnslib are imported
inside the functions that need them (RUNTIME-NOTES pitfall 9).
"""

from runtime.network.manager import NetworkJoin, NetworkManager
from runtime.network.ports import PortBinding, parse_port_spec

__all__ = ["NetworkManager", "NetworkJoin", "PortBinding", "parse_port_spec"]
