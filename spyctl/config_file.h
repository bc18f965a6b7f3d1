/* config_file.h — spyctl's settings as a JSON file (--config, --save-config). */
#ifndef SPYCTL_CONFIG_FILE_H
#define SPYCTL_CONFIG_FILE_H

#include <stddef.h>

#include "args.h"

typedef int (*spyctl_config_set_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

/* Reads a JSON object and calls set(key, value) for each member (numbers
 * and booleans as text; null members are skipped).  0, or -1 with err. */
int spyctl_config_read(const char *path, spyctl_config_set_fn set, void *ctx, char *err, size_t errlen);
/* Writes the settings of o as one JSON object (temp + fsync + rename);
 * never the token.  0, or -1 with err. */
int spyctl_config_write(const char *path, const struct spyctl_live_opts *o, char *err, size_t errlen);

#endif
