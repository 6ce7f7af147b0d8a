# bench: the meter uses the sensors module once its sources are in the tree;
# until then src/bench/meter.c carries a minimal /proc reader with a CPU estimate.
file(GLOB JOULE_BENCH_SENSOR_SOURCES ${PROJECT_SOURCE_DIR}/src/sensors/*.c)
if(JOULE_BENCH_SENSOR_SOURCES)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/src/bench/meter.c PROPERTIES
                                COMPILE_DEFINITIONS JOULE_BENCH_HAVE_SENSORS=1)
endif()
