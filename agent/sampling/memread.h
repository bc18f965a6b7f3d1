/* memread.h — fault-tolerant copies out of this process's own memory. */
#ifndef SPY_MEMREAD_H
#define SPY_MEMREAD_H

#include <stddef.h>
#include <stdint.h>

struct spy_memread_req {
    void *dst;
    uint64_t src;
    size_t len;
    int ok;            /* set by spy_memread_many */
};

/* Pick the read method and test it; 0 on success, -1 if no method works. */
int spy_memread_init(void);
/* Name of the method in use: "process_vm_readv" or "pipe". */
const char *spy_memread_method(void);
/* Copy len bytes from address src into dst; 0 on success, -1 if any byte
 * could not be read (dst contents are then unspecified). */
int spy_memread(void *dst, uint64_t src, size_t len);
/* Many copies in as few system calls as possible; sets each req's ok.
 * Returns the number that succeeded. */
int spy_memread_many(struct spy_memread_req *reqs, int n);

#endif
