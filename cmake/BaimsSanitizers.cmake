# BAIMS_SANITIZE=ON builds everything with AddressSanitizer and UBSan.
option(BAIMS_SANITIZE "Build with -fsanitize=address,undefined" OFF)
if(BAIMS_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
