/* config.h — the agent's settings, validated, from the environment or from
 * spyagent.start(**kwargs). */
#ifndef SPY_CONFIG_H
#define SPY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define SPY_DEFAULT_WS_PORT 7799
#define SPY_MAX_CLIENTS_LIMIT 200

/* What SPY_READ_METHOD asks of the sampler's memory reads (memread.h). */
enum spy_read_pref {
    SPY_READ_AUTO = 0,     /* guarded copies when safe, else the system call */
    SPY_READ_GUARDED,      /* the same, but say so when guarded copies are refused */
    SPY_READ_VM_READV,     /* process_vm_readv only */
    SPY_READ_PIPE,         /* write(2) into a pipe only */
};

struct spy_config {
    bool enabled;
    int rate;                 /* Hz */
    double cpu_budget;        /* percent of one core; 0 = no cap */
    char ws_host[256];
    int ws_port;
    char data_dir[1024];
    int log_level;            /* enum spy_log_level */
    int history;              /* seconds of per-second buckets kept */
    int interval_ms;          /* live push interval */
    char token[257];
    int max_memory_mb;        /* cap on the stack store's memory */
    char origins[1024];       /* extra browser origins, comma-separated */
    int read_method;          /* enum spy_read_pref */
    int max_clients;          /* WebSocket connections at once (also bounded by RLIMIT_NOFILE) */
    int task_rate;            /* asyncio task snapshots per second; 0 = off */
    int task_cap;             /* tasks walked per snapshot besides the running one */
};

void spy_config_defaults(struct spy_config *c);

/* Set one setting by its key (the variable name without SPY_, lowercase:
 * "rate", "ws_port", ...).  label is how the user wrote it ("SPY_RATE" or
 * "rate") and appears in the error.  Returns 0, or -1 with err filled with
 * one line naming the setting, the value and what is accepted. */
int spy_config_set(struct spy_config *c, const char *key, const char *value,
                   const char *label, char *err, size_t errlen);

/* The i-th key spy_config_set accepts, or NULL past the last one. */
const char *spy_config_key(size_t i);

/* Apply every SPY_* variable the agent reads.  Stops at the first bad one. */
int spy_config_from_env(struct spy_config *c, char *err, size_t errlen);

#endif
