/* Configuration: defaults, every setting's accepted range, and error
 * messages that name the variable, the value and what is accepted. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static int set(struct spy_config *c, const char *key, const char *value, char *err)
{
    return spy_config_set(c, key, value, key, err, 256);
}

int main(void)
{
    struct spy_config c;
    char err[256];
    spy_config_defaults(&c);
    CHECK(c.enabled && c.rate == 100 && c.ws_port == SPY_DEFAULT_WS_PORT);
    CHECK(strcmp(c.ws_host, "127.0.0.1") == 0);
    CHECK(c.cpu_budget == 1.0 && c.history == 300 && c.interval_ms == 1000);

    CHECK(set(&c, "rate", "250", err) == 0 && c.rate == 250);
    CHECK(set(&c, "rate", " 7 ", err) == 0 && c.rate == 7);
    CHECK(set(&c, "rate", "fast", err) == -1);
    CHECK(strstr(err, "rate='fast'") && strstr(err, "1 to 10000"));
    CHECK(set(&c, "rate", "0", err) == -1);
    CHECK(set(&c, "rate", "10001", err) == -1);
    CHECK(set(&c, "rate", "12abc", err) == -1);
    CHECK(set(&c, "rate", "", err) == -1);
    CHECK(c.rate == 7);                        /* a bad value changes nothing */

    CHECK(set(&c, "enabled", "off", err) == 0 && !c.enabled);
    CHECK(set(&c, "enabled", "TRUE", err) == 0 && c.enabled);
    CHECK(set(&c, "enabled", "maybe", err) == -1 && strstr(err, "maybe"));
    CHECK(set(&c, "cpu_budget", "0", err) == 0 && c.cpu_budget == 0.0);
    CHECK(set(&c, "cpu_budget", "2.5", err) == 0 && c.cpu_budget == 2.5);
    CHECK(set(&c, "cpu_budget", "-1", err) == -1);
    CHECK(set(&c, "cpu_budget", "nan", err) == -1);
    CHECK(set(&c, "log", "debug", err) == 0);
    CHECK(set(&c, "log", "loud", err) == -1 && strstr(err, "quiet, info or debug"));
    CHECK(set(&c, "ws_port", "65536", err) == -1);
    CHECK(set(&c, "ws_port", "9000", err) == 0 && c.ws_port == 9000);
    CHECK(set(&c, "ws_host", "0.0.0.0", err) == 0);
    CHECK(set(&c, "ws_host", "bad host", err) == -1);
    CHECK(set(&c, "history", "5", err) == -1);
    CHECK(set(&c, "token", "short", err) == -1 && !strstr(err, "short"));   /* secrets are not echoed */
    CHECK(set(&c, "nonsense", "1", err) == -1 && strstr(err, "unknown setting"));
    CHECK(strstr(err, "accepted settings are enabled, rate, cpu_budget, ws_host, ws_port, data_dir, log, history, "
                      "interval, token, max_memory, origins"));
    CHECK(set(&c, "data_dir", "", err) == -1 && strstr(err, "1 to 1023 bytes"));
    CHECK(set(&c, "interval", "49", err) == -1);
    CHECK(set(&c, "interval", "50", err) == 0 && c.interval_ms == 50);
    CHECK(set(&c, "max_memory", "4097", err) == -1 && c.max_memory_mb == 64);
    CHECK(set(&c, "token", "abcdefgh", err) == 0 && strcmp(c.token, "abcdefgh") == 0);
    CHECK(set(&c, "token", "abcd efgh", err) == -1 && strcmp(c.token, "abcdefgh") == 0);
    CHECK(set(&c, "origins", "http://dash.local:8080,null", err) == 0 && strcmp(c.origins, "http://dash.local:8080,null") == 0);
    CHECK(set(&c, "origins", "ftp://x", err) == -1 && strstr(err, "http(s)://host[:port]"));
    CHECK(set(&c, "origins", "http://a,", err) == -1);
    CHECK(set(&c, "origins", "http://a b", err) == -1);
    CHECK(c.max_clients == 32);
    CHECK(set(&c, "max_clients", "4", err) == 0 && c.max_clients == 4);
    CHECK(set(&c, "max_clients", "200", err) == 0 && c.max_clients == 200);
    CHECK(set(&c, "max_clients", "0", err) == -1 && strstr(err, "max_clients='0'") && strstr(err, "1 to 200"));
    CHECK(set(&c, "max_clients", "201", err) == -1);
    CHECK(set(&c, "max_clients", "many", err) == -1 && c.max_clients == 200);
    CHECK(c.block_ms == 100);
    CHECK(set(&c, "block_ms", "0", err) == 0 && c.block_ms == 0);
    CHECK(set(&c, "block_ms", "250", err) == 0 && c.block_ms == 250);
    CHECK(set(&c, "block_ms", "-1", err) == -1 && strstr(err, "block_ms='-1'") && strstr(err, "0 to turn")
          && c.block_ms == 250);
    CHECK(set(&c, "block_ms", "600001", err) == -1 && strstr(err, "1 to 600000"));
    CHECK(set(&c, "block_ms", "fast", err) == -1 && c.block_ms == 250);
    CHECK(c.task_rate == 20 && c.task_cap == 64);
    CHECK(set(&c, "task_rate", "0", err) == 0 && c.task_rate == 0);        /* off */
    CHECK(set(&c, "task_rate", "1000", err) == 0 && c.task_rate == 1000);
    CHECK(set(&c, "task_rate", "1001", err) == -1 && strstr(err, "task_rate='1001'") && strstr(err, "0 (off) to 1000"));
    CHECK(set(&c, "task_rate", "-1", err) == -1 && c.task_rate == 1000);
    CHECK(set(&c, "task_cap", "2", err) == 0 && c.task_cap == 2);
    CHECK(set(&c, "task_cap", "1", err) == -1 && strstr(err, "2 to 4096"));
    CHECK(set(&c, "task_cap", "4097", err) == -1 && c.task_cap == 2);

    /* control characters are escaped in messages */
    CHECK(set(&c, "rate", "a\nb", err) == -1 && !strchr(err, '\n'));

    /* the environment: SPY_RATE read, SPY_PORT (the app's port) ignored */
    spy_config_defaults(&c);
    setenv("SPY_RATE", "333", 1);
    setenv("SPY_PORT", "8000", 1);
    CHECK(spy_config_from_env(&c, err, sizeof(err)) == 0 && c.rate == 333 && c.ws_port == SPY_DEFAULT_WS_PORT);
    setenv("SPY_RATE", "fast", 1);
    CHECK(spy_config_from_env(&c, err, sizeof(err)) == -1 && strstr(err, "SPY_RATE='fast'"));
    unsetenv("SPY_RATE");
    setenv("SPY_CPU_BUDGET", "x", 1);
    CHECK(spy_config_from_env(&c, err, sizeof(err)) == -1 && strstr(err, "SPY_CPU_BUDGET"));
    unsetenv("SPY_CPU_BUDGET");
    return check_report();
}
