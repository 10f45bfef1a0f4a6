"""Plain helpers that build messages and events for the admin and report tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django_leadpixel.models import Click, Message, Open

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)


def message(**fields) -> Message:
    fields.setdefault("recipient", "reader@example.com")
    fields.setdefault("subject", "Hello")
    fields.setdefault("campaign", "spring")
    fields.setdefault("sent_at", T0)
    return Message.objects.create(**fields)


def open_(msg: Message, source: str = "human", minutes: float = 5, **fields) -> Open:
    fields.setdefault("enriched_at", msg.sent_at)
    if source != "human":
        fields.setdefault("masked", True)
    return Open.objects.create(message=msg, source=source,
                               occurred_at=msg.sent_at + timedelta(minutes=minutes), **fields)


def click(msg: Message, source: str = "human", minutes: float = 6,
          url: str = "https://shop.example.com/a", position: int = 1, **fields) -> Click:
    fields.setdefault("enriched_at", msg.sent_at)
    if source != "human":
        fields.setdefault("masked", True)
    return Click.objects.create(message=msg, source=source, url=url, position=position,
                                occurred_at=msg.sent_at + timedelta(minutes=minutes), **fields)


def sample_campaign() -> dict[str, Message]:
    """Five messages of campaign "spring", one of "autumn", with known truth.

    - ada: opened on Chrome/Windows in GB, clicked link 1 twice  -> person, clicked
    - grace: opened only via the Google proxy                     -> person (proxy)
    - tim: Apple MPP prefetch only, a scanner clicked             -> machines only
    - linus: nothing on open, but a human click (images off)     -> person, clicked
    - nobody: nothing                                              -> not opened
    - other (autumn, sent a week later): a Yahoo proxy open
    """
    ada = message(recipient="ada@example.com")
    open_(ada, country="GB", city="London", device_type="desktop", os="Windows",
          browser="Chrome")
    open_(ada, minutes=60 * 25, country="GB", device_type="desktop", os="Windows",
          browser="Chrome")
    click(ada, country="GB", device_type="desktop", os="Windows", browser="Chrome")
    click(ada, minutes=7, country="GB", device_type="desktop", os="Windows", browser="Chrome")
    grace = message(recipient="grace@example.com")
    open_(grace, "google_proxy", operator="Google")
    tim = message(recipient="tim@example.com")
    open_(tim, "apple_mpp", minutes=0.1, operator="Apple")
    click(tim, "scanner", minutes=0.2, url="https://shop.example.com/b", position=2)
    linus = message(recipient="linus@example.com")
    click(linus, country="FI", device_type="mobile", os="Android", mail_client="Gmail")
    nobody = message(recipient="nobody@example.com")
    other = message(recipient="other@example.com", campaign="autumn",
                    sent_at=T0 + timedelta(days=7))
    open_(other, "yahoo_proxy")
    return {"ada": ada, "grace": grace, "tim": tim, "linus": linus, "nobody": nobody,
            "other": other}
