"""The wire contract: pydantic shapes of RPC params, results and notifications.

Both sides import these modules: the server (:mod:`mobkat.rpc`) and the client SDK (:mod:`mobkat.client`).
They import only pydantic and other light modules (:mod:`mobkat.history`, :mod:`mobkat.live.wire`, the mob
definition/event shapes), never the server, sessions, providers, the store or the ``openai`` SDK, so that
``import mobkat.client`` stays light.
"""
