#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis are up when they are installed (CI machines have
# both); say clearly when they are not, so the test run reports what it skipped.
pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
redis_up() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ]; }

ensure_services() {
  if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 20); do pg_up && break; sleep 0.5; done
  fi
  if ! redis_up && command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 20); do redis_up && break; sleep 0.5; done
  fi
  if pg_up; then echo "services: PostgreSQL reachable: service tests run on SQLite AND PostgreSQL"
  else echo "services: PostgreSQL NOT reachable: PostgreSQL variants will be SKIPPED"; fi
  if redis_up; then echo "services: Redis reachable: queue/lock tests run on embedded AND real Redis"
  else echo "services: Redis NOT reachable: real-Redis variants will be SKIPPED"; fi
}
