"""The vocabulary the generator composes fixes from: systems, failure modes, wording.

Each failure mode has several ways to say the symptom (the generator uses one for
the fix and a *different* one for the query that paraphrases it), error lines with
identifier slots, root causes and remediation commands. Slots look like `{pod}` and
are filled by bench.generate with realistic identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """One way a system fails, and what fixes it."""

    system: str
    name: str
    symptoms: tuple[str, ...]  # how an alert or an agent describes it
    errors: tuple[str, ...]  # log / event lines with slots
    causes: tuple[str, ...]
    fixes: tuple[str, ...]  # remediation, commands kept


M = Mode

MODES: tuple[Mode, ...] = (
    # ---------------------------------------------------------------- kubernetes
    M(
        "k8s",
        "crashloop",
        (
            "pod {pod} in {ns} is in CrashLoopBackOff",
            "container {container} keeps restarting ({n} restarts in 10m)",
            "{svc} pods restart repeatedly after the {ver} rollout",
            "back-off restarting failed container {container} in pod {pod}",
        ),
        (
            "Back-off restarting failed container {container} in pod {pod}_{ns}",
            "Error: exit code 137 (OOMKilled) in {pod}",
            "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV] in {svc}",
            'liveness probe failed: Get "http://{ip}:{port}/healthz": context deadline exceeded',
        ),
        (
            "the new image reads config key {key} that is missing from ConfigMap {svc}-config",
            "memory limit {mem}Mi is below the working set after the {ver} upgrade",
            "liveness probe timeout of 1s is shorter than cold start on a throttled node",
            "a required secret {svc}-db-credentials was rotated and the old one deleted",
        ),
        (
            "kubectl -n {ns} rollout undo deployment/{svc}",
            "kubectl -n {ns} set resources deployment/{svc} --limits=memory={mem2}Mi",
            'kubectl -n {ns} patch deployment {svc} -p \'{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"{container}","livenessProbe":{{"initialDelaySeconds":30,"timeoutSeconds":5}}}}]}}}}}}}}\'',
            "kubectl -n {ns} create configmap {svc}-config --from-file=config.yaml --dry-run=client -o yaml | kubectl apply -f - && kubectl -n {ns} rollout restart deployment/{svc}",
        ),
    ),
    M(
        "k8s",
        "pending",
        (
            "pods of {svc} stuck in Pending",
            "{n} pods unschedulable in namespace {ns}",
            "new replicas of {svc} never get scheduled",
            "deployment {svc} has {n} unavailable replicas",
        ),
        (
            "0/{n} nodes are available: {n} Insufficient cpu, {n} node(s) had untolerated taint {{node.kubernetes.io/disk-pressure}}",
            "pod has unbound immediate PersistentVolumeClaims (data-{pod})",
            "FailedScheduling: 0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector",
        ),
        (
            "cluster autoscaler hit the node group max size of {n}",
            "PVC in zone {zone} cannot bind to a volume in another zone",
            "requests of {cpu}m cpu per pod exceed the allocatable cpu of the small node pool",
            "nodes tainted after disk pressure and never untainted",
        ),
        (
            "raise the max size of node group {svc}-pool to {n2} and let the autoscaler add nodes",
            "kubectl -n {ns} patch pvc data-{pod} to use storageClassName gp3-{zone} (WaitForFirstConsumer)",
            "kubectl -n {ns} set resources deployment/{svc} --requests=cpu={cpu2}m",
            "kubectl taint nodes {node} node.kubernetes.io/disk-pressure- after freeing space with crictl rmi --prune",
        ),
    ),
    M(
        "k8s",
        "imagepull",
        (
            "{svc} pods fail with ImagePullBackOff",
            "cannot pull image for {svc} {ver}",
            "rollout of {svc} stalled: image pull errors",
        ),
        (
            'Failed to pull image "{registry}/{svc}:{ver}": rpc error: code = Unknown desc = manifest unknown',
            "ErrImagePull: pull access denied for {registry}/{svc}, repository does not exist or may require authorization",
            "toomanyrequests: You have reached your pull rate limit",
        ),
        (
            "the CI pipeline pushed tag {ver} to the staging registry only",
            "imagePullSecret regcred in {ns} expired",
            "Docker Hub rate limit for anonymous pulls from the NAT gateway {ip}",
        ),
        (
            "kubectl -n {ns} create secret docker-registry regcred --docker-server={registry} ... && kubectl -n {ns} rollout restart deploy/{svc}",
            "crane copy staging.{registry}/{svc}:{ver} {registry}/{svc}:{ver}",
            "mirror the base images into {registry} and point the deployment at the mirror",
        ),
    ),
    M(
        "k8s",
        "node-notready",
        (
            "node {node} is NotReady",
            "kubelet on {node} stopped posting status",
            "{n} pods evicted from {node}",
        ),
        (
            "Kubelet stopped posting node status. Node {node} status is now: NodeNotReady",
            "PLEG is not healthy: pleg was last seen active 3m{n}s ago; threshold is 3m0s",
            "containerd: failed to create shim task: OCI runtime create failed: runc create failed",
        ),
        (
            "containerd hung after the kernel {kver} update",
            "the node ran out of PIDs (pid_max {n3})",
            "the root disk of {node} filled with container logs",
        ),
        (
            "kubectl drain {node} --ignore-daemonsets --delete-emptydir-data && systemctl restart containerd kubelet && kubectl uncordon {node}",
            "set podPidsLimit: 4096 in the kubelet config and reboot {node}",
            "journalctl --vacuum-size=500M; configure containerLogMaxSize=50Mi on {node}",
        ),
    ),
    M(
        "k8s",
        "hpa",
        (
            "HPA for {svc} is not scaling",
            "{svc} stays at min replicas under load",
            "autoscaler for {svc} reports unknown metrics",
        ),
        (
            "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
            "failed to get cpu utilization: missing request for cpu in container {container} of Pod {pod}",
            "the HPA was unable to compute the replica count: unable to fetch metrics from custom metrics API",
        ),
        (
            "metrics-server crashlooped after a certificate rotation",
            "the sidecar has no cpu request, so utilisation is undefined",
            "prometheus-adapter lost its rule for http_requests_per_second",
        ),
        (
            "kubectl -n kube-system rollout restart deployment/metrics-server (add --kubelet-insecure-tls only in dev)",
            "add resources.requests.cpu: 50m to the {container} sidecar of {svc}",
            "restore the prometheus-adapter rule and kubectl get --raw /apis/custom.metrics.k8s.io/v1beta1",
        ),
    ),
    # ---------------------------------------------------------------- postgres
    M(
        "postgres",
        "connections",
        (
            "{svc} cannot get a database connection",
            "postgres {dbhost} is out of connections",
            "connection pool exhausted for {db}",
            "requests to {svc} time out waiting for the db",
        ),
        (
            "FATAL: sorry, too many clients already (max_connections={n3})",
            "FATAL: remaining connection slots are reserved for non-replication superuser connections",
            "HikariPool-1 - Connection is not available, request timed out after 30000ms",
            'psycopg.OperationalError: connection to server at "{ip}", port 5432 failed: timeout expired',
        ),
        (
            "{n} replicas of {svc} each open a pool of {n2} connections",
            "idle-in-transaction sessions from {svc} hold slots for hours",
            "pgbouncer was bypassed after a config change pointed {svc} at port 5432",
        ),
        (
            "route {svc} through pgbouncer (pool_mode=transaction, default_pool_size={n2})",
            "ALTER SYSTEM SET idle_in_transaction_session_timeout = '60s'; SELECT pg_reload_conf();",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction' AND xact_start < now() - interval '10 min';",
            "lower the pool max of {svc} from {n2} to 10 and raise max_connections to {n3} with a restart in the maintenance window",
        ),
    ),
    M(
        "postgres",
        "replication-lag",
        (
            "replica {dbhost} lags behind the primary",
            "replication lag on {db} above {n} seconds",
            "read replica serves stale data",
            "standby {dbhost} falls behind the primary",
        ),
        (
            "replication lag {n}s on {dbhost} (pg_last_xact_replay_timestamp)",
            "canceling statement due to conflict with recovery DETAIL: User query might have needed to see row versions that must be removed.",
            "requested WAL segment 0000000100000{n}000000{n2} has already been removed",
        ),
        (
            "a long-running analytics query on the replica blocks WAL replay",
            "the replica's disk throughput is capped at {n3} IOPS",
            "wal_keep_size too small for the nightly batch of {svc}",
        ),
        (
            "set max_standby_streaming_delay = 30s and move analytics to a dedicated replica",
            "ALTER SYSTEM SET wal_keep_size = '{n2}GB'; use a physical replication slot for {dbhost}",
            "pg_basebackup -h {ip} -D /var/lib/postgresql/{pgver}/main -X stream -R to rebuild the replica",
        ),
    ),
    M(
        "postgres",
        "locks",
        (
            "queries on {table} hang",
            "migration of {svc} blocked on a lock",
            "{db} has many waiting sessions",
            "deadlocks reported on {table}",
        ),
        (
            "ERROR: deadlock detected DETAIL: Process {n3} waits for ShareLock on transaction {n4}",
            "ERROR: canceling statement due to lock timeout",
            "LOG: process {n3} still waiting for AccessExclusiveLock on relation {table}",
        ),
        (
            "ALTER TABLE {table} ADD COLUMN with a default waited behind a long transaction",
            "two workers of {svc} update rows of {table} in opposite orders",
            "an autovacuum to prevent wraparound on {table}",
        ),
        (
            "SET lock_timeout = '5s' before DDL and retry the migration of {svc}",
            "sort the ids before UPDATE ... WHERE id = ANY(...) in {svc}",
            "SELECT pid, query FROM pg_stat_activity WHERE wait_event_type = 'Lock'; then pg_cancel_backend on the blocker",
        ),
    ),
    M(
        "postgres",
        "disk-bloat",
        (
            "{db} disk usage growing fast",
            "table {table} is bloated",
            "postgres volume {path} almost full",
        ),
        (
            'could not extend file "base/{n3}/{n4}": No space left on device',
            'WARNING: database "{db}" must be vacuumed within {n4} transactions',
            "autovacuum: found {n4} removable, {n4} nonremovable row versions in {table}",
        ),
        (
            "an abandoned replication slot retains WAL",
            "autovacuum cannot keep up with updates on {table}",
            "a forgotten prepared transaction pins xmin",
        ),
        (
            "SELECT pg_drop_replication_slot('{slot}'); after confirming the consumer is gone",
            "ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.01); VACUUM (VERBOSE, ANALYZE) {table};",
            "pg_repack -t {table} -d {db} in the off-peak window",
            "ROLLBACK PREPARED '{slot}';",
        ),
    ),
    M(
        "postgres",
        "slow-query",
        ("p99 latency of {svc} jumped after deploy", "slow queries on {table}", "{db} cpu at 100%"),
        (
            "duration: {n4} ms  statement: SELECT * FROM {table} WHERE customer_id = $1 ORDER BY created_at DESC",
            "Seq Scan on {table} (cost=0.00..{n4}.00 rows={n4})",
            "pg_stat_statements: mean_exec_time {n4} ms for the top query",
        ),
        (
            "the planner switched to a seq scan after statistics went stale",
            "a missing index on {table}(customer_id, created_at)",
            "an ORM change in {ver} turned one query into N+1 queries",
        ),
        (
            "CREATE INDEX CONCURRENTLY idx_{table}_cust_created ON {table} (customer_id, created_at DESC);",
            "ANALYZE {table}; and raise default_statistics_target to 500 for the skewed column",
            "revert {svc} to {ver0} and batch the lookups with a single IN query",
        ),
    ),
    # ---------------------------------------------------------------- mysql
    M(
        "mysql",
        "replication",
        (
            "MySQL replica {dbhost} stopped replicating",
            "Seconds_Behind_Source keeps growing on {dbhost}",
            "binlog replication broken for {db}",
        ),
        (
            "Last_SQL_Error: Could not execute Write_rows event on table {db}.{table}; Duplicate entry '{n4}' for key 'PRIMARY'",
            "Got fatal error 1236 from source when reading data from binary log: 'Could not find first log file name in binary log index file'",
            "Slave_SQL_Running: No",
        ),
        (
            "a manual write on the replica created a conflicting row",
            "binlog_expire_logs_seconds purged logs the replica still needed",
            "a large ALTER on the primary replayed single-threaded",
        ),
        (
            "STOP REPLICA; SET GLOBAL sql_replica_skip_counter = 1; START REPLICA; then pt-table-checksum on {db}",
            "rebuild {dbhost} from a fresh xtrabackup of the primary and set super_read_only=ON",
            "SET GLOBAL replica_parallel_workers = 8; replica_parallel_type = LOGICAL_CLOCK",
        ),
    ),
    M(
        "mysql",
        "deadlock",
        (
            "deadlocks in {db}",
            "{svc} sees lock wait timeouts",
            "writes to {table} fail intermittently",
        ),
        (
            "ERROR 1213 (40001): Deadlock found when trying to get lock; try restarting transaction",
            "ERROR 1205 (HY000): Lock wait timeout exceeded; try restarting transaction",
        ),
        (
            "gap locks from a range UPDATE on {table} under REPEATABLE READ",
            "a batch job of {svc} holds a transaction open for minutes",
        ),
        (
            "switch the session to READ COMMITTED for the batch and retry on 1213 with backoff",
            "commit every {n2} rows in the batch job of {svc}; SHOW ENGINE INNODB STATUS to confirm",
        ),
    ),
    # ---------------------------------------------------------------- kafka
    M(
        "kafka",
        "consumer-lag",
        (
            "consumer group {group} lags on {topic}",
            "{svc} is falling behind on {topic}",
            "kafka lag alert for {group}",
            "messages on {topic} processed minutes late",
        ),
        (
            "consumer group {group} lag {n4} on {topic} partition {n}",
            "Member consumer-{group}-{n} sending LeaveGroup request to coordinator due to consumer poll timeout has expired",
            "CommitFailedException: Commit cannot be completed since the group has already rebalanced",
        ),
        (
            "processing one batch takes longer than max.poll.interval.ms so the group keeps rebalancing",
            "{topic} has {n} partitions but {group} runs {n2} consumers",
            "a poison message on partition {n} is retried forever",
        ),
        (
            "set max.poll.records=100 and max.poll.interval.ms=600000 for {group}",
            "kafka-topics.sh --bootstrap-server {host}:9092 --alter --topic {topic} --partitions {n2}",
            "kafka-consumer-groups.sh --bootstrap-server {host}:9092 --group {group} --reset-offsets --topic {topic}:{n} --shift-by 1 --execute, and route failures to {topic}.dlq",
        ),
    ),
    M(
        "kafka",
        "isr",
        (
            "under-replicated partitions on {topic}",
            "kafka broker {n} out of ISR",
            "producers to {topic} get NotEnoughReplicas",
        ),
        (
            "NotEnoughReplicasException: The size of the current ISR Set(1) is insufficient to satisfy the min.isr requirement of 2 for partition {topic}-{n}",
            "[ReplicaFetcher replicaId={n}, leaderId={n2}] Error in response for fetch request: java.io.IOException: Connection to {n2} was disconnected",
        ),
        (
            "broker {n} disk {path} is saturated",
            "a network partition between zones {zone} and {zone2}",
            "broker {n} GC pauses of several seconds",
        ),
        (
            "kafka-reassign-partitions.sh --bootstrap-server {host}:9092 --reassignment-json-file move-{topic}.json --execute",
            "replace the disk of broker {n} and let it catch up; check kafka-topics.sh --describe --under-replicated-partitions",
            "raise the broker heap to {mem2}m and switch to G1 with MaxGCPauseMillis=20",
        ),
    ),
    # ---------------------------------------------------------------- redis
    M(
        "redis",
        "memory",
        (
            "redis {host} evicting keys",
            "redis memory full on {host}",
            "cache hit rate of {svc} dropped",
        ),
        (
            "OOM command not allowed when used memory > 'maxmemory'",
            "used_memory_human:{n2}.{n}G maxmemory_human:{n2}.00G",
            "evicted_keys:{n4} in INFO stats",
        ),
        (
            "keys written by {svc} have no TTL",
            "a big hash session:{n4} grew to {n2}GB",
            "maxmemory-policy is noeviction",
        ),
        (
            "redis-cli -h {host} CONFIG SET maxmemory-policy allkeys-lru",
            "add EXPIRE 86400 to the session writes of {svc}",
            "redis-cli --bigkeys -h {host}; then UNLINK the oversized key and split it by user",
        ),
    ),
    M(
        "redis",
        "latency",
        (
            "redis calls from {svc} are slow",
            "redis {host} latency spikes",
            "timeouts talking to redis",
        ),
        (
            "redis.exceptions.TimeoutError: Timeout reading from {ip}:6379",
            "Background saving started by pid {n3}; fork took {n4} ms",
            "slowlog: KEYS session:* took {n4} microseconds",
        ),
        (
            "a KEYS * call from an admin script blocks the event loop",
            "fork for BGSAVE on a {n2}GB dataset with transparent huge pages on",
            "the client pool of {svc} opens a new connection per request",
        ),
        (
            "replace KEYS with SCAN 0 MATCH session:* COUNT 1000 in the admin script",
            "echo never > /sys/kernel/mm/transparent_hugepage/enabled and move BGSAVE to the replica",
            "reuse a single ConnectionPool(max_connections=50) in {svc}",
        ),
    ),
    # ---------------------------------------------------------------- nginx / envoy / ingress
    M(
        "nginx",
        "502",
        (
            "{svc} returns 502 Bad Gateway",
            "ingress shows 502s for {domain}",
            "spike of 5xx at the edge for {domain}",
        ),
        (
            'upstream prematurely closed connection while reading response header from upstream, upstream: "http://{ip}:{port}/api"',
            "connect() failed (111: Connection refused) while connecting to upstream, client: {ip2}, server: {domain}",
            "upstream timed out (110: Connection timed out) while reading response header from upstream",
        ),
        (
            "upstream keepalive timeout of {svc} is shorter than nginx's",
            "pods of {svc} receive traffic before they are ready",
            "proxy_read_timeout of 60s is below the report endpoint's runtime",
        ),
        (
            "set keepalive_timeout 75s in {svc} (above nginx's upstream keepalive of 60s)",
            "add a readinessProbe on /ready and preStop: sleep 10 to {svc}",
            'nginx.ingress.kubernetes.io/proxy-read-timeout: "300" on the ingress of {domain}',
        ),
    ),
    M(
        "nginx",
        "413-headers",
        (
            "uploads to {domain} fail",
            "large requests rejected by nginx",
            "clients get 400 Request Header Or Cookie Too Large",
        ),
        (
            "client intended to send too large body: {n4} bytes",
            "upstream sent too big header while reading response header from upstream",
        ),
        ("client_max_body_size defaults to 1m", "the auth cookie of {svc} grew past 8k"),
        (
            "client_max_body_size 50m; in the server block of {domain} and nginx -s reload",
            "large_client_header_buffers 4 32k; proxy_buffer_size 16k; and nginx -t && nginx -s reload",
        ),
    ),
    M(
        "envoy",
        "upstream-reset",
        (
            "envoy sidecar of {svc} returns 503 UC",
            "istio 503s between {svc} and {svc2}",
            "mesh traffic to {svc2} fails",
        ),
        (
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            "response_flags: UF,URX upstream_cluster: outbound|{port}||{svc2}.{ns}.svc.cluster.local",
            "no healthy upstream",
        ),
        (
            "the app closes idle connections after 5s while envoy keeps them for 1h",
            "outlier detection ejected every host of {svc2}",
            "mTLS mode STRICT on {svc2} while {svc} has no sidecar",
        ),
        (
            "DestinationRule for {svc2}: connectionPool.http.idleTimeout: 4s",
            "relax outlierDetection (consecutive5xxErrors: 10, maxEjectionPercent: 50) for {svc2}",
            "kubectl label namespace {ns} istio-injection=enabled && kubectl -n {ns} rollout restart deploy/{svc}",
        ),
    ),
    # ---------------------------------------------------------------- dns / tls / network
    M(
        "dns",
        "resolution",
        (
            "DNS lookups fail intermittently in {ns}",
            "{svc} cannot resolve {svc2}",
            "coredns errors cluster-wide",
        ),
        (
            "dial tcp: lookup {svc2}.{ns}.svc.cluster.local on 10.96.0.10:53: i/o timeout",
            "getaddrinfo EAI_AGAIN {domain}",
            "[ERROR] plugin/errors: 2 {domain}. A: read udp {ip}:{port}->{ip2}:53: i/o timeout",
        ),
        (
            "conntrack races on UDP port 53 drop parallel A and AAAA lookups",
            "ndots:5 makes every external lookup try {n} search domains",
            "coredns has {n} replicas for {n3} pods",
        ),
        (
            "deploy NodeLocal DNSCache and set single-request-reopen in dnsConfig.options",
            'dnsConfig: options: [{{name: ndots, value: "2"}}] for {svc}',
            "kubectl -n kube-system scale deployment coredns --replicas={n2}",
        ),
    ),
    M(
        "tls",
        "expired",
        (
            "certificate for {domain} expired",
            "TLS handshake failures to {domain}",
            "clients reject the certificate of {svc}",
        ),
        (
            "x509: certificate has expired or is not yet valid: current time {date} is after {date2}",
            "SSL routines:ssl3_read_bytes:sslv3 alert certificate expired",
            "x509: certificate signed by unknown authority",
        ),
        (
            "cert-manager failed the ACME HTTP-01 challenge because the ingress class changed",
            "the intermediate CA was not bundled after renewal",
            "the truststore in the {svc} image predates the new root",
        ),
        (
            "kubectl -n {ns} delete certificaterequest {domain}-{hash5} && cmctl renew {domain}-tls -n {ns}",
            "serve fullchain.pem instead of cert.pem: ssl_certificate /etc/nginx/tls/fullchain.pem;",
            "rebuild {svc} on a base image with current ca-certificates and roll out {ver}",
        ),
    ),
    M(
        "network",
        "conntrack",
        (
            "packet drops on {node}",
            "connections from {svc} reset under load",
            "random timeouts on {node}",
        ),
        (
            "nf_conntrack: nf_conntrack: table full, dropping packet",
            "kernel: TCP: request_sock_TCP: Possible SYN flooding on port {port}",
            "dial tcp {ip}:{port}: connect: cannot assign requested address",
        ),
        (
            "the conntrack table ({n4} entries) is too small for the connection churn of {svc}",
            "ephemeral ports exhausted by short-lived connections",
            "somaxconn of 128 on {node}",
        ),
        (
            "sysctl -w net.netfilter.nf_conntrack_max=1048576 on {node} and persist in /etc/sysctl.d/90-conntrack.conf",
            'enable HTTP keep-alive in the client of {svc}; sysctl -w net.ipv4.ip_local_port_range="10240 65535"',
            "sysctl -w net.core.somaxconn=4096 and listen backlog 4096 in {svc}",
        ),
    ),
    # ---------------------------------------------------------------- disks / hosts
    M(
        "disk",
        "full",
        ("disk full on {node}", "{path} at {pct}% on {host}", "writes fail with no space left"),
        (
            "write {path}/data.log: no space left on device",
            "df: {path} {pct}% used",
            "kubelet: eviction manager: attempting to reclaim ephemeral-storage",
        ),
        (
            "log rotation for {svc} stopped after logrotate's config was overwritten",
            "core dumps accumulate in /var/crash",
            "docker images of old releases were never pruned",
        ),
        (
            "logrotate -f /etc/logrotate.d/{svc}; add maxsize 500M and rotate 7",
            "rm -f /var/crash/*.crash and set kernel.core_pattern=|/bin/false on {host}",
            "crictl rmi --prune on {node}; set imageGCHighThresholdPercent=80",
        ),
    ),
    M(
        "disk",
        "inodes",
        ("cannot create files on {host} though df shows space", "inode exhaustion on {path}"),
        (
            "open {path}/tmp/sess_{hash8}: no space left on device (inodes 100%)",
            "df -i: {path} IUse% 100%",
        ),
        (
            "millions of session files from {svc} in {path}/tmp",
            "a cache directory of {svc} with one file per key",
        ),
        (
            "find {path}/tmp -name 'sess_*' -mmin +1440 -delete and move sessions to redis",
            "mkfs.xfs the volume (dynamic inodes) during the next maintenance window",
        ),
    ),
    M(
        "disk",
        "io",
        ("high iowait on {host}", "slow disk on {node}", "EBS volume {vol} throttled"),
        (
            "iostat: await {n4} ms, %util 100 on nvme1n1",
            "INFO: task jbd2/{dev}:{n3} blocked for more than 120 seconds",
            "VolumeQueueLength above {n2} for {vol}",
        ),
        (
            "gp2 burst credits of {vol} exhausted",
            "a backup job of {svc} reads the whole volume at noon",
        ),
        (
            "aws ec2 modify-volume --volume-id {vol} --volume-type gp3 --iops 6000 --throughput 250",
            "ionice -c3 the backup job of {svc} and move it to 03:00",
        ),
    ),
    # ---------------------------------------------------------------- jvm / go / python services
    M(
        "jvm",
        "heap",
        (
            "{svc} OutOfMemoryError",
            "java heap exhausted in {svc}",
            "{svc} spends most time in GC",
            "JVM of {svc} killed after long GC pauses",
        ),
        (
            "java.lang.OutOfMemoryError: Java heap space",
            "java.lang.OutOfMemoryError: GC overhead limit exceeded",
            "[gc] Pause Full (Allocation Failure) {n2}G->{n2}G({n2}G) {n4}.{n3}ms",
            "java.lang.OutOfMemoryError: Metaspace",
        ),
        (
            "an unbounded Caffeine cache in {svc} grows with every tenant",
            "-Xmx equals the container limit, leaving nothing for metaspace and threads",
            "a report endpoint loads {n4} rows into memory",
            "classloader leak on every hot redeploy",
        ),
        (
            "set -XX:MaxRAMPercentage=75 instead of -Xmx and restart {svc}",
            "bound the cache: Caffeine.newBuilder().maximumSize(100_000)",
            "jcmd {n3} GC.heap_dump /tmp/{svc}.hprof, then stream the report with fetchSize=1000",
            "set -XX:MaxMetaspaceSize=512m and stop hot redeploys in {env}",
        ),
    ),
    M(
        "jvm",
        "threads",
        (
            "{svc} stops responding but is not down",
            "request threads exhausted in {svc}",
            "thread pool saturation in {svc}",
        ),
        (
            "java.util.concurrent.RejectedExecutionException: Task rejected from ThreadPoolExecutor[Running, pool size = {n2}, active threads = {n2}]",
            '"http-nio-{port}-exec-{n}" waiting on condition: jstack shows {n3} threads BLOCKED',
            "java.lang.OutOfMemoryError: unable to create native thread",
        ),
        (
            "calls to {svc2} have no timeout, so threads wait forever",
            "a synchronized block around the token refresh of {svc}",
        ),
        (
            "set connectTimeout=2s and readTimeout=5s on the {svc2} client and add a circuit breaker",
            "replace the synchronized refresh with a single-flight async refresh in {svc}; jstack {n3} to verify",
        ),
    ),
    M(
        "go",
        "goroutines",
        (
            "memory of {svc} grows until OOMKilled",
            "goroutine leak in {svc}",
            "{svc} latency climbs over days",
        ),
        (
            "runtime: goroutine count {n4}",
            "fatal error: runtime: out of memory",
            "pprof: {n4} goroutines in net/http.(*persistConn).readLoop",
        ),
        (
            "response bodies of calls to {svc2} are never closed",
            "a ticker in {svc} is created per request and never stopped",
            "context without a deadline in the {svc2} client",
        ),
        (
            "defer resp.Body.Close() after every http.Get in {svc}; confirm with go tool pprof http://{ip}:{port}/debug/pprof/goroutine",
            "stop the ticker (defer t.Stop()) and release {ver}",
            "wrap calls with context.WithTimeout(ctx, 3*time.Second)",
        ),
    ),
    M(
        "python",
        "workers",
        (
            "gunicorn workers of {svc} time out",
            "{svc} returns 504 under load",
            "celery queue {topic} backs up",
        ),
        (
            "[CRITICAL] WORKER TIMEOUT (pid:{n3})",
            "celery.exceptions.SoftTimeLimitExceeded in task {svc}.tasks.sync",
            "kombu.exceptions.OperationalError: [Errno 111] Connection refused",
        ),
        (
            "sync workers block on calls to {svc2} with no timeout",
            "a CPU-bound task starves the prefetching celery workers",
            "the broker URL still points at the old rabbitmq {host}",
        ),
        (
            "run gunicorn with -k gthread --threads 8 --timeout 60 and set requests timeout=(3, 10) for {svc2}",
            "celery -A {svc} worker -Q {topic} --prefetch-multiplier=1 -O fair",
            "update CELERY_BROKER_URL to amqp://{host}:5672 and restart the workers",
        ),
    ),
    # ---------------------------------------------------------------- messaging, storage, observability
    M(
        "rabbitmq",
        "queue",
        (
            "rabbitmq queue {topic} growing",
            "messages stuck in {topic}",
            "rabbitmq memory alarm on {host}",
        ),
        (
            "memory resource limit alarm set on node rabbit@{host}",
            "queue {topic} has {n4} ready messages and 0 consumers",
            "connection.blocked: low on memory",
        ),
        (
            "consumers of {svc} crashed on a malformed message",
            "publishers of {svc} outpace consumers during the batch",
        ),
        (
            "rabbitmqctl list_queues name messages consumers | grep {topic}; restart consumers and move bad messages to {topic}.dlx",
            "set vm_memory_high_watermark.relative = 0.6 and a max-length policy on {topic}",
        ),
    ),
    M(
        "elasticsearch",
        "cluster-red",
        ("elasticsearch cluster is red", "unassigned shards in {index}", "search on {index} fails"),
        (
            "cluster health status changed from [YELLOW] to [RED]",
            "flood stage disk watermark [95%] exceeded on [{node}]",
            "index [{index}] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)]",
        ),
        (
            "a data node's disk passed the flood-stage watermark",
            "replicas of {index} cannot be allocated after node {node} left",
        ),
        (
            "curl -XPUT {host}:9200/{index}/_settings -d '{{\"index.blocks.read_only_allow_delete\": null}}' after freeing disk",
            "curl {host}:9200/_cluster/allocation/explain?pretty and POST _cluster/reroute?retry_failed=true",
        ),
    ),
    M(
        "prometheus",
        "cardinality",
        ("prometheus memory high", "too many series in prometheus", "scrapes of {svc} slow"),
        (
            "head series {n4}, samples appended {n4}/s",
            "scrape of http://{ip}:{port}/metrics exceeded sample_limit",
            "context deadline exceeded on target {svc}",
        ),
        ("{svc} exports a metric labelled with user_id", "a histogram with {n2} buckets per route"),
        (
            "metric_relabel_configs: drop label user_id for job {svc}",
            'topk(10, count by (__name__)({{__name__=~".+"}})) to find the culprit, then fix {svc} {ver}',
        ),
    ),
    M(
        "s3",
        "access",
        (
            "{svc} cannot read from bucket {bucket}",
            "uploads to s3 fail",
            "AccessDenied from s3 for {svc}",
        ),
        (
            "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied",
            "SlowDown: Please reduce your request rate.",
            "ExpiredToken: The provided token has expired",
        ),
        (
            "the IRSA role of {svc} lost s3:PutObject after a policy refactor",
            "all keys of {bucket} share one prefix",
            "the web identity token file is not refreshed by an old SDK",
        ),
        (
            "add s3:PutObject on arn:aws:s3:::{bucket}/* to role {svc}-irsa",
            "prefix keys with a hash shard ({hash5}/...) in {svc}",
            "upgrade the AWS SDK of {svc} to {ver}",
        ),
    ),
    M(
        "ci",
        "deploy",
        ("deploy of {svc} failed", "helm upgrade of {svc} stuck", "argo sync of {svc} degraded"),
        (
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
            "ComparisonError: rpc error: code = Unknown desc = helm template . failed",
            "Error: timed out waiting for the condition",
        ),
        (
            "a previous helm release of {svc} is stuck in pending-upgrade",
            "values file references a removed chart key",
        ),
        (
            "helm -n {ns} rollback {svc} {n} && helm -n {ns} upgrade {svc} ./chart --atomic --timeout 10m",
            "fix values-{env}.yaml and argocd app sync {svc} --prune",
        ),
    ),
    M(
        "cron",
        "jobs",
        ("nightly job {svc} did not run", "cronjob {svc} missed schedules", "backup job failed"),
        (
            "Cannot determine if job needs to be started: too many missed start time (> 100)",
            "Job {svc}-{n4} has reached the specified backoff limit",
            "pg_dump: error: connection to server failed",
        ),
        (
            "startingDeadlineSeconds unset while the controller was down",
            "the backup credentials secret was rotated",
        ),
        (
            "set startingDeadlineSeconds: 300 and concurrencyPolicy: Forbid on cronjob {svc}",
            "kubectl -n {ns} create job --from=cronjob/{svc} {svc}-manual and update the secret",
        ),
    ),
)

SYSTEM_WORDS = {
    "k8s": ("Kubernetes", "k8s", "the cluster"),
    "postgres": ("Postgres", "PostgreSQL", "the database"),
    "mysql": ("MySQL", "the MySQL cluster"),
    "kafka": ("Kafka", "the event bus"),
    "redis": ("Redis", "the cache"),
    "nginx": ("nginx", "the ingress", "the edge proxy"),
    "envoy": ("Envoy", "Istio", "the service mesh"),
    "dns": ("DNS", "CoreDNS"),
    "tls": ("TLS", "cert-manager"),
    "network": ("network", "the node network"),
    "disk": ("disk", "storage"),
    "jvm": ("JVM", "Java service"),
    "go": ("Go service", "Go runtime"),
    "python": ("Python service", "gunicorn", "celery"),
    "rabbitmq": ("RabbitMQ", "the broker"),
    "elasticsearch": ("Elasticsearch", "the search cluster"),
    "prometheus": ("Prometheus", "monitoring"),
    "s3": ("S3", "object storage"),
    "ci": ("CI/CD", "the deploy pipeline"),
    "cron": ("CronJob", "batch jobs"),
}

SERVICE_HEADS = (
    "checkout", "payments", "orders", "cart", "search", "catalog", "inventory", "shipping", "billing",
    "auth", "identity", "notifications", "email", "recommendations", "pricing", "ledger", "fraud",
    "reporting", "analytics", "ingest", "gateway", "profile", "media", "uploads", "webhooks", "quotes",
    "loyalty", "tax", "invoices", "sessions", "geo", "feeds", "audit", "export", "scheduler",
)  # fmt: skip
SERVICE_TAILS = (
    "api",
    "worker",
    "svc",
    "consumer",
    "service",
    "backend",
    "processor",
    "sync",
    "web",
    "grpc",
)
NAMESPACES = (
    "prod",
    "production",
    "staging",
    "payments",
    "platform",
    "data",
    "edge",
    "core",
    "jobs",
    "default",
)
ENVS = ("prod", "staging", "eu-prod", "us-prod", "canary")
ZONES = (
    "us-east-1a",
    "us-east-1b",
    "us-east-1c",
    "eu-west-1a",
    "eu-west-1b",
    "europe-west4-a",
    "ap-south-1a",
)
TABLES = ("orders", "order_items", "payments", "users", "sessions", "events", "invoices", "line_items",
          "audit_log", "shipments", "carts", "products", "accounts", "ledger_entries", "notifications")  # fmt: skip
TOPICS = ("orders.created", "payments.events", "user-signups", "clickstream", "inventory.updates",
          "email.outbound", "audit", "shipments.v2", "cdc.public.orders", "metrics.raw")  # fmt: skip
DOMAINS = ("api.shop.example.com", "checkout.example.io", "app.example.net", "status.example.org",
           "grpc.internal.example.com", "cdn.example.com", "admin.example.io")  # fmt: skip
REGISTRIES = ("registry.example.com", "ghcr.io/example", "123456789012.dkr.ecr.us-east-1.amazonaws.com",
              "europe-docker.pkg.dev/example/apps")  # fmt: skip
PATHS = (
    "/var/lib/postgresql",
    "/var/log",
    "/data",
    "/var/lib/docker",
    "/mnt/disks/ssd0",
    "/srv",
    "/var/lib/kafka",
)
CONTAINERS = ("app", "server", "main", "worker", "istio-proxy", "migrate", "sidecar")
AGENTS = (
    "k8s-healer", "db-sentinel", "netops-bot", "oncall-assistant", "sre-copilot", "log-triage",
    "cert-watcher", "queue-doctor", "capacity-agent", "deploy-guard", "jvm-medic", "edge-fixer",
)  # fmt: skip
SEVERITIES = ("critical", "high", "warning", "info")

# Lead-ins and connectives: the same fact said in different registers.
ISSUE_LEADS = (
    "",
    "",
    "Alert: ",
    "[{sev}] ",
    "{System}: ",
    "Incident in {env}: ",
    "PagerDuty: ",
    "{svc}: ",
)
QUERY_LEADS = ("", "", "seeing ", "help: ", "why is ", "getting ", "{System} issue - ", "on-call: ")
CAUSE_LEADS = (
    "Root cause: ",
    "Cause: ",
    "It turned out ",
    "Found that ",
    "The problem was that ",
    "",
)
FIX_LEADS = ("Fix: ", "Resolved by: ", "Applied: ", "Mitigation: ", "Remediation: ", "")
OUTCOMES = (
    "Error rate back to baseline within {n} minutes.", "Verified: alert cleared after {n} minutes.",
    "Confirmed healthy on the dashboard.", "Latency p99 back under {n2}0 ms.", "No recurrence in 24h.",
    "Follow-up ticket OPS-{n4} opened to make it permanent.", "", "",
)  # fmt: skip
