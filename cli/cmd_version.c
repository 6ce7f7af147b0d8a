#include <stdio.h>

#include "commands.h"

int joule_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("joule %s\n", JOULE_VERSION);
#ifdef JOULE_HAVE_CUDA
    printf("features: cpu cuda\n");
#else
    printf("features: cpu\n");
#endif
    return 0;
}
