#include <stdio.h>

#include "commands.h"

int joule_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("joule %s\n", JOULE_VERSION);
    printf("features: cpu");
#ifdef JOULE_HAVE_CUDA
    printf(" cuda");
#endif
#ifdef JOULE_HAVE_GGML
    printf(" ggml"); /* the llama.cpp engine */
#endif
    printf("\n");
    return 0;
}
