/* Fuzz the NETIO PowerBOX JSON parser (netio.json answers). */
#include <stddef.h>
#include <stdint.h>

#include "sensors/sensors_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netio_output out[8];
    size_t n = 0;
    if (netio_parse_json((const char *)data, size, out, 8, &n) == JOULE_OK && n > 8) return 1;
    return 0;
}
