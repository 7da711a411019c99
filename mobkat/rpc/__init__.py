"""The JSON-RPC server (``mobkat rpc`` / ``mobkat-rpc``): stdio or TCP JSONL, live channels over WebSocket.

Method families are modules with ``register(registry)`` (see :mod:`mobkat.rpc.registry`);
:class:`~mobkat.rpc.host.ServerHost` registers them and runs the server on the I/O loop.
"""

from mobkat.rpc.host import ServerHost, ServerOptions, run_server
from mobkat.rpc.registry import Call, MethodRegistry

__all__ = ["Call", "MethodRegistry", "ServerHost", "ServerOptions", "run_server"]
