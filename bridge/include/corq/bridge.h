/* corq/bridge.h — corq-bridge: corq queues and streams to and from a NATS JetStream cluster
 * (DESIGN.md section 9). A separate library (libcorq_bridge, linking Debian's libnats) so that
 * libcorq itself keeps no network dependency.
 *
 * A bridge runs inside the process that owns the engine, on threads of its own: one per rule of
 * its config (and libnats's own threads).
 *   outbound  a local queue, or a stream through a consumer group, -> a JetStream subject. corq is
 *             the durable outbox: a delivery is acked locally only once JetStream acked its
 *             publish. Each message carries Nats-Msg-Id "<engine id>/<queue>/<message id>" (from
 *             a stream: "<engine id>/<stream>/<partition>/<offset>") so the JetStream stream's
 *             duplicate window drops resends. While the cluster is unreachable the deliveries'
 *             leases are extended: nothing is dead-lettered because the network was down.
 *   inbound   a JetStream durable pull consumer -> a local queue or stream. Each fetched batch is
 *             committed as one corq transaction together with the consumer's high-water mark (its
 *             last JetStream stream sequence, kept in the queue "corq-bridge.<rule>.hwm"), and only
 *             then acked on JetStream; a redelivery at or below the mark is acked and dropped.
 * The config format (text, one "key = value" per line in [sections]) is documented with a full
 * example in bridge/README.md; corq-bridge (tools/) reads the same text from a file.
 *
 * Errors are corq's codes (corq.h); the detail of the last failed corq_bridge_* call on this
 * thread is corq_bridge_last_error(). No secret (password, token, key) ever appears in an error,
 * a log line or the stats. */
#ifndef CORQ_BRIDGE_H
#define CORQ_BRIDGE_H

#include <corq/corq.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corq_bridge corq_bridge;

/* Starts a bridge on an open engine from config text. Everything is checked before anything is
 * consumed: the config (CORQ_EINVAL: the detail names the line), the local queues and streams it
 * names (CORQ_ENOENT), the connection to the cluster with its credentials and TLS (CORQ_EIO: the
 * servers cannot be reached, refused the credentials, or presented a certificate the configured
 * CA does not sign), and the JetStream side (CORQ_ENOENT: no JetStream stream captures an outbound
 * subject, or an inbound JetStream stream does not exist). On success *out is a running bridge.
 * The engine must outlive it (stop the bridge before corq_close). Errors also: CORQ_EINVAL (NULL
 * engine, config or out), CORQ_ENOMEM, CORQ_ECLOSED. */
CORQ_API int corq_bridge_start(corq_engine *engine, const char *config, corq_bridge **out);

/* The bridge's figures as JSON (free with corq_free): connected, the server, the last error, and
 * per rule forwarded, in_flight, retried, lag, duplicates (inbound), high_water_mark (inbound),
 * last_error. Any thread. Errors: CORQ_EINVAL, CORQ_ENOMEM. */
CORQ_API int corq_bridge_stats_json(corq_bridge *bridge, char **json);

/* The same figures in the Prometheus text format (what corq-bridge writes to its --metrics-file):
 * corq_bridge_connected, corq_bridge_disconnects_total, and per rule (labels direction, rule)
 * corq_bridge_forwarded_total, corq_bridge_in_flight, corq_bridge_retried_total, corq_bridge_lag,
 * corq_bridge_duplicates_total and corq_bridge_high_water_mark (inbound). Free with corq_free.
 * Any thread. Errors: CORQ_EINVAL, CORQ_ENOMEM. */
CORQ_API int corq_bridge_metrics_text(corq_bridge *bridge, char **text);

/* Checks config text without connecting or touching an engine (corq-bridge checks its file this
 * way before it waits for the directory's lock). CORQ_OK, or CORQ_EINVAL with the line in
 * corq_bridge_last_error(). Reads password_file and token_file. */
CORQ_API int corq_bridge_config_check(const char *config);

/* Stops the bridge and frees it: no rule takes anything new; outbound waits up to timeout_ms (-1:
 * no limit) for the publishes in flight to be acked by JetStream (and acks them locally), inbound
 * finishes the batch it is committing; what is left is released locally (sent again later under
 * the same Nats-Msg-Id, which JetStream's duplicate window drops) or left unacked on JetStream
 * (redelivered, recognised by the high-water mark). The handle is invalid afterwards, whether
 * the result is CORQ_OK or CORQ_ETIMEDOUT (publishes were still unconfirmed at the timeout).
 * Errors: CORQ_EINVAL (NULL bridge, or timeout_ms < -1: then nothing is stopped and the handle
 * stays valid — call again with a valid timeout). */
CORQ_API int corq_bridge_stop(corq_bridge *bridge, int32_t timeout_ms);

/* The detail of the last failed corq_bridge_* call on this thread ("" if none). Valid until the
 * thread's next corq_bridge_* call. */
CORQ_API const char *corq_bridge_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CORQ_BRIDGE_H */
