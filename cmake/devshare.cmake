# Helpers shared by every module: devshare_add_library() and devshare_add_test().

# devshare_warnings(<target>): the project's warning flags (-Werror with DEVSHARE_WERROR).
function(devshare_warnings target)
  # GCC 12 warns -Wrestrict inside libstdc++ for `"literal" + std::string` (GCC bug 105329, a
  # false positive fixed in 13); it would turn -Werror builds red for nothing.
  target_compile_options(${target} PRIVATE -Wall -Wextra
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
    $<$<BOOL:${DEVSHARE_WERROR}>:-Werror>)
endfunction()

# devshare_add_library(NAME <module> SRCS <files...> DEPS <targets...>)
# Creates devshare_<module> with alias devshare::<module>; include/ is PUBLIC, src/ PRIVATE.
function(devshare_add_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(devshare_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(devshare::${ARG_NAME} ALIAS devshare_${ARG_NAME})
  target_include_directories(devshare_${ARG_NAME}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_features(devshare_${ARG_NAME} PUBLIC cxx_std_20)
  devshare_warnings(devshare_${ARG_NAME})
  target_link_libraries(devshare_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# devshare_add_test(NAME <binary> SRCS <files...> DEPS <targets...> LABELS <labels...>)
# One GoogleTest binary, registered with CTest as a single test carrying LABELS.
function(devshare_add_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT DEVSHARE_BUILD_TESTS)
    return()
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/include
                                                 ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_features(${ARG_NAME} PRIVATE cxx_std_20)
  target_compile_definitions(${ARG_NAME} PRIVATE
    DEVSHARE_DEFAULT_TRACES_DIR="${DEVSHARE_TRACES_DIR}")
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}"
    ENVIRONMENT "DEVSHARE_TRACES_DIR=${DEVSHARE_TRACES_DIR}")
endfunction()

# Where the public traces live (outside the project). Tests skip when it is absent.
set(DEVSHARE_TRACES_DIR "${PROJECT_SOURCE_DIR}/../shared/traces" CACHE PATH
    "Folder holding alibaba-gpu-2023/ trace files for tests and benchmarks")
