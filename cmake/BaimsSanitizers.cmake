# BAIMS_SANITIZE=ON builds everything with AddressSanitizer and UBSan;
# BAIMS_SANITIZE_THREAD=ON with ThreadSanitizer (CI builds only the binary with it).
option(BAIMS_SANITIZE "Build with -fsanitize=address,undefined" OFF)
option(BAIMS_SANITIZE_THREAD "Build with -fsanitize=thread" OFF)
if(BAIMS_SANITIZE AND BAIMS_SANITIZE_THREAD)
    message(FATAL_ERROR "BAIMS_SANITIZE and BAIMS_SANITIZE_THREAD exclude each other")
endif()
if(BAIMS_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC 12 with -fsanitize at -O1 reports maybe-uninitialized false positives inside
        # libstdc++ (std::function in std::regex); the dev build keeps the warning.
        add_compile_options(-Wno-maybe-uninitialized)
    endif()
endif()
if(BAIMS_SANITIZE_THREAD)
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
endif()
