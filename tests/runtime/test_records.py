"""records.record: the dataclass behaviour the runtime's records rely on, without dataclasses."""

import json

import pytest
from paas.runtime.container import Outcome
from paas.runtime.records import FrozenInstance, asdict, field, record
from paas.runtime.spec import ContainerSpec, Limits, Mount
from paas.runtime.state import Record, State


@record
class Point:
    x: int
    y: int = 0
    tags: list = field(default_factory=list)


@record(frozen=True)
class Frozen:
    name: str
    inner: Point | None = None


def test_init_positional_keyword_defaults_and_factories():
    a, b = Point(1), Point(x=1, y=2)
    assert (a.x, a.y, a.tags, b.y) == (1, 0, [], 2)
    a.tags.append("t")
    assert Point(1).tags == []  # a new list per instance
    assert "tags" not in Point.__dict__


@pytest.mark.parametrize("call, message", [
    (lambda: Point(), "missing required argument: 'x'"),
    (lambda: Point(1, 2, [], 4), "takes 3 positional arguments but 4 were given"),
    (lambda: Point(1, x=2), "multiple values for argument 'x'"),
    (lambda: Point(1, z=2), "unexpected keyword argument 'z'"),
])
def test_bad_arguments_raise_type_error(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_repr_eq_and_hash():
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"
    assert Point(1) == Point(1) and Point(1) != Point(2)
    assert Point(1) != Frozen("a") and Point.__hash__ is None
    assert hash(Frozen("a")) == hash(Frozen("a")) and len({Frozen("a"), Frozen("a"), Frozen("b")}) == 2


def test_frozen_refuses_assignment():
    f = Frozen("a")
    with pytest.raises(FrozenInstance):
        f.name = "b"
    with pytest.raises(AttributeError):
        del f.name
    p = Point(1)
    p.x = 5
    assert p.x == 5


def test_asdict_is_recursive():
    f = Frozen("a", Point(1, tags=[Point(2)]))
    assert asdict(f) == {"name": "a", "inner": {"x": 1, "y": 0, "tags": [{"x": 2, "y": 0, "tags": []}]}}
    with pytest.raises(TypeError):
        asdict({"a": 1})


def test_default_after_required_is_refused():
    with pytest.raises(TypeError, match="without a default follows"):
        @record
        class Bad:
            a: int = 1
            b: int


def test_runtime_records_keep_their_meaning(tmp_path):
    spec = ContainerSpec(command=("true",), layers=(tmp_path,), binds=(Mount(tmp_path, "/x"),))
    assert len(spec.id) == 12 and spec.id != ContainerSpec(command=("true",), layers=()).id
    assert spec.limits == Limits() and spec.binds[0].readonly
    assert spec == ContainerSpec(command=("true",), layers=(tmp_path,), binds=(Mount(tmp_path, "/x"),), id=spec.id)
    with pytest.raises(AttributeError):
        spec.workdir = "/app"
    rec = Record(id="r1", network={"mode": "none"})
    rec.move(State.RUNNING)
    rec.save(tmp_path)
    loaded = Record.load(tmp_path)
    assert loaded == rec and json.loads((tmp_path / "state.json").read_text())["state"] == "running"
    assert Outcome(3) == Outcome(exit_code=3, oom_killed=False, error="")
