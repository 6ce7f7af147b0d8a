# Sensors tests: a stand-in NVML shared library loaded through JOULE_NVML_LIB, so the real
# dlopen path runs (tests/fake_nvml.c).
add_library(fake_nvml SHARED ${PROJECT_SOURCE_DIR}/tests/fake_nvml.c)
target_compile_options(fake_nvml PRIVATE ${JOULE_WARNINGS})
if(TARGET test_sensors)
    add_dependencies(test_sensors fake_nvml)
    target_compile_definitions(test_sensors PRIVATE FAKE_NVML_LIB="$<TARGET_FILE:fake_nvml>")
    set_tests_properties(test_sensors PROPERTIES LABELS sensors)
endif()
