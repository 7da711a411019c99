"""REST front of the JSON-RPC server (``mobkat rpc --rest ADDR``): upstream's session routes and the catalog."""
