"""What replicas of a service share, each with an embedded and a networked shape.

    bus.py           Bus: publish / subscribe, resync markers; InProcessBus (embedded)
    redis_bus.py     RedisBus: the bus over Redis pub/sub
    pubsub_link.py   the process's one pub/sub connection: watched, reconnected, resubscribed
    leader.py        Leadership: run a job on one replica only; AlwaysLeader, RedisLeadership
    cache.py         TwoLevelCache: in-process LRU (local_lru.py) in front of Redis,
                     invalidated over the bus
    redis_client.py  RedisConfig, the client factory, the start-up connect with backoff
    counted_redis.py the client class the factory makes: counts round trips
    runtime.py       open_shared(settings, service): the shape the settings ask for

Keys and channels in Redis are `switchboard:<service>:...`.
"""
