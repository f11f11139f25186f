"""Sending webhooks like Meta: bytes, signatures, an open-model schedule, retries, replay."""

from wasim.send.encoding import SIGNATURE_HEADER, SignMode, Style, encode, signature, signed_request
from wasim.send.fleet import SendProcesses, send_split
from wasim.send.plan import Delivery, PlanSpec, build_plan, parse_mix, prepare
from wasim.send.record import load, record
from wasim.send.report import SendReport, SendResult
from wasim.send.retry import RetryProfile, retry_profile
from wasim.send.sender import Target, raise_if_unreachable, send_plan
from wasim.send.verify import VerifyResult, verify

__all__ = [
    "SIGNATURE_HEADER",
    "Delivery",
    "PlanSpec",
    "RetryProfile",
    "SendProcesses",
    "SendReport",
    "SendResult",
    "SignMode",
    "Style",
    "Target",
    "VerifyResult",
    "build_plan",
    "encode",
    "load",
    "parse_mix",
    "prepare",
    "raise_if_unreachable",
    "record",
    "retry_profile",
    "send_plan",
    "send_split",
    "signature",
    "signed_request",
    "verify",
]
