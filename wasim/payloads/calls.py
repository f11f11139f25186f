"""WhatsApp Business calling (reference §5b, `calls` field): connect, terminate, call statuses.

Meta's user-initiated and business-initiated calling guides show `connect` (`value.calls[]`
with `event: connect`, `direction`, and the WebRTC `session` {sdp_type offer|answer, sdp});
`terminate` (status COMPLETED or FAILED, `start_time`, `end_time`, `duration`) and the caller's
business-scoped id (`from_user_id`) are as Kapso and YCloud document them [BSP], written in
Meta's snake_case; RINGING, ACCEPTED and REJECTED of a business-initiated call arrive as
`value.statuses[]` items with `type: call`. Meta's calling webhook reference itself was not
retrieved (reference §5b), so each shape is built in one function here, easy to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from wasim.payloads import ids
from wasim.payloads.model import JSON, Contact, Update

if TYPE_CHECKING:
    from wasim.payloads.factory import PayloadFactory

Direction = Literal["USER_INITIATED", "BUSINESS_INITIATED"]
CALL_STATUSES = ("RINGING", "ACCEPTED", "REJECTED")
FIELD = "calls"


def call(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A whole call, its webhooks in order: a user calls (connect, terminate), or, one time in
    three, the business calls (connect with the SDP answer, RINGING, ACCEPTED or REJECTED,
    terminate)."""
    who = f.contact(phone)
    wacid = ids.wacid(f.rng, who.phone)
    start = int(f.now())
    if f.rng.random() < 2 / 3:
        talk = f.rng.randint(5, 900)
        return [
            connect(f, who, wacid, "USER_INITIATED", start),
            terminate(f, who, wacid, "USER_INITIATED", start, talk, completed=True),
        ]
    accepted = f.rng.random() < 0.8
    answer = start + f.rng.randint(2, 20)
    updates = [
        connect(f, who, wacid, "BUSINESS_INITIATED", start),
        status(f, who, wacid, "RINGING", start + 1),
        status(f, who, wacid, "ACCEPTED" if accepted else "REJECTED", answer),
    ]
    talk = f.rng.randint(5, 900) if accepted else 0
    updates.append(terminate(f, who, wacid, "BUSINESS_INITIATED", answer, talk, accepted))
    return updates


def call_connect(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A user calls the business: `connect` with the user's SDP offer."""
    who = f.contact(phone)
    return [connect(f, who, ids.wacid(f.rng, who.phone), "USER_INITIATED", int(f.now()))]


def call_terminate(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A user's call ended: COMPLETED with its duration, or (one time in five) FAILED."""
    who = f.contact(phone)
    completed = f.rng.random() < 0.8
    talk = f.rng.randint(5, 900) if completed else 0
    end = int(f.now())
    wacid = ids.wacid(f.rng, who.phone)
    return [terminate(f, who, wacid, "USER_INITIATED", end - talk, talk, completed)]


def call_status(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A business-initiated call's status: RINGING, ACCEPTED or REJECTED."""
    who = f.contact(phone)
    state = f.rng.choice(CALL_STATUSES)
    return [status(f, who, ids.wacid(f.rng, who.phone), state, int(f.now()))]


def connect(f: PayloadFactory, who: Contact, wacid: str, direction: Direction, at: int) -> Update:
    inbound = direction == "USER_INITIATED"
    item = _ends(f, who, wacid, inbound)
    item["event"] = "connect"
    item["timestamp"] = str(at)
    if not inbound:
        item["direction"] = direction
    item["session"] = {"sdp_type": "offer" if inbound else "answer", "sdp": sdp(f, inbound)}
    return Update(FIELD, item, who if inbound else None, FIELD)


def terminate(
    f: PayloadFactory,
    who: Contact,
    wacid: str,
    direction: Direction,
    start: int,
    talk: int,
    completed: bool,
) -> Update:
    inbound = direction == "USER_INITIATED"
    item = _ends(f, who, wacid, inbound)
    item["event"] = "terminate"
    item["direction"] = direction
    item["timestamp"] = str(start + talk)
    item["status"] = "COMPLETED" if completed else "FAILED"
    item["start_time"] = str(start)
    item["end_time"] = str(start + talk)
    item["duration"] = talk
    return Update(FIELD, item, who if inbound else None, FIELD)


def status(f: PayloadFactory, who: Contact, wacid: str, state: str, at: int) -> Update:
    item: JSON = {
        "id": wacid,
        "timestamp": str(at),
        "type": "call",
        "status": state,
        "recipient_id": who.phone,
    }
    if f.shape == "current":
        item["recipient_user_id"] = who.user_id
    return Update("statuses", item, None, FIELD)


def _ends(f: PayloadFactory, who: Contact, wacid: str, inbound: bool) -> JSON:
    item: JSON = {"id": wacid}
    if inbound:
        item["from"] = who.phone
        if f.shape == "current":
            item["from_user_id"] = who.user_id
        item["to"] = f.display_phone_number
    else:
        item["from"] = f.display_phone_number
        item["to"] = who.phone
    return item


def sdp(f: PayloadFactory, offer: bool) -> str:
    """A WebRTC audio SDP (RFC 8866) like a browser's: Opus, ICE credentials, DTLS fingerprint."""
    session = f.rng.randrange(10**18, 10**19)
    fingerprint = ":".join(f"{b:02X}" for b in f.rng.randbytes(32))
    ufrag = ids.hex_id(f.rng, 8)
    pwd = ids.hex_id(f.rng, 24)
    lines = [
        "v=0",
        f"o=- {session} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=msid-semantic: WMS",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        f"a=fingerprint:sha-256 {fingerprint}",
        f"a=setup:{'actpass' if offer else 'active'}",
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:126 telephone-event/8000",
    ]
    return "\r\n".join(lines) + "\r\n"
