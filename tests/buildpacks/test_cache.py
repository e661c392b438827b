"""The build cache: one build of an app at a time, and clearing it."""

import threading
import time

from paas.buildpacks import cache


def test_second_build_waits_for_the_first(builder, make_app):
    src = make_app({"index.html": "x"})
    result = {}

    def second_build():
        result["slug"] = builder(src)

    with cache.locked(str(builder.cache_dir)):
        worker = threading.Thread(target=second_build)
        worker.start()
        deadline = time.monotonic() + 30
        while "-----> Waiting for another build of this app to finish" not in builder.lines:
            assert time.monotonic() < deadline and worker.is_alive(), builder.lines
            time.sleep(0.02)
        assert "slug" not in result
    worker.join(60)
    assert result["slug"].buildpacks == ["static"]


def test_clear_empties_the_cache(builder, make_app):
    src = make_app({"package.json": '{"name": "empty", "version": "1.0.0"}'})
    builder(src)
    assert (builder.cache_dir / "nodejs").is_dir()
    cache.clear(str(builder.cache_dir))
    assert list(builder.cache_dir.iterdir()) == []
