/* fuzz_config.c — libFuzzer target: one setting through spy_config_set,
 * the function behind every SPY_* variable and start(**kwargs).  The first
 * byte picks the key (spy_config_key), the rest is the value.  Checks: 0
 * or -1; a refusal has a message; an accepted value leaves the settings
 * within the ranges the README documents.
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t nkeys = 0;
    while (spy_config_key(nkeys))
        nkeys++;
    if (nkeys == 0)
        return 0;
    const char *key = spy_config_key(data[0] % nkeys);
    char *value = malloc(size);                      /* the rest, NUL-terminated, exact size */
    if (!value)
        return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0';
    struct spy_config c;
    spy_config_defaults(&c);
    char err[512] = "";
    int rc = spy_config_set(&c, key, value, "SPY_FUZZ", err, sizeof(err));
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && !err[0])
        abort();
    if (rc == 0) {
        if (c.rate < 1 || c.rate > 10000 || c.ws_port < 1 || c.ws_port > 65535 || c.history < 10
            || c.history > 3600 || c.interval_ms < 50 || c.interval_ms > 60000 || c.max_memory_mb < 8
            || c.max_memory_mb > 4096 || c.max_clients < 1 || c.max_clients > SPY_MAX_CLIENTS_LIMIT
            || c.read_method < SPY_READ_AUTO || c.read_method > SPY_READ_PIPE || !(c.cpu_budget >= 0 && c.cpu_budget <= 100)
            || memchr(c.ws_host, '\0', sizeof(c.ws_host)) == NULL || memchr(c.token, '\0', sizeof(c.token)) == NULL
            || memchr(c.data_dir, '\0', sizeof(c.data_dir)) == NULL
            || memchr(c.origins, '\0', sizeof(c.origins)) == NULL)
            abort();
    }
    free(value);
    return 0;
}
