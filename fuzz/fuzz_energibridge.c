/* Fuzz the EnergiBridge CSV summariser. */
#include <stddef.h>
#include <stdint.h>

#include "joule/sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_log_summary s;
    joule_log_parse_energibridge((const char *)data, size, &s);
    return 0;
}
