"""The example site's small shop: plain pages behind VisitMiddleware, so a click in
the demo email can be followed onto the sender's own site and seen on the lead page."""

from django.shortcuts import render

ITEMS = {"autumn": "The autumn offer", "boots": "Walking boots", "checkout": "Checkout"}


def shop(request, item: str = ""):
    return render(request, "demo/shop.html", {"items": ITEMS, "item": ITEMS.get(item, "")})
