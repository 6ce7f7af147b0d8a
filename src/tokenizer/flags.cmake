# With JOULE_FUZZ, instrument the tokenizer for libFuzzer's coverage guidance
# (the fuzz targets themselves get -fsanitize=fuzzer from the top CMakeLists).
if(JOULE_FUZZ)
    file(GLOB JOULE_TOKENIZER_SOURCES ${PROJECT_SOURCE_DIR}/src/tokenizer/*.c)
    set_source_files_properties(${JOULE_TOKENIZER_SOURCES} PROPERTIES
                                COMPILE_OPTIONS -fsanitize=fuzzer-no-link)
endif()
