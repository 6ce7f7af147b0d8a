# bench: a stand-in server for `joule bench` tests (answers /health and the study
# route, can crash on request), passed to test_bench by path.
add_executable(fake_serve ${PROJECT_SOURCE_DIR}/tests/fake_serve/fake_serve.c)
target_compile_options(fake_serve PRIVATE ${JOULE_WARNINGS})
target_link_libraries(fake_serve PRIVATE PkgConfig::MHD)
add_dependencies(test_bench fake_serve)
target_compile_definitions(test_bench PRIVATE FAKE_SERVE_BIN="$<TARGET_FILE:fake_serve>")
set_tests_properties(test_bench PROPERTIES TIMEOUT 300)
# The sensors module's stand-in NVML library (tests/sensors.cmake builds it) lets the bench
# test play a GPU with a known power through the real dlopen path.
if(EXISTS ${PROJECT_SOURCE_DIR}/tests/fake_nvml.c)
    add_dependencies(test_bench fake_nvml)
    target_compile_definitions(test_bench PRIVATE FAKE_NVML_LIB="$<TARGET_FILE:fake_nvml>")
endif()
# bench/bench_decode's NVML energy per token against the same stand-in (test_bench_decode_energy);
# the bench targets are defined after the tests, which generator expressions allow.
if(EXISTS ${PROJECT_SOURCE_DIR}/bench/bench_decode.c AND EXISTS ${PROJECT_SOURCE_DIR}/tests/fake_nvml.c)
    add_dependencies(test_bench bench_decode)
    target_compile_definitions(test_bench PRIVATE BENCH_DECODE_BIN="$<TARGET_FILE:bench_decode>")
endif()
