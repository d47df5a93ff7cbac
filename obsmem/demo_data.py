"""The demo set: incidents an SRE team would recognise, each with the fix that was applied.

Kept as data (not generated from a template) so the dashboard of a fresh install
shows what real use looks like: several agents, repeat incidents, fixes that
worked and some that did not, agents that went quiet days ago.

`outcomes` is one letter per occurrence, oldest first: S worked, F did not,
? no outcome reported. `days` is how long ago the first occurrence was.
"""

from __future__ import annotations

from typing import Any

# name, server, hours since last heartbeat (some are stale on purpose)
AGENTS: list[tuple[str, str, float]] = [
    ("k8s-sentinel", "ops-eu-west-1a.internal", 0.02),
    ("db-guardian", "ops-eu-west-1b.internal", 0.05),
    ("net-watch", "edge-fra-02.internal", 0.3),
    ("disk-patrol", "ops-us-east-1c.internal", 1.5),
    ("queue-keeper", "ops-eu-west-1a.internal", 0.1),
    ("cert-warden", "ops-eu-west-1b.internal", 30.0),
    ("deploy-bot", "ci-runner-04.internal", 3.0),
    ("oncall-copilot", "laptop-ana.corp", 170.0),
]

INCIDENTS: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- Kubernetes
    {
        "issue": "Pod checkout-api-7d9f8b6c5-x2kqp in CrashLoopBackOff: container exits with code 1, "
        "logs end with 'Error: connect ECONNREFUSED 10.96.14.3:6379'",
        "solution": "Redis service had no endpoints after the redis StatefulSet rollout stalled. "
        "kubectl -n shop get endpoints redis; kubectl -n shop rollout status sts/redis; "
        "deleted the stuck pod redis-1 (kubectl -n shop delete pod redis-1) so the StatefulSet "
        "continued; checkout-api recovered on the next restart. Added a startupProbe with "
        "failureThreshold=30 so the app waits for Redis instead of crash-looping.",
        "service": "checkout-api",
        "namespace": "shop",
        "severity": "high",
        "root_cause": "dependency unavailable",
        "tags": ["kubernetes", "crashloop", "redis"],
        "agents": ["k8s-sentinel", "k8s-sentinel", "oncall-copilot"],
        "days": 27,
        "outcomes": "SSS",
    },
    {
        "issue": "CrashLoopBackOff for payments-worker after deploy v2.14.0: "
        "'KeyError: PAYMENTS_WEBHOOK_SECRET' at startup",
        "solution": "The new release reads a variable that was never added to the Secret. "
        "kubectl -n payments create secret generic payments-worker-env --from-env-file=prod.env "
        "--dry-run=client -o yaml | kubectl apply -f -; kubectl -n payments rollout restart "
        "deploy/payments-worker. Added the key to the Helm chart's required values so the "
        "next deploy fails in CI instead of in the cluster.",
        "service": "payments-worker",
        "namespace": "payments",
        "severity": "critical",
        "root_cause": "missing configuration",
        "tags": ["kubernetes", "crashloop", "secrets"],
        "agents": ["deploy-bot"],
        "days": 22,
        "outcomes": "S",
    },
    {
        "issue": "CrashLoopBackOff for payments-worker after deploy v2.14.0: "
        "'KeyError: PAYMENTS_WEBHOOK_SECRET' at startup",
        "solution": "Rolled back with helm -n payments rollback payments-worker 41 while the "
        "missing secret key was sorted out.",
        "service": "payments-worker",
        "namespace": "payments",
        "severity": "critical",
        "root_cause": "missing configuration",
        "tags": ["kubernetes", "rollback"],
        "agents": ["oncall-copilot"],
        "days": 22,
        "outcomes": "S",
    },
    {
        "issue": "search-indexer container OOMKilled (exit code 137), memory limit 512Mi, "
        "restarts every ~20 minutes during the nightly reindex",
        "solution": "JVM heap was sized from the node, not the cgroup. Set "
        "JAVA_TOOL_OPTIONS='-XX:MaxRAMPercentage=70' and raised the limit to 1Gi "
        "(resources.limits.memory: 1Gi, requests.memory: 768Mi). kubectl top pod confirmed "
        "steady 640Mi through the reindex.",
        "service": "search-indexer",
        "namespace": "search",
        "severity": "high",
        "root_cause": "memory limit too low",
        "tags": ["kubernetes", "oom", "jvm"],
        "agents": ["k8s-sentinel", "k8s-sentinel", "k8s-sentinel"],
        "days": 29,
        "outcomes": "SSS",
    },
    {
        "issue": "image-resizer OOMKilled under load: RSS grows with each request until the "
        "256Mi limit is hit",
        "solution": "Raised the memory limit to 512Mi and restarted the deployment.",
        "service": "image-resizer",
        "namespace": "media",
        "severity": "medium",
        "root_cause": "memory leak",
        "tags": ["kubernetes", "oom"],
        "agents": ["k8s-sentinel", "k8s-sentinel"],
        "days": 18,
        "outcomes": "FF",
    },
    {
        "issue": "image-resizer OOMKilled under load: RSS grows with each request until the "
        "256Mi limit is hit",
        "solution": "Leak in the Pillow path: images were opened without a context manager, so "
        "file handles and decoded buffers piled up. Fixed with 'with Image.open(buf) as img:' "
        "and set MALLOC_ARENA_MAX=2 for glibc fragmentation. Memory flat at 180Mi after 24h.",
        "service": "image-resizer",
        "namespace": "media",
        "severity": "medium",
        "root_cause": "memory leak",
        "tags": ["kubernetes", "oom", "python"],
        "agents": ["oncall-copilot", "k8s-sentinel"],
        "days": 16,
        "outcomes": "SS",
    },
    {
        "issue": "ImagePullBackOff on reporting-api: 'failed to pull image "
        "registry.internal/reporting-api:3.2.1: unauthorized: authentication required'",
        "solution": "The registry robot token in imagePullSecret regcred expired. Rotated it: "
        "kubectl -n reporting create secret docker-registry regcred --docker-server="
        "registry.internal --docker-username=robot$ci --docker-password=<new token> "
        "--dry-run=client -o yaml | kubectl apply -f -; then kubectl -n reporting delete pod "
        "-l app=reporting-api to retry the pull.",
        "service": "reporting-api",
        "namespace": "reporting",
        "severity": "high",
        "root_cause": "expired credentials",
        "tags": ["kubernetes", "registry"],
        "agents": ["deploy-bot", "k8s-sentinel"],
        "days": 12,
        "outcomes": "SS",
    },
    {
        "issue": "ImagePullBackOff: manifest for ghcr.io/acme/notifier:latest not found "
        "(manifest unknown)",
        "solution": "CI pushed only the sha-tagged image; the deployment referenced :latest. "
        "Pinned the image to the immutable digest from the CI run "
        "(image: ghcr.io/acme/notifier@sha256:...) and removed :latest from all manifests.",
        "service": "notifier",
        "namespace": "comms",
        "severity": "medium",
        "root_cause": "bad image reference",
        "tags": ["kubernetes", "registry", "ci"],
        "agents": ["deploy-bot"],
        "days": 9,
        "outcomes": "S",
    },
    {
        "issue": "Node ip-10-0-33-21 NotReady: kubelet reports 'PLEG is not healthy: pleg was "
        "last seen active 3m12s ago', pods stuck Terminating",
        "solution": "containerd was wedged on a hung NFS mount. Cordoned and drained the node "
        "(kubectl cordon ip-10-0-33-21; kubectl drain ip-10-0-33-21 --ignore-daemonsets "
        "--delete-emptydir-data --force), rebooted it through the ASG, uncordoned after "
        "Ready. Mounted NFS with 'soft,timeo=100' to stop it happening again.",
        "service": "kubelet",
        "namespace": "kube-system",
        "severity": "critical",
        "root_cause": "hung storage mount",
        "tags": ["kubernetes", "node", "nfs"],
        "agents": ["k8s-sentinel", "k8s-sentinel"],
        "days": 25,
        "outcomes": "SS",
    },
    {
        "issue": "Node NotReady with DiskPressure=True, kubelet evicting pods: "
        "'the node was low on resource: ephemeral-storage'",
        "solution": "Image cache filled /var/lib/containerd. crictl rmi --prune freed 38G; set "
        "kubelet imageGCHighThresholdPercent=75 and imageGCLowThresholdPercent=60 in the node "
        "group's kubelet config so GC starts before eviction does.",
        "service": "kubelet",
        "namespace": "kube-system",
        "severity": "high",
        "root_cause": "disk full",
        "tags": ["kubernetes", "node", "disk"],
        "agents": ["k8s-sentinel", "disk-patrol", "k8s-sentinel"],
        "days": 20,
        "outcomes": "SS?",
    },
    {
        "issue": "PersistentVolumeClaim data-kafka-2 stuck Pending: 'waiting for first consumer "
        "to be created before binding' then 'no topology key found on CSINode'",
        "solution": "The EBS CSI driver DaemonSet was not scheduled on the new node pool "
        "(missing toleration for the dedicated=kafka taint). Added the toleration to "
        "ebs-csi-node, waited for CSINode to list the driver, the PVC bound within a minute.",
        "service": "kafka",
        "namespace": "streaming",
        "severity": "high",
        "root_cause": "csi driver not scheduled",
        "tags": ["kubernetes", "storage", "pvc"],
        "agents": ["k8s-sentinel"],
        "days": 14,
        "outcomes": "S",
    },
    {
        "issue": "PVC pending: 'storageclass.storage.k8s.io \"gp3-encrypted\" not found' for "
        "postgres-analytics-0",
        "solution": "The StorageClass was renamed in the platform repo. Recreated it "
        "(provisioner ebs.csi.aws.com, type gp3, encrypted: 'true', volumeBindingMode: "
        "WaitForFirstConsumer) and the StatefulSet's PVC bound.",
        "service": "postgres-analytics",
        "namespace": "analytics",
        "severity": "medium",
        "root_cause": "missing storage class",
        "tags": ["kubernetes", "storage", "pvc"],
        "agents": ["k8s-sentinel"],
        "days": 6,
        "outcomes": "S",
    },
    {
        "issue": "HPA for api-gateway flapping between 4 and 19 replicas every few minutes; "
        "p99 latency spikes on each scale-down",
        "solution": "Added behavior.scaleDown.stabilizationWindowSeconds: 300 and a scaleDown "
        "policy of at most 20% per minute; switched the metric from CPU to "
        "requests-per-second via prometheus-adapter since CPU was dominated by TLS handshakes.",
        "service": "api-gateway",
        "namespace": "edge",
        "severity": "medium",
        "root_cause": "autoscaler misconfiguration",
        "tags": ["kubernetes", "hpa", "autoscaling"],
        "agents": ["k8s-sentinel", "oncall-copilot", "k8s-sentinel"],
        "days": 19,
        "outcomes": "FSS",
    },
    {
        "issue": "Deployment rollout of orders-api stuck: 'Waiting for deployment "
        '"orders-api" rollout to finish: 1 old replicas are pending termination\'',
        "solution": "PodDisruptionBudget minAvailable=3 with 3 replicas blocked eviction. Set "
        "the PDB to maxUnavailable: 1 and the rollout finished.",
        "service": "orders-api",
        "namespace": "shop",
        "severity": "low",
        "root_cause": "pdb too strict",
        "tags": ["kubernetes", "rollout", "pdb"],
        "agents": ["deploy-bot"],
        "days": 11,
        "outcomes": "S",
    },
    {
        "issue": "CoreDNS pods CPU throttled, intermittent 'i/o timeout' resolving "
        "kubernetes.default.svc.cluster.local",
        "solution": "Scaled CoreDNS from 2 to 4 replicas, raised its CPU limit to 500m, and "
        "deployed NodeLocal DNSCache so most lookups never leave the node.",
        "service": "coredns",
        "namespace": "kube-system",
        "severity": "high",
        "root_cause": "dns capacity",
        "tags": ["kubernetes", "dns"],
        "agents": ["net-watch", "k8s-sentinel"],
        "days": 17,
        "outcomes": "SS",
    },
    # ---------------------------------------------------------------- Databases
    {
        "issue": "PostgreSQL replica pg-orders-replica-1 replication lag 14 minutes and "
        "growing; pg_stat_replication shows replay_lag climbing",
        "solution": "A long analytics query on the replica held back replay "
        "(max_standby_streaming_delay=-1). Cancelled it with pg_cancel_backend(pid), set "
        "max_standby_streaming_delay=30s and moved analytics to the dedicated reporting "
        "replica. Lag back under 1s within 4 minutes.",
        "service": "pg-orders",
        "namespace": "databases",
        "severity": "high",
        "root_cause": "replica query conflict",
        "tags": ["postgres", "replication"],
        "agents": ["db-guardian", "db-guardian"],
        "days": 28,
        "outcomes": "SS",
    },
    {
        "issue": "MySQL replica Seconds_Behind_Master 3600+, SQL thread applying one huge "
        "transaction (DELETE of 40M rows from audit_log)",
        "solution": "Let the transaction finish rather than skipping it; afterwards enabled "
        "replica_parallel_workers=8 with replica_preserve_commit_order=ON and changed the "
        "retention job to delete in batches of 10k rows with LIMIT.",
        "service": "mysql-crm",
        "namespace": "databases",
        "severity": "medium",
        "root_cause": "large transaction",
        "tags": ["mysql", "replication"],
        "agents": ["db-guardian"],
        "days": 15,
        "outcomes": "S",
    },
    {
        "issue": "orders-api errors: 'sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 "
        "overflow 20 reached, connection timed out, timeout 30'",
        "solution": "Connections leaked on an exception path that skipped session.close(). "
        "Wrapped the handler in 'with Session() as s:'; put PgBouncer (pool_mode=transaction, "
        "default_pool_size=40) in front of Postgres and set pool_pre_ping=True.",
        "service": "orders-api",
        "namespace": "shop",
        "severity": "critical",
        "root_cause": "connection leak",
        "tags": ["postgres", "connection-pool", "python"],
        "agents": ["db-guardian", "oncall-copilot", "db-guardian", "db-guardian"],
        "days": 26,
        "outcomes": "SSSS",
    },
    {
        "issue": "FATAL: sorry, too many clients already (max_connections=200) on pg-main",
        "solution": "Raised max_connections to 400 and restarted Postgres.",
        "service": "pg-main",
        "namespace": "databases",
        "severity": "critical",
        "root_cause": "connection exhaustion",
        "tags": ["postgres", "connection-pool"],
        "agents": ["oncall-copilot"],
        "days": 24,
        "outcomes": "F",
    },
    {
        "issue": "FATAL: sorry, too many clients already (max_connections=200) on pg-main",
        "solution": "Each of 40 worker pods opened its own pool of 10. Routed them through "
        "PgBouncer in transaction mode (max_client_conn=2000, default_pool_size=50) and "
        "reduced per-pod pool size to 5; idle_in_transaction_session_timeout=60s kills "
        "forgotten transactions.",
        "service": "pg-main",
        "namespace": "databases",
        "severity": "critical",
        "root_cause": "connection exhaustion",
        "tags": ["postgres", "pgbouncer"],
        "agents": ["db-guardian", "db-guardian"],
        "days": 23,
        "outcomes": "SS",
    },
    {
        "issue": "Deadlocks in inventory-service: 'ERROR: deadlock detected ... Process 4121 "
        "waits for ShareLock on transaction 88123; blocked by process 4187'",
        "solution": "Two code paths updated stock rows in different orders. Sorted the SKU list "
        "before 'SELECT ... FOR UPDATE' so locks are always taken in primary-key order, and "
        "added a retry with jitter on SQLSTATE 40P01.",
        "service": "inventory-service",
        "namespace": "shop",
        "severity": "medium",
        "root_cause": "lock ordering",
        "tags": ["postgres", "deadlock"],
        "agents": ["db-guardian"],
        "days": 13,
        "outcomes": "S",
    },
    {
        "issue": "pg-main disk full on WAL volume: 'PANIC: could not write to file "
        '"pg_wal/xlogtemp.2211": No space left on device\'',
        "solution": "An abandoned logical replication slot (debezium_old) pinned 180G of WAL. "
        "SELECT slot_name, active, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), "
        "restart_lsn)) FROM pg_replication_slots; then SELECT "
        "pg_drop_replication_slot('debezium_old'); grew the volume by 50G to get back up, and "
        "set max_slot_wal_keep_size=50GB.",
        "service": "pg-main",
        "namespace": "databases",
        "severity": "critical",
        "root_cause": "replication slot retained wal",
        "tags": ["postgres", "wal", "disk"],
        "agents": ["db-guardian", "disk-patrol"],
        "days": 21,
        "outcomes": "SS",
    },
    {
        "issue": "Queries on orders table 20x slower after manual VACUUM FULL; planner "
        "chooses sequential scans on orders_created_at_idx range queries",
        "solution": "VACUUM FULL rewrote the table but statistics were stale. Ran ANALYZE "
        "orders; raised default_statistics_target for created_at to 1000 (ALTER TABLE orders "
        "ALTER COLUMN created_at SET STATISTICS 1000; ANALYZE orders). Plans went back to "
        "index scans.",
        "service": "pg-orders",
        "namespace": "databases",
        "severity": "medium",
        "root_cause": "stale statistics",
        "tags": ["postgres", "performance", "vacuum"],
        "agents": ["db-guardian"],
        "days": 10,
        "outcomes": "S",
    },
    {
        "issue": "Autovacuum not keeping up on events table: n_dead_tup 240M, table bloat 3x, "
        "transaction ID wraparound warning at 1.4B xids",
        "solution": "Per-table settings: ALTER TABLE events SET (autovacuum_vacuum_scale_factor="
        "0.01, autovacuum_vacuum_cost_limit=2000); ran VACUUM (VERBOSE, FREEZE) events in a "
        "maintenance window; raised autovacuum_max_workers to 6.",
        "service": "pg-events",
        "namespace": "databases",
        "severity": "high",
        "root_cause": "autovacuum too slow",
        "tags": ["postgres", "vacuum", "wraparound"],
        "agents": ["db-guardian"],
        "days": 8,
        "outcomes": "S",
    },
    {
        "issue": "Redis used_memory at maxmemory, writes failing with 'OOM command not allowed "
        "when used memory > maxmemory'",
        "solution": "Session keys were written without TTL. Set maxmemory-policy "
        "volatile-lru, added EX 86400 to session SETs, and ran a SCAN-based job to expire "
        "keys older than a day. Memory dropped from 7.8G to 2.1G.",
        "service": "redis-sessions",
        "namespace": "shop",
        "severity": "high",
        "root_cause": "keys without ttl",
        "tags": ["redis", "memory"],
        "agents": ["db-guardian", "oncall-copilot"],
        "days": 16,
        "outcomes": "SS",
    },
    {
        "issue": "MongoDB primary election loop on rs0: members flip PRIMARY/SECONDARY every "
        "few seconds, 'Heartbeat failed after max retries'",
        "solution": "Clock skew of 12s on mongo-2 after chrony stopped. Restarted chronyd, "
        "verified with chronyc tracking; set electionTimeoutMillis back to 10000 after it "
        "had been lowered to 2000 during testing.",
        "service": "mongo-catalog",
        "namespace": "databases",
        "severity": "high",
        "root_cause": "clock skew",
        "tags": ["mongodb", "replication", "ntp"],
        "agents": ["db-guardian"],
        "days": 4,
        "outcomes": "S",
    },
    {
        "issue": "Elasticsearch cluster RED: 14 unassigned primary shards after data node "
        "es-data-3 ran out of disk (flood stage watermark 95% exceeded)",
        "solution": "Deleted indices older than 30 days via ILM, cleared the read-only block "
        'with PUT _all/_settings {"index.blocks.read_only_allow_delete": null}, then POST '
        "_cluster/reroute?retry_failed=true. Added an ILM delete phase at 21d.",
        "service": "elasticsearch-logs",
        "namespace": "logging",
        "severity": "critical",
        "root_cause": "disk full",
        "tags": ["elasticsearch", "disk", "shards"],
        "agents": ["disk-patrol", "disk-patrol"],
        "days": 19,
        "outcomes": "SS",
    },
    # ---------------------------------------------------------------- Network
    {
        "issue": "Intermittent DNS timeouts from pods: 'dial tcp: lookup api.stripe.com on "
        "10.96.0.10:53: read udp: i/o timeout' (about 1 in 200 requests, 5s stalls)",
        "solution": "The conntrack race on parallel A/AAAA queries over UDP. Added dnsConfig "
        "options single-request-reopen and ndots:2 to the pod spec, and rolled out "
        "NodeLocal DNSCache. Timeouts went to zero.",
        "service": "checkout-api",
        "namespace": "shop",
        "severity": "high",
        "root_cause": "conntrack race on udp dns",
        "tags": ["dns", "network", "kubernetes"],
        "agents": ["net-watch", "net-watch", "k8s-sentinel"],
        "days": 24,
        "outcomes": "SSS",
    },
    {
        "issue": "TLS certificate for api.acme.io expires in 3 days; cert-manager Certificate "
        "shows Ready=False 'Issuing certificate as Secret does not exist'",
        "solution": "HTTP-01 challenge failed because the ingress class annotation changed to "
        "nginx-public. Updated the ClusterIssuer solver's ingressClassName, deleted the "
        "failed CertificateRequest (kubectl -n edge delete certificaterequest api-acme-io-x7k2) "
        "and cert-manager reissued; verified with openssl s_client -connect api.acme.io:443 "
        "| openssl x509 -noout -enddate.",
        "service": "ingress-nginx",
        "namespace": "edge",
        "severity": "critical",
        "root_cause": "acme challenge failure",
        "tags": ["tls", "certificates", "cert-manager"],
        "agents": ["cert-warden"],
        "days": 20,
        "outcomes": "S",
    },
    {
        "issue": "Clients fail with 'x509: certificate has expired or is not yet valid' calling "
        "internal ledger-service over mTLS",
        "solution": "The internal CA intermediate expired; leaf certs were still valid. Issued "
        "a new intermediate from the offline root, rolled it to the Vault PKI mount "
        "(vault write pki_int/intermediate/set-signed certificate=@signed.pem) and restarted "
        "the sidecars so they picked up the new chain.",
        "service": "ledger-service",
        "namespace": "finance",
        "severity": "critical",
        "root_cause": "expired intermediate ca",
        "tags": ["tls", "certificates", "mtls", "vault"],
        "agents": ["cert-warden", "oncall-copilot"],
        "days": 11,
        "outcomes": "SS",
    },
    {
        "issue": "Kernel log flooded with 'nf_conntrack: table full, dropping packet' on "
        "edge-fra-02, new connections failing",
        "solution": "sysctl -w net.netfilter.nf_conntrack_max=1048576 and "
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait=30, persisted in "
        "/etc/sysctl.d/90-conntrack.conf; set hashsize to max/4 via "
        "/sys/module/nf_conntrack/parameters/hashsize.",
        "service": "edge-proxy",
        "namespace": "edge",
        "severity": "high",
        "root_cause": "conntrack table full",
        "tags": ["network", "linux", "conntrack"],
        "agents": ["net-watch", "net-watch"],
        "days": 15,
        "outcomes": "SS",
    },
    {
        "issue": "Large HTTP responses hang between pods on different nodes, small ones fine; "
        "TCP retransmits spike, tcpdump shows packets of 1500 bytes never arriving",
        "solution": "MTU mismatch: the VXLAN overlay adds 50 bytes but Calico was set to MTU "
        "1500 on a 1500 underlay. Set veth_mtu to 1450 in the calico-config ConfigMap and "
        "rolled calico-node; verified with ping -M do -s 1422 between pods.",
        "service": "calico",
        "namespace": "kube-system",
        "severity": "high",
        "root_cause": "mtu mismatch",
        "tags": ["network", "mtu", "calico"],
        "agents": ["net-watch"],
        "days": 27,
        "outcomes": "S",
    },
    {
        "issue": "VPN tunnel to on-prem datacenter flapping: IPsec SA renegotiation every 60s, "
        "'NO_PROPOSAL_CHOSEN' in charon log",
        "solution": "Phase 2 proposal mismatch after the on-prem firewall upgrade dropped "
        "aes128-sha1. Set esp=aes256gcm16-prfsha384-ecp384 on both sides in swanctl.conf and "
        "reloaded with swanctl --load-all.",
        "service": "site-vpn",
        "namespace": "network",
        "severity": "high",
        "root_cause": "ipsec proposal mismatch",
        "tags": ["network", "vpn", "ipsec"],
        "agents": ["net-watch"],
        "days": 7,
        "outcomes": "S",
    },
    {
        "issue": "Load balancer health checks failing for api-gateway target group: targets "
        "'unhealthy' with 'Health checks failed with these codes: [404]'",
        "solution": "The new gateway version moved health to /healthz. Updated the target "
        "group health check path (aws elbv2 modify-target-group --health-check-path /healthz) "
        "and the ingress annotation alb.ingress.kubernetes.io/healthcheck-path.",
        "service": "api-gateway",
        "namespace": "edge",
        "severity": "high",
        "root_cause": "health check path changed",
        "tags": ["network", "load-balancer", "aws"],
        "agents": ["deploy-bot", "net-watch"],
        "days": 5,
        "outcomes": "SS",
    },
    {
        "issue": "High TCP SYN backlog drops on edge-proxy: netstat -s shows "
        "'SYNs to LISTEN sockets dropped' rising during traffic peaks",
        "solution": "Raised net.core.somaxconn=65535 and net.ipv4.tcp_max_syn_backlog=65535, "
        "and set the listen backlog in nginx (listen 443 ssl backlog=65535). Drops stopped.",
        "service": "edge-proxy",
        "namespace": "edge",
        "severity": "medium",
        "root_cause": "listen backlog too small",
        "tags": ["network", "linux", "nginx"],
        "agents": ["net-watch"],
        "days": 3,
        "outcomes": "S",
    },
    # ---------------------------------------------------------------- Disk and IO
    {
        "issue": "Root filesystem 97% full on build-agent-07: /var/lib/docker/overlay2 using 180G",
        "solution": "docker system prune -af --filter 'until=72h' freed 142G; added a systemd "
        "timer running the same prune daily and moved the Docker root to the 1T data disk "
        "(data-root in /etc/docker/daemon.json).",
        "service": "ci-build-agents",
        "namespace": "ci",
        "severity": "medium",
        "root_cause": "disk full",
        "tags": ["disk", "docker", "ci"],
        "agents": ["disk-patrol", "disk-patrol", "disk-patrol"],
        "days": 28,
        "outcomes": "SSS",
    },
    {
        "issue": "/var/log full on app-vm-3: a single application log at 64G, logrotate not "
        "rotating it",
        "solution": "logrotate config used 'create' while the app kept the file open, so space "
        "was never freed. Switched to copytruncate with size 1G, rotate 7, compress; "
        "truncated the live file with ': > /var/log/app/app.log' to free space immediately.",
        "service": "legacy-billing",
        "namespace": "vm",
        "severity": "medium",
        "root_cause": "log rotation misconfigured",
        "tags": ["disk", "logs", "logrotate"],
        "agents": ["disk-patrol"],
        "days": 18,
        "outcomes": "S",
    },
    {
        "issue": "Disk shows 100% used in df but du only finds 20G on /data",
        "solution": "Deleted files were still held open by a running process. Found them with "
        "lsof +L1 | grep /data, restarted the holding process (fluent-bit) and the space "
        "came back.",
        "service": "fluent-bit",
        "namespace": "logging",
        "severity": "medium",
        "root_cause": "deleted files held open",
        "tags": ["disk", "linux"],
        "agents": ["disk-patrol", "oncall-copilot"],
        "days": 12,
        "outcomes": "SS",
    },
    {
        "issue": "Filesystem out of inodes on /var/spool: 'No space left on device' while df -h "
        "shows 40% free",
        "solution": "Millions of zero-byte session files from PHP. df -i confirmed 100% inode "
        "use; find /var/spool/php-sessions -type f -mmin +1440 -delete, and set "
        "session.gc_probability=1 so PHP cleans up itself.",
        "service": "legacy-cms",
        "namespace": "vm",
        "severity": "medium",
        "root_cause": "inode exhaustion",
        "tags": ["disk", "inodes", "php"],
        "agents": ["disk-patrol"],
        "days": 9,
        "outcomes": "S",
    },
    {
        "issue": "High iowait (60%) on db-vm-2, postgres checkpoints taking 10+ minutes, "
        "EBS volume at its IOPS limit",
        "solution": "Migrated the gp2 volume to gp3 with 12000 IOPS and 500 MB/s throughput "
        "(aws ec2 modify-volume, online); spread checkpoints with "
        "checkpoint_completion_target=0.9 and max_wal_size=16GB.",
        "service": "pg-legacy",
        "namespace": "vm",
        "severity": "high",
        "root_cause": "io saturation",
        "tags": ["disk", "io", "aws", "postgres"],
        "agents": ["disk-patrol", "db-guardian"],
        "days": 22,
        "outcomes": "SS",
    },
    {
        "issue": "Prometheus TSDB compaction failing: 'write to WAL: no space left on device', "
        "scrapes missing for 40 minutes",
        "solution": "Retention was time-based only. Set --storage.tsdb.retention.size=80GB "
        "alongside retention.time=15d, grew the PVC to 150Gi (allowVolumeExpansion was true) "
        "and dropped the high-cardinality histogram http_request_duration_seconds_bucket "
        "labels path and user_agent with metric_relabel_configs.",
        "service": "prometheus",
        "namespace": "monitoring",
        "severity": "high",
        "root_cause": "disk full",
        "tags": ["disk", "prometheus", "cardinality"],
        "agents": ["disk-patrol", "k8s-sentinel"],
        "days": 14,
        "outcomes": "SS",
    },
    {
        "issue": "XFS filesystem errors on /data after host reboot: 'metadata I/O error' and "
        "the mount falls back to read-only",
        "solution": "Unmounted, ran xfs_repair -n to assess, then xfs_repair /dev/nvme1n1; "
        "restored two corrupted files from the last snapshot. Replaced the instance because "
        "the underlying NVMe reported media errors in smartctl.",
        "service": "minio",
        "namespace": "storage",
        "severity": "critical",
        "root_cause": "hardware failure",
        "tags": ["disk", "xfs", "hardware"],
        "agents": ["disk-patrol"],
        "days": 2,
        "outcomes": "S",
    },
    # ---------------------------------------------------------------- Message queues
    {
        "issue": "Kafka consumer group order-events-processor lag 2.3M messages on topic "
        "orders.v1, growing since 09:10",
        "solution": "One partition's consumer was stuck retrying a poison message. Skipped it "
        "after copying it to orders.v1.dlq (kafka-consumer-groups --reset-offsets "
        "--to-offset N+1 --topic orders.v1:7 --execute) and added a dead-letter handler "
        "with max 5 retries. Lag drained in 25 minutes.",
        "service": "order-events-processor",
        "namespace": "streaming",
        "severity": "high",
        "root_cause": "poison message",
        "tags": ["kafka", "consumer-lag"],
        "agents": ["queue-keeper", "queue-keeper"],
        "days": 26,
        "outcomes": "SS",
    },
    {
        "issue": "Kafka consumer lag rising on clickstream-enricher while CPU is low; consumers "
        "rebalancing every 5 minutes",
        "solution": "Batches took longer than max.poll.interval.ms=300000, so the broker kicked "
        "consumers out. Lowered max.poll.records from 500 to 100 and raised "
        "max.poll.interval.ms to 600000; enabled cooperative-sticky assignment.",
        "service": "clickstream-enricher",
        "namespace": "streaming",
        "severity": "medium",
        "root_cause": "consumer poll timeout",
        "tags": ["kafka", "consumer-lag", "rebalance"],
        "agents": ["queue-keeper"],
        "days": 17,
        "outcomes": "S",
    },
    {
        "issue": "Kafka consumer lag rising on clickstream-enricher while CPU is low; consumers "
        "rebalancing every 5 minutes",
        "solution": "Added more consumer replicas (scaled from 6 to 12).",
        "service": "clickstream-enricher",
        "namespace": "streaming",
        "severity": "medium",
        "root_cause": "consumer poll timeout",
        "tags": ["kafka", "scaling"],
        "agents": ["oncall-copilot"],
        "days": 17,
        "outcomes": "F",
    },
    {
        "issue": "Kafka broker kafka-1 under-replicated partitions: 212, ISR shrinking, "
        "'Shrinking ISR from 1,2,3 to 2,3'",
        "solution": "kafka-1's disk hit 100% throughput during a partition reassignment. "
        "Throttled the reassignment (kafka-reassign-partitions --throttle 50000000) and "
        "waited for ISR to expand; afterwards ran reassignments only with a throttle.",
        "service": "kafka",
        "namespace": "streaming",
        "severity": "high",
        "root_cause": "replication throttling",
        "tags": ["kafka", "replication"],
        "agents": ["queue-keeper"],
        "days": 10,
        "outcomes": "S",
    },
    {
        "issue": "RabbitMQ memory alarm: 'memory resource limit alarm set on node "
        "rabbit@mq-1', publishers blocked",
        "solution": "A queue with no consumer (reports.retry) held 9M messages. Attached a "
        "consumer after fixing its crash, set a policy with x-max-length 1000000 and "
        "overflow reject-publish-dlx, and switched the queue to lazy mode.",
        "service": "rabbitmq",
        "namespace": "messaging",
        "severity": "critical",
        "root_cause": "unconsumed queue",
        "tags": ["rabbitmq", "memory"],
        "agents": ["queue-keeper", "queue-keeper"],
        "days": 21,
        "outcomes": "SS",
    },
    {
        "issue": "SQS dead-letter queue email-sends-dlq receiving messages: 4,800 in the last "
        "hour, 'ThrottlingException: Maximum sending rate exceeded' in email-sender logs",
        "solution": "SES sending quota was 14/s. Added a token-bucket limiter at 12/s in "
        "email-sender, requested a quota raise, and redrove the DLQ with "
        "aws sqs start-message-move-task once the rate was under the limit.",
        "service": "email-sender",
        "namespace": "comms",
        "severity": "medium",
        "root_cause": "rate limit",
        "tags": ["sqs", "ses", "aws", "dlq"],
        "agents": ["queue-keeper"],
        "days": 8,
        "outcomes": "S",
    },
    {
        "issue": "NATS JetStream stream ORDERS: 'insufficient resources' on publish, "
        "max_bytes reached",
        "solution": "Stream had retention=limits with max_bytes 10G and no max_age. Set "
        "max_age=72h (nats stream edit ORDERS --max-age 72h) and discard=old.",
        "service": "nats",
        "namespace": "messaging",
        "severity": "medium",
        "root_cause": "stream limits",
        "tags": ["nats", "jetstream"],
        "agents": ["queue-keeper"],
        "days": 1,
        "outcomes": "?",
    },
    # ---------------------------------------------------------------- Certificates, secrets, auth
    {
        "issue": "cert-manager: Certificate wildcard-acme-io not renewing, Order stuck "
        "'pending' with DNS-01 'Error presenting challenge: AccessDenied route53:ChangeResourceRecordSets'",
        "solution": "IRSA role for cert-manager lost the route53 policy in a Terraform refactor. "
        "Re-attached a policy allowing route53:ChangeResourceRecordSets and "
        "route53:GetChange on the hosted zone; deleted the stuck Order and the renewal "
        "completed.",
        "service": "cert-manager",
        "namespace": "cert-manager",
        "severity": "high",
        "root_cause": "iam permissions",
        "tags": ["certificates", "cert-manager", "aws"],
        "agents": ["cert-warden", "cert-warden"],
        "days": 16,
        "outcomes": "SS",
    },
    {
        "issue": "Kubelet client certificate expired on 3 nodes: 'x509: certificate has expired' "
        "in kubelet log, nodes NotReady",
        "solution": "rotateCertificates was off in the old node template. On each node: moved "
        "/var/lib/kubelet/pki/kubelet-client-current.pem aside, restarted kubelet to "
        "bootstrap, approved the CSRs (kubectl certificate approve ...); enabled "
        "rotateCertificates: true in the kubelet config for the node group.",
        "service": "kubelet",
        "namespace": "kube-system",
        "severity": "critical",
        "root_cause": "certificate expiry",
        "tags": ["certificates", "kubernetes", "node"],
        "agents": ["cert-warden", "k8s-sentinel"],
        "days": 25,
        "outcomes": "SS",
    },
    {
        "issue": "Java service fails outbound HTTPS: 'PKIX path building failed: unable to find "
        "valid certification path to requested target' after partner changed their CA",
        "solution": "The container's cacerts lacked the partner's new root. Rebuilt the image on "
        "an updated base with ca-certificates refreshed (update-ca-certificates) instead of "
        "importing into the JVM truststore by hand.",
        "service": "partner-gateway",
        "namespace": "integrations",
        "severity": "high",
        "root_cause": "missing ca certificate",
        "tags": ["certificates", "java", "tls"],
        "agents": ["cert-warden"],
        "days": 13,
        "outcomes": "S",
    },
    {
        "issue": "Vault sealed after a node restart; apps failing with 'Vault is sealed' on "
        "secret reads",
        "solution": "Auto-unseal via AWS KMS failed because the instance role lost kms:Decrypt. "
        "Restored the IAM permission and restarted vault-0; vault status shows Sealed false. "
        "Added an alert on vault_core_unsealed == 0.",
        "service": "vault",
        "namespace": "security",
        "severity": "critical",
        "root_cause": "iam permissions",
        "tags": ["vault", "secrets", "aws"],
        "agents": ["cert-warden", "oncall-copilot"],
        "days": 9,
        "outcomes": "SS",
    },
    # ---------------------------------------------------------------- Application / runtime
    {
        "issue": "Node.js api-bff event loop lag 800ms, p99 latency 6s; CPU at 100% on one core",
        "solution": "A synchronous bcrypt.hashSync on login blocked the loop. Switched to the "
        "async bcrypt.hash and moved PDF rendering to a worker thread pool; lag under 20ms.",
        "service": "api-bff",
        "namespace": "edge",
        "severity": "high",
        "root_cause": "blocking call on event loop",
        "tags": ["nodejs", "latency"],
        "agents": ["oncall-copilot"],
        "days": 20,
        "outcomes": "S",
    },
    {
        "issue": "Celery workers stuck: tasks in 'reserved' state forever, queue depth rising, "
        "workers at 0% CPU",
        "solution": "Workers prefetched tasks then hung on a requests call with no timeout. Set "
        "timeout=(3, 30) on all outbound requests, worker_prefetch_multiplier=1 and "
        "task_acks_late=True, plus task_time_limit=300.",
        "service": "report-workers",
        "namespace": "reporting",
        "severity": "medium",
        "root_cause": "missing timeout",
        "tags": ["python", "celery", "timeouts"],
        "agents": ["queue-keeper", "oncall-copilot"],
        "days": 11,
        "outcomes": "SS",
    },
    {
        "issue": "Go service goroutine count climbing to 250k, memory growing, "
        "'http: Accept error: accept tcp: too many open files'",
        "solution": "HTTP response bodies were not closed on non-200 paths. Added defer "
        "resp.Body.Close() everywhere (found with bodyclose linter), raised LimitNOFILE=65536 "
        "in the systemd unit as headroom.",
        "service": "pricing-engine",
        "namespace": "shop",
        "severity": "high",
        "root_cause": "resource leak",
        "tags": ["go", "file-descriptors"],
        "agents": ["k8s-sentinel", "oncall-copilot"],
        "days": 7,
        "outcomes": "SS",
    },
    {
        "issue": "Nginx returning 502 Bad Gateway for /api/upload: 'upstream sent too big "
        "header while reading response header from upstream'",
        "solution": "The upstream set large session cookies. Raised proxy_buffer_size 16k and "
        "proxy_buffers 8 16k in the location block and reloaded nginx (nginx -t && "
        "nginx -s reload).",
        "service": "edge-proxy",
        "namespace": "edge",
        "severity": "medium",
        "root_cause": "proxy buffer too small",
        "tags": ["nginx", "502"],
        "agents": ["net-watch"],
        "days": 5,
        "outcomes": "S",
    },
    {
        "issue": "Cron job nightly-billing did not run: CronJob shows 'Cannot determine if job "
        "needs to be started: too many missed start time (> 100)'",
        "solution": "The CronJob was suspended during a migration and resumed without "
        "startingDeadlineSeconds. Set startingDeadlineSeconds: 3600, triggered the missed run "
        "by hand (kubectl create job --from=cronjob/nightly-billing nightly-billing-manual).",
        "service": "billing",
        "namespace": "finance",
        "severity": "high",
        "root_cause": "cronjob misconfiguration",
        "tags": ["kubernetes", "cronjob"],
        "agents": ["k8s-sentinel"],
        "days": 4,
        "outcomes": "S",
    },
    {
        "issue": "Memcached evictions spiking and cache hit rate down from 96% to 60% after "
        "product-page release",
        "solution": "The release added the user id to the cache key for anonymous pages too. "
        "Reverted the key change for anonymous users and raised memcached -m from 1024 to "
        "4096 for headroom.",
        "service": "product-pages",
        "namespace": "shop",
        "severity": "medium",
        "root_cause": "cache key cardinality",
        "tags": ["memcached", "cache"],
        "agents": ["oncall-copilot"],
        "days": 6,
        "outcomes": "S",
    },
    {
        "issue": "NTP drift alarms: node_timex_offset_seconds > 0.5 on 12 hosts, TOTP logins "
        "failing",
        "solution": "Outbound UDP 123 was blocked by a new security group. Pointed chrony at "
        "the VPC's Amazon Time Sync Service (server 169.254.169.123 prefer iburst) and "
        "forced a step with chronyc makestep.",
        "service": "fleet",
        "namespace": "infra",
        "severity": "medium",
        "root_cause": "ntp blocked",
        "tags": ["ntp", "chrony", "network"],
        "agents": ["net-watch"],
        "days": 1,
        "outcomes": "S",
    },
    {
        "issue": "etcd cluster slow: 'apply request took too long' warnings and "
        "etcd_disk_wal_fsync_duration_seconds p99 at 400ms; kube-apiserver timeouts",
        "solution": "etcd shared a volume with container logs. Moved the etcd data dir to a "
        "dedicated io2 volume, defragmented each member (etcdctl defrag --endpoints ...) and "
        "set --quota-backend-bytes=8589934592.",
        "service": "etcd",
        "namespace": "kube-system",
        "severity": "critical",
        "root_cause": "io saturation",
        "tags": ["etcd", "kubernetes", "disk"],
        "agents": ["k8s-sentinel", "disk-patrol"],
        "days": 2,
        "outcomes": "S?",
    },
]
