"""RFC 3161 structures shared by the token verifier (``core.tokens``) and the local TSA."""

from __future__ import annotations

from asn1crypto import cms, tsp


class TimeStampResp(tsp.TimeStampResp):
    """RFC 3161 TimeStampResp; asn1crypto's own forgets that the token is OPTIONAL."""

    _fields = [  # noqa: RUF012 (asn1crypto's schema convention)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]
