"""Named instance sizes: the memory and CPU an instance of a process type gets."""

from dataclasses import dataclass

from paas.platform.exceptions import Invalid


@dataclass(frozen=True)
class Size:
    name: str
    memory_mb: int
    cpus: float


SIZES = {
    size.name: size
    for size in (
        Size("small", 256, 0.25),
        Size("medium", 512, 0.5),
        Size("large", 1024, 1.0),
        Size("xlarge", 2048, 2.0),
    )
}
DEFAULT_SIZE = "small"


def get_size(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise Invalid(f"unknown size {name!r}; sizes are: {', '.join(SIZES)}") from None
