"""``paas-runner relay``: the relay of one attached one-off, through the engine that made its container.

A native container is relayed over a terminal or pipes of our own (attach.Relay); one the docker
backend made, over the engine's attach stream (dockerattach.EngineRelay). Both move the same Redis
streams.
"""

from paas.contracts import redis_keys

from . import attach, config, dockerattach
from .container import Container


def main(container_id: str, tty: bool) -> int:
    import redis

    client = redis.Redis.from_url(config.redis_url())
    engine = dockerattach.engine_of(container_id)
    if engine:
        relay = dockerattach.EngineRelay(dockerattach.load(engine, container_id), client, redis_keys.prefix(), tty)
    else:
        relay = attach.Relay(Container.load(container_id), client, redis_keys.prefix(), tty)
    relay.run()
    return 0
