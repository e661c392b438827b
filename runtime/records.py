"""Record classes for the runner's hot path, without the dataclasses module.

``dataclasses`` imports ``inspect`` (and with it ast, dis and tokenize): about
10 ms of a ``paas-runner run`` whose container starts in ~15 ms. The records
of a start (ContainerSpec, Limits, Mount, Record, Attachment, Outcome, Stack)
need only what ``record`` gives, with the dataclass meaning:

- ``__init__`` from the annotated fields in order, positional or by keyword;
  a class attribute is the field's default, ``field(default_factory=f)`` a
  default made per instance;
- ``__repr__``, ``__eq__`` (same class, equal fields); with ``frozen=True``
  assignment raises ``FrozenInstance`` (an AttributeError) and instances hash
  by their fields, otherwise they are unhashable;
- ``asdict(obj)``: the fields as a dict, recursively through records, lists,
  tuples and dicts.
"""

_FIELDS = "__record_fields__"


class FrozenInstance(AttributeError):
    """Assignment to a field of a frozen record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def field(*, default_factory):
    """A field whose default is made by calling `default_factory` for each instance."""
    return _Factory(default_factory)


def record(cls=None, *, frozen: bool = False):
    """Class decorator: a record with the fields named by the class' annotations."""

    def wrap(cls):
        names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (inspect is what this avoids)
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        required = [name for name in names if name not in defaults]
        if required and names.index(required[-1]) >= len(required):
            raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
        for name, value in defaults.items():
            if isinstance(value, _Factory):
                delattr(cls, name)
        title = cls.__name__

        def __init__(self, *args, **kwargs):
            if len(args) > len(names):
                raise TypeError(f"{title}() takes {len(names)} positional arguments but {len(args)} were given")
            values = dict(zip(names, args))
            for key, value in kwargs.items():
                if key not in names:
                    raise TypeError(f"{title}() got an unexpected keyword argument {key!r}")
                if key in values:
                    raise TypeError(f"{title}() got multiple values for argument {key!r}")
                values[key] = value
            for name in names:
                if name not in values:
                    if name not in defaults:
                        raise TypeError(f"{title}() missing required argument: {name!r}")
                    default = defaults[name]
                    values[name] = default.make() if isinstance(default, _Factory) else default
                object.__setattr__(self, name, values[name])
            post_init = getattr(self, "__post_init__", None)
            if post_init is not None:
                post_init()

        def __repr__(self):
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
            return f"{type(self).__qualname__}({inner})"

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, name) == getattr(other, name) for name in names)

        cls.__init__, cls.__repr__, cls.__eq__ = __init__, __repr__, __eq__
        setattr(cls, _FIELDS, names)
        if frozen:
            def __setattr__(self, name, value):
                raise FrozenInstance(f"cannot assign to field {name!r} of a frozen {title}")

            def __delattr__(self, name):
                raise FrozenInstance(f"cannot delete field {name!r} of a frozen {title}")

            def __hash__(self):
                return hash(tuple(getattr(self, name) for name in names))

            cls.__setattr__, cls.__delattr__, cls.__hash__ = __setattr__, __delattr__, __hash__
        else:
            cls.__hash__ = None
        return cls

    return wrap if cls is None else wrap(cls)


def asdict(obj) -> dict:
    """The fields of a record as a dict; nested records, lists, tuples and dicts are converted too."""
    if not hasattr(type(obj), _FIELDS):
        raise TypeError(f"asdict() wants a record, not {type(obj).__name__}")
    return _convert(obj)


def _convert(value):
    names = getattr(type(value), _FIELDS, None)
    if names is not None:
        return {name: _convert(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(item) for item in value)
    if isinstance(value, dict):
        return {_convert(key): _convert(item) for key, item in value.items()}
    return value
