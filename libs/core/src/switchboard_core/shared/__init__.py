"""What replicas of a service share, each with an embedded and a networked shape.

    bus.py           Bus: publish / subscribe, resync markers; InProcessBus (embedded)
    redis_bus.py     RedisBus: the bus over Redis pub/sub
    pubsub_link.py   the process's one pub/sub connection: watched, reconnected, resubscribed
    leader.py        Leadership: run a job on one replica only; AlwaysLeader, RedisLeadership
    redis_level.py   RedisLevel: the shared level behind a cache's in-process one
                     (deadlines, cooldown, deletions owed until Redis takes them)
    redis_client.py  RedisConfig, the client factory, the start-up connect with backoff
    counted_redis.py the client class the factory makes: counts round trips
    runtime.py       open_shared(settings, service): the shape the settings ask for

Keys and channels in Redis are `switchboard:<service>:...`.
"""
