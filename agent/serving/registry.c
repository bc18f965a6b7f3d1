/*
 * registry.c — one small JSON file per running agent in a per-user
 * runtime directory:
 *
 *   $XDG_RUNTIME_DIR/spyagent/PID.json   (or /tmp/spyagent-UID/PID.json)
 *   {"pid":4242,"role":"root","root_pid":4242,"tree":4242,"host":"127.0.0.1",
 *    "port":7799,"command_line":"...","python_version":"3.11.2",
 *    "token_required":false,"started":1796000000}
 *
 * "tree" is the process that started the tree (SPY_ROOT_PID); it differs
 * from "pid" for a worker that took the port over from a dead root, and is
 * how a process started later, which inherited the dead root's pid, finds
 * the root to stream to.
 *
 * Files are written to a temporary name and renamed, so a reader never
 * sees half of one; the directory is 0700 and must belong to us.  An entry
 * is removed at exit; one left by a killed process names a dead pid, and
 * readers (spyctl) ignore and remove it.  The token itself is never
 * written.  Threads: any; called at start and exit.
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "log.h"
#include "procinfo.h"
#include "sink.h"

static char entry_path[1100];
static int entry_pid;

/* The tree this process belongs to: the pid in SPY_ROOT_PID (the process
 * that started it, alive or not), else our own. */
static int tree_of_this_process(void)
{
    const char *v = getenv("SPY_ROOT_PID");
    char *end;
    long pid = v && *v ? strtol(v, &end, 10) : 0;
    return pid > 0 && pid <= INT_MAX && *end == '\0' ? (int)pid : (int)getpid();
}

int spy_registry_announce(const char *role, int root_pid, const char *host, int port, bool token_required)
{
    char dir[1024], err[300];
    if (spy_registry_dir(dir, sizeof(dir), true, err, sizeof(err)) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", err);
        return -1;
    }
    char cmdline[1024], name[32];
    spy_proc_cmdline(cmdline, sizeof(cmdline));
    int pid = (int)getpid();
    snprintf(name, sizeof(name), "%d.json", pid);
    struct spy_sink s;
    if (spy_sink_file(&s, dir, name) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", s.error);
        return -1;
    }
    spy_sink_printf(&s, "{\"pid\":%d,\"role\":\"%s\",\"root_pid\":%d,\"tree\":%d,\"host\":\"", pid, role, root_pid,
                    tree_of_this_process());
    spy_sink_json_str(&s, host);
    spy_sink_printf(&s, "\",\"port\":%d,\"command_line\":\"", port);
    spy_sink_json_str(&s, cmdline);
    spy_sink_puts(&s, "\",\"python_version\":\"");
    spy_sink_json_str(&s, spy_agent.py.version);
    spy_sink_printf(&s, "\",\"token_required\":%s,\"started\":%lld}\n", token_required ? "true" : "false",
                    (long long)time(NULL));
    if (spy_sink_close(&s) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", s.error);
        return -1;
    }
    if (snprintf(entry_path, sizeof(entry_path), "%s/%s", dir, name) >= (int)sizeof(entry_path))
        entry_path[0] = '\0';
    entry_pid = pid;
    return 0;
}

void spy_registry_withdraw(void)
{
    /* only the process that wrote the entry removes it (not a fork child) */
    if (entry_path[0] && entry_pid == (int)getpid())
        unlink(entry_path);
    entry_path[0] = '\0';
}

int spy_registry_find_root(int port, int tree, char *sock, size_t cap)
{
    char dir[1024], err[300];
    if (spy_registry_dir(dir, sizeof(dir), false, err, sizeof(err)) != 0)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && found < 0) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char file[1400], text[4096];
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        FILE *f = fopen(file, "re");
        if (!f)
            continue;
        size_t len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[len] = '\0';
        cJSON *j = cJSON_Parse(text);
        cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
        cJSON *eport = cJSON_GetObjectItemCaseSensitive(j, "port");
        cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
        cJSON *etree = cJSON_GetObjectItemCaseSensitive(j, "tree");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "root") == 0 && cJSON_IsNumber(eport)
            && (int)eport->valuedouble == port && cJSON_IsNumber(pid)) {
            int p = (int)pid->valuedouble;
            int t = cJSON_IsNumber(etree) ? (int)etree->valuedouble : p;
            if (p != (int)getpid() && (tree <= 0 || t == tree) && spy_pid_alive(p)) {
                found = p;
                if (sock && snprintf(sock, cap, "%s/root-%d.sock", dir, p) >= (int)cap)
                    found = -1;
            }
        }
        cJSON_Delete(j);
    }
    closedir(d);
    return found;
}

void spy_registry_remove_dead(int pid)
{
    char dir[1024], err[300], path[1100];
    if (pid <= 0 || pid == (int)getpid() || spy_pid_alive(pid)
        || spy_registry_dir(dir, sizeof(dir), false, err, sizeof(err)) != 0)
        return;
    if (snprintf(path, sizeof(path), "%s/%d.json", dir, pid) < (int)sizeof(path))
        unlink(path);
    if (snprintf(path, sizeof(path), "%s/root-%d.sock", dir, pid) < (int)sizeof(path))
        unlink(path);
}

int spy_tree_pid(void)
{
    return tree_of_this_process();
}

int spy_find_root(char *sock, size_t cap)
{
    if (sock && cap)
        sock[0] = '\0';
    int pid = tree_of_this_process();
    if (pid == (int)getpid())
        return 0;
    if (spy_pid_alive(pid)) {
        const char *s = getenv("SPY_ROOT_SOCK");
        if (sock && s && strlen(s) < cap)
            memcpy(sock, s, strlen(s) + 1);
        return pid;
    }
    /* the root that started the tree is gone: a worker of it may serve the
     * port now (takeover); a process started since then streams to that
     * one rather than trying for the port itself */
    int port = spy_agent.cfg.ws_port;
    if (port == 0) {
        struct spy_config cfg;
        char err[256];
        spy_config_defaults(&cfg);
        spy_config_from_env(&cfg, err, sizeof(err));
        port = cfg.ws_port;
    }
    int found = spy_registry_find_root(port, pid, sock, cap);
    return found > 0 ? found : 0;
}

bool spy_is_descendant(void)
{
    return spy_find_root(NULL, 0) > 0;
}
