"""The JSON-RPC server (``mobkat rpc`` / ``mobkat-rpc``): stdio or TCP JSONL, live channels over WebSocket.

Method families are modules with ``register(registry)`` (see :mod:`mobkat.rpc.registry`);
:class:`mobkat.rpc.host.ServerHost` registers them and runs the server on the I/O loop. This package
module imports nothing, so ``mobkat rpc`` can check its flags before loading the heavy parts.
"""
