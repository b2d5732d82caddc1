# baims_set_warnings(target): strict warnings on our own targets only.
function(baims_set_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Werror)
endfunction()
