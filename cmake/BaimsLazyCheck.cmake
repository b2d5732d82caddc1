# Post-link check of BAIMS_LAZY_GDAL (cmake/BaimsLazyLoad.cmake): the delay-loaded libraries must not
# be in the executable's NEEDED list. One reference that bypassed the stubs (a symbol the stub
# generator did not see) would keep the library there and silently undo the delay-loading.
# cmake -DBIN=<exe> -DREADELF=<readelf> -DSONAMES=<a|b> -P BaimsLazyCheck.cmake
execute_process(COMMAND ${READELF} -d ${BIN} OUTPUT_VARIABLE dyn COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "|" ";" sonames "${SONAMES}")
foreach(soname ${sonames})
    string(FIND "${dyn}" "[${soname}]" at)
    if(NOT at EQUAL -1)
        file(REMOVE ${BIN})
        message(FATAL_ERROR "BAIMS_LAZY_GDAL: ${BIN} still has ${soname} in NEEDED: a reference to "
                            "it bypasses the delay-load stubs (see `nm -D --undefined-only`); "
                            "the binary was removed")
    endif()
endforeach()
