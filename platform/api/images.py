"""Slugs for hosts that did not build them: the agent fetches an image by digest."""

from asgiref.sync import sync_to_async
from django.http import FileResponse

from paas.platform.exceptions import Forbidden, NotFound
from paas.runtime import images
from paas.runtime.errors import ImageError


class StreamedFile(FileResponse):
    """A FileResponse the ASGI server (platform/asgi.py) sends block by block.

    Django's ASGI handler reads a response with a synchronous iterator, as FileResponse has,
    into memory whole before sending it: a slug is up to PAAS_MAX_SLUG_BYTES (500 MB).
    Here each block is read on the request's thread and sent before the next is read.
    """

    async def __aiter__(self):
        blocks = iter(self.streaming_content)
        while (block := await sync_to_async(next)(blocks, None)) is not None:
            yield block


def download(request, digest):
    """The slug (tar) of an image, for host agents (admin tokens only: slugs hold app code)."""
    if not request.user.is_staff:
        raise Forbidden("only hosts (admin tokens) may fetch images")
    try:
        if images.exists(digest) and images.get(digest).is_oci:
            return StreamedFile(oci_archive(digest), content_type="application/x-tar")
        path = images.blob_path(digest)
    except ImageError as error:
        raise NotFound(str(error)) from None
    return StreamedFile(open(path, "rb"), content_type="application/x-tar")


def oci_archive(digest: str):
    """An OCI image of the store as an archive (runtime/imageexport.py), in a file that is gone once closed."""
    import tempfile

    from paas.runtime import imageexport

    out = tempfile.TemporaryFile(dir=images.oci_dir())
    try:
        imageexport.write(digest, out)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out
