/* joule-mini: the synth and generate commands alone, for the fallback build of
 * bench/cuda/device_check.sh (see bench/cuda/CMakeLists.txt). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "synth")) return joule_cmd_synth(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "generate")) return joule_cmd_generate(argc - 1, argv + 1);
    fprintf(stderr, "usage: joule-mini synth|generate [options]\n");
    return 2;
}
