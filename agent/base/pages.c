/*
 * pages.c — large append-only reservations.
 *
 * Interned strings, frames and stacks are appended to regions reserved once
 * with MAP_NORESERVE: they never move, so readers holding an id can look at
 * its bytes without racing a realloc, and only the pages written count
 * toward resident memory.  Any thread.
 */
#include "pages.h"

#include <sys/mman.h>

void *spy_pages_reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void spy_pages_release(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}
