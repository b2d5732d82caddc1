# baims_set_warnings(target): strict warnings on our own targets only. Warnings are errors only in
# the developers' and CI's builds (scripts/build.sh sets BAIMS_WERROR=ON): a user's compiler or
# build type (-O3 brings new false positives in GCC 12) must not break the build.
option(BAIMS_WERROR "Treat compiler warnings as errors (dev and CI builds)" OFF)
function(baims_set_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor)
    if(BAIMS_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
