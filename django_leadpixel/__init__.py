"""django-leadpixel: email open and click tracking that tells people from proxies."""

__version__ = "0.1.0"
