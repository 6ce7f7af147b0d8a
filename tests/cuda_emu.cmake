# test_cuda_emu: tests/test_cuda.c against the CUDA provider's own source compiled as C++
# for the CPU (src/engine/native/cuda/cuda_emu.h runs each block's threads as coroutines),
# so that builds without a GPU still check the kernels' logic and the host code against
# the CPU provider. Built when there is a C++ compiler and no real CUDA provider (which
# would clash with it) and not under the sanitizers (ASan does not follow swapcontext).
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER AND NOT JOULE_CUDA AND NOT JOULE_SANITIZE
   AND CMAKE_SYSTEM_NAME STREQUAL "Linux")
    enable_language(CXX)
    set(emu_src ${PROJECT_SOURCE_DIR}/src/engine/native/cuda/cuda_provider.cu)
    set_source_files_properties(${emu_src} PROPERTIES LANGUAGE CXX)
    add_library(joule_cuda_emu STATIC ${emu_src})
    target_compile_options(joule_cuda_emu PRIVATE -x c++ -std=c++17 -O2 -fno-strict-aliasing
                           -Wall -Wno-unknown-pragmas)
    target_compile_definitions(joule_cuda_emu PRIVATE JOULE_CUDA_EMU=1 _GNU_SOURCE)
    target_include_directories(joule_cuda_emu PRIVATE ${PROJECT_SOURCE_DIR}/include
                                                      ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(joule_cuda_emu PUBLIC joule_core)

    add_executable(test_cuda_emu ${PROJECT_SOURCE_DIR}/tests/test_cuda.c)
    target_compile_options(test_cuda_emu PRIVATE ${JOULE_WARNINGS})
    target_compile_definitions(test_cuda_emu PRIVATE JOULE_HAVE_CUDA=1)
    target_link_libraries(test_cuda_emu PRIVATE joule_cuda_emu joule_test_support)
    set_target_properties(test_cuda_emu PROPERTIES LINKER_LANGUAGE CXX)
    add_test(NAME test_cuda_emu COMMAND test_cuda_emu)
    # the emulator is slow: greedy decoding is checked for 4 steps instead of 15
    set_tests_properties(test_cuda_emu PROPERTIES TIMEOUT 1800
                         ENVIRONMENT "JOULE_TEST_CUDA_STEPS=4")
endif()
