# One place that gives every pipekit target the same warnings and sanitizers.
function(pipekit_configure_target target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wno-sign-conversion -Wnon-virtual-dtor)
    if(PIPEKIT_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
  if(PIPEKIT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PIPEKIT_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${PIPEKIT_SANITIZE})
  endif()
endfunction()
