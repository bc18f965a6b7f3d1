/*
 * registry_read.c — spyctl's side of the agents' registry: one small JSON
 * file per running agent, PID.json, in a per-user directory (see
 * agent/serving/registry.c for the writer).  Where it is, and that it is
 * trusted only if it is a directory owned by this user with no group/other
 * access (so another user cannot point spyctl at a port of their
 * choosing), is agent/base/rundir.c's rule, shared with the agent.  An
 * entry whose pid is dead (or that does not parse) is stale: it is skipped
 * and removed.  Single-threaded.
 */
#include "registry_read.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rundir.h"
#include "ws_client.h"

/* The registry directory, if it can be trusted: 0, else -1. */
static int trusted_dir(char *out, size_t cap)
{
    char err[300];
    return spy_registry_dir(out, cap, false, err, sizeof(err));
}

static bool pid_alive(int pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(16384);
    size_t n = buf ? fread(buf, 1, 16383, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
    if (strlen(src) >= cap && cap > 4)
        memcpy(dst + cap - 4, "...", 4);
}

/* 0 and *e filled if path holds a valid entry for a live pid; 1 if stale
 * (removed); -1 if it cannot be read. */
static int load_entry(const char *path, struct spyctl_reg_entry *e)
{
    char *text = read_small_file(path);
    if (!text)
        return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    memset(e, 0, sizeof(*e));
    e->pid = (int)spyctl_json_num(j, "pid", 0);
    e->root_pid = (int)spyctl_json_num(j, "root_pid", e->pid);
    e->port = (int)spyctl_json_num(j, "port", 0);
    copy_str(e->role, sizeof(e->role), spyctl_json_str(j, "role"));
    copy_str(e->host, sizeof(e->host), spyctl_json_str(j, "host"));
    copy_str(e->command_line, sizeof(e->command_line), spyctl_json_str(j, "command_line"));
    copy_str(e->python_version, sizeof(e->python_version), spyctl_json_str(j, "python_version"));
    e->token_required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "token_required"));
    bool valid = j && e->pid > 0 && e->port > 0 && e->port < 65536;
    cJSON_Delete(j);
    if (!valid || !pid_alive(e->pid)) {
        unlink(path);
        return 1;
    }
    if (!e->host[0] || strcmp(e->host, "0.0.0.0") == 0)
        snprintf(e->host, sizeof(e->host), "127.0.0.1");
    return 0;
}

int spyctl_registry_find(int pid, struct spyctl_reg_entry *e)
{
    char dir[1024], path[1100];
    if (trusted_dir(dir, sizeof(dir)) != 0)
        return -1;
    snprintf(path, sizeof(path), "%.1024s/%d.json", dir, pid);
    return load_entry(path, e) == 0 && e->pid == pid ? 0 : -1;
}

int spyctl_registry_list(struct spyctl_reg_entry **out)
{
    *out = NULL;
    char dir[1024], path[1400];
    if (trusted_dir(dir, sizeof(dir)) != 0)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        int sock_pid;
        char tail[8];
        /* a root's leaf socket left behind by a killed root */
        if (sscanf(de->d_name, "root-%d.so%2s", &sock_pid, tail) == 2 && strcmp(tail, "ck") == 0
            && !pid_alive(sock_pid)) {
            snprintf(path, sizeof(path), "%.1024s/%.300s", dir, de->d_name);
            unlink(path);
            continue;
        }
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "%.1024s/%.300s", dir, de->d_name);
        struct spyctl_reg_entry e;
        if (load_entry(path, &e) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct spyctl_reg_entry *p = realloc(*out, (size_t)cap * sizeof(*p));
            if (!p)
                break;
            *out = p;
        }
        (*out)[n++] = e;
    }
    closedir(d);
    return n;
}
