"""Template tags for tracked emails: ``{% load leadpixel %}``.

- ``{% lead_pixel %}`` / ``{% lead_pixel message %}``: the 1x1 tracking image.
- ``{% tracked_url message "https://..." %}``: a signed click URL.
- ``{% track_links message %}...{% endtrack_links %}``: rewrites every http(s)
  ``href`` inside; mailto:, tel:, #anchors and unsubscribe links stay as they are.
- ``{% tracked_image message "img/chart.png" alt="Chart of ..." %}``: a real image
  served through the tracker; loading it records an open naming the image.
- ``{% tracked_download message document %}``: a signed link to a ``Document``;
  fetching it records a download.

Why descriptive images: many readers (and mail clients by default) block
images from unknown senders until asked, and a 1x1 pixel gives them no reason
to ask. An image with a meaningful name and alt text ("Chart of climate change
impact", not "img_0042.png") reads as content: shown blocked, its alt text
tells what is missing, and readers load it; the open is recorded with it. The
URL ends in a slug of the alt text (or ``name=``) and the real extension,
which spam filters and people both read better than a bare token.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..documents.images import find_dimensions
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


@register.simple_tag
def tracked_image(message, path: str, alt: str = "", name: str = "", **attrs) -> SafeString:
    """``<img>`` of ``path`` (in the image roots) through the tracker, with ``alt`` and,
    when the file is found, its ``width`` and ``height``. Further keyword arguments
    become attributes (``style="..."``, ``width="300"`` to override)."""
    size = find_dimensions(path)
    if size and "width" not in attrs and "height" not in attrs:
        attrs = {"width": size[0], "height": size[1], **attrs}
    extra = format_html_join("", ' {}="{}"', ((key.replace("_", "-"), value)
                                              for key, value in attrs.items()))
    return format_html('<img src="{}" alt="{}"{} border="0">',
                       message.image_url(path, alt=alt, name=name), alt, extra)


@register.simple_tag
def tracked_download(message, document) -> str:
    """The signed download URL of ``document`` for ``message``."""
    return message.download_url(document)
