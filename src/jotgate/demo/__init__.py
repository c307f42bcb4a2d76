"""``jotgate demo``: the whole flow on one machine, in one command.

:class:`~jotgate.demo.stack.Stack` starts the auth server, the gateway and
two sample services (:mod:`jotgate.demo.services`) on loopback ports;
:mod:`jotgate.demo.walkthrough` prints the token flow as curl commands and
:mod:`jotgate.demo.selftest` runs the same flow itself and checks it.
Needs the ``server`` extra (FastAPI, uvicorn, httpx), so nothing here is
imported by the command line until ``jotgate demo`` runs.
"""
