"""Template tags for tracked emails: ``{% load leadpixel %}``.

- ``{% lead_pixel %}`` / ``{% lead_pixel message %}``: the 1x1 tracking image.
- ``{% tracked_url message "https://..." %}``: a signed click URL.
- ``{% track_links message %}...{% endtrack_links %}``: rewrites every http(s)
  ``href`` inside; mailto:, tel:, #anchors and unsubscribe links stay as they are.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from ..linkrewrite import pixel_img, rewrite_links

register = template.Library()


def _message(context, message):
    message = message if message is not None else context.get("message")
    if message is None or not hasattr(message, "pixel_url"):
        raise template.TemplateSyntaxError(
            "lead_pixel needs a Message: pass one ({% lead_pixel msg %}) or put it in the "
            "context as 'message'"
        )
    return message


@register.simple_tag(takes_context=True)
def lead_pixel(context, message=None) -> SafeString:
    message = _message(context, message)
    return mark_safe(pixel_img(message.pixel_url()))


@register.simple_tag
def tracked_url(message, destination: str, position: int = 0) -> str:
    return message.tracked_url(destination, position)


class TrackLinksNode(template.Node):
    def __init__(self, message, nodelist):
        self.message = message
        self.nodelist = nodelist

    def render(self, context):
        message = _message(context, self.message.resolve(context))
        return mark_safe(rewrite_links(self.nodelist.render(context), message.public_id,
                                       consent=message.tracking_consent))


@register.tag
def track_links(parser, token):
    bits = token.split_contents()
    if len(bits) > 2:
        raise template.TemplateSyntaxError(f"{bits[0]} takes at most one argument, a Message")
    message = parser.compile_filter(bits[1] if len(bits) == 2 else "message")
    nodelist = parser.parse(("endtrack_links",))
    parser.delete_first_token()
    return TrackLinksNode(message, nodelist)
