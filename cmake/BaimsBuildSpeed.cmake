# Build-time options that do not change what is built (included after apps/).
#
# BAIMS_UNITY_APPS: the binary's sources (apps/*.cpp, one cmd_<name>.cpp per subcommand) compile as
# one unity source. Each of them is mostly the same headers (CLI11, spdlog/fmt, the library's
# public headers) compiled again: GCC 12, CPU s for all 13 sources, separately -> as one
#   dev (-O2 -g1)          136 -> 30
#   ASan/UBSan (-O1 -g1)   260 -> 66
# (separately: main's last CI .ninja_log; unity: the same flags on the concatenated sources). A
# change to one cmd_*.cpp recompiles all of apps/ (~30 s at -O2 instead of ~12). A helper with the
# same name in two apps/*.cpp files (an anonymous-namespace function, a static) is a compile error
# in this mode: give it a distinct name or move it to a library. version.cpp (which includes the
# per-commit git revision header) stays a separate source, so a new commit recompiles only it.
option(BAIMS_UNITY_APPS "Compile the baims binary's sources (apps/) as one unity source" ON)
if(BAIMS_UNITY_APPS AND TARGET baims_app)
    set_target_properties(baims_app PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/apps/version.cpp TARGET_DIRECTORY baims_app
                                PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
endif()
