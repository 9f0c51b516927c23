"""Queue names and KV keys shared by the processes of one deployment (web, worker,
scheduler). One home, so the heartbeat reads exactly what the gateway and workers write."""
from __future__ import annotations

INBOUND_QUEUE = "inbound"                    # events the gateway accepted, for the workers
OUTBOUND_QUEUE = "outbound"                  # outbound message rows to send
LATER_QUEUE = "outbound.later"               # wake-ups of recipients held by a rate limit
LAST_CALLBACK_KEY = "inbound:last:{platform}"   # epoch seconds of the platform's last callback/frame
WORKER_BEAT_KEY = "worker:beat:{queue}"      # epoch seconds of the queue's last worker loop turn
ALL_QUEUES = (INBOUND_QUEUE, LATER_QUEUE, OUTBOUND_QUEUE)   # every queue a worker process serves
CONFIG_GEN_KEY = "config:gen"                # bumped on every config reload or availability change
CONFIG_PUBLISHED_KEY = "config:published"    # the last reloaded YAML text for every instance: {rev, sha, yaml, ...}
CONFIG_RUNNING_KEY = "config:running"        # what the last instance to apply a change runs: {rev, sha, at, ...}
