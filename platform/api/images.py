"""Slugs for hosts that did not build them: the agent fetches an image by digest."""

from django.http import FileResponse

from paas.platform.exceptions import Forbidden, NotFound
from paas.runtime import images
from paas.runtime.errors import ImageError


def download(request, digest):
    """The slug (tar) of an image, for host agents (admin tokens only: slugs hold app code)."""
    if not request.user.is_staff:
        raise Forbidden("only hosts (admin tokens) may fetch images")
    try:
        path = images.blob_path(digest)
    except ImageError as error:
        raise NotFound(str(error)) from None
    return FileResponse(open(path, "rb"), content_type="application/x-tar")
