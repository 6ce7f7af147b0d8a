/* Fuzz the NETIO wattmeter log (the study's CSV) summariser. */
#include <stddef.h>
#include <stdint.h>

#include "joule/sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_log_summary s[4];
    size_t n = 0;
    joule_log_parse_netio((const char *)data, size, s, 4, &n);
    return 0;
}
