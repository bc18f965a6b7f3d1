/*
 * loader.c — libspyagent.so, the object users put in LD_PRELOAD.
 *
 * LD_PRELOAD puts the library into every process started with it: the
 * Python app, but also every shell, `env`, compiler or helper it runs.  So
 * this object is tiny and depends on libc alone; its constructor asks the
 * dynamic linker whether this process contains a CPython (Py_IsInitialized)
 * and only then loads the agent proper, spyagent.so from the same
 * directory, with RTLD_LOCAL.  spyagent.so is also the Python extension
 * module, so a later `import spyagent` gets the same, already loaded, agent.
 * Processes that are not Python never load libwebsockets, OpenSSL or the
 * agent, and nothing is printed for them.
 *
 * Threads: the constructor runs on the loading thread before main().
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void spy_loader(void)
{
    if (!dlsym(RTLD_DEFAULT, "Py_IsInitialized"))
        return;                         /* not Python: stay out of the way */
    Dl_info self;
    if (!dladdr((void *)spy_loader, &self) || !self.dli_fname)
        return;
    char path[PATH_MAX];
    const char *slash = strrchr(self.dli_fname, '/');
    size_t dirlen = slash ? (size_t)(slash - self.dli_fname) : 0;
    if (dirlen + sizeof("/spyagent.so") > sizeof(path))
        return;
    if (dirlen) {
        memcpy(path, self.dli_fname, dirlen);
        memcpy(path + dirlen, "/spyagent.so", sizeof("/spyagent.so"));
    } else {
        memcpy(path, "spyagent.so", sizeof("spyagent.so"));
    }
    if (!dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
        char msg[PATH_MAX + 256];
        const char *why = dlerror();
        int n = snprintf(msg, sizeof(msg), "spyagent: cannot load %s (%s); the agent is off\n", path,
                         why ? why : "unknown error");
        if (n > 0) {
            ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
            (void)w;
        }
    }
}
