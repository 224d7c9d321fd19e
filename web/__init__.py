"""The observers' web service: uploads from phones (tus), receipts, the public log.

Thin like ``cli``: each route parses the request, calls one operation of ``app`` and renders
its result; nothing here writes to the store but through ``app``.
"""
