# SPDX-License-Identifier: MIT
# ONNX import (`ndlc import`, `ndlc MODEL.onnx`): frontend/onnx/, parsed with protobuf-c
# from the onnx.proto schema that Debian's python3-onnx ships; protoc-c generates the C
# reader at build time. When a piece is missing, configuring fails with a message naming
# the Debian packages (issue 11); -DNDLC_WITH_ONNX=OFF builds ndlc without the importer,
# whose `ndlc import` then names the packages instead.
option(NDLC_WITH_ONNX "ONNX import (needs protobuf-c and python3-onnx's onnx.proto)" ON)
find_program(NDLC_PROTOC_C protoc-c)
find_path(NDLC_PROTOBUF_C_INCLUDE protobuf-c/protobuf-c.h)
find_library(NDLC_PROTOBUF_C_LIBRARY protobuf-c)
find_file(NDLC_ONNX_PROTO onnx.proto
          PATHS /usr/lib/python3/dist-packages/onnx /usr/local/lib/python3/dist-packages/onnx
          DOC "onnx.proto schema (Debian: python3-onnx)")

set(NDLC_ONNX_MISSING "")
if(NOT NDLC_PROTOC_C)
  list(APPEND NDLC_ONNX_MISSING "protoc-c (protobuf-c-compiler)")
endif()
if(NOT NDLC_PROTOBUF_C_INCLUDE OR NOT NDLC_PROTOBUF_C_LIBRARY)
  list(APPEND NDLC_ONNX_MISSING "protobuf-c (libprotobuf-c-dev)")
endif()
if(NOT NDLC_ONNX_PROTO)
  list(APPEND NDLC_ONNX_MISSING "onnx.proto (python3-onnx)")
endif()

if(NDLC_WITH_ONNX AND NDLC_ONNX_MISSING)
  string(REPLACE ";" ", " missing "${NDLC_ONNX_MISSING}")
  message(FATAL_ERROR "ndlc: ONNX import needs ${missing}: install them "
                      "(scripts/setup.sh does), or configure with -DNDLC_WITH_ONNX=OFF")
elseif(NOT NDLC_WITH_ONNX)
  set(NDLC_ONNX OFF)
  message(STATUS "ndlc: ONNX import disabled (NDLC_WITH_ONNX=OFF)")
  target_sources(ndlc_frontend PRIVATE ${CMAKE_SOURCE_DIR}/frontend/onnx/disabled.c)
else()
  set(NDLC_ONNX ON)
  message(STATUS "ndlc: ONNX import with ${NDLC_ONNX_PROTO}")
  set(gen ${CMAKE_BINARY_DIR}/onnx)
  file(MAKE_DIRECTORY ${gen})
  get_filename_component(proto_dir ${NDLC_ONNX_PROTO} DIRECTORY)
  add_custom_command(OUTPUT ${gen}/onnx.pb-c.c ${gen}/onnx.pb-c.h
    COMMAND ${NDLC_PROTOC_C} --c_out=${gen} --proto_path=${proto_dir} ${NDLC_ONNX_PROTO}
    DEPENDS ${NDLC_ONNX_PROTO}
    COMMENT "Generating the ONNX reader with protoc-c" VERBATIM)
  file(GLOB onnx_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/frontend/onnx/*.c)
  list(REMOVE_ITEM onnx_srcs ${CMAKE_SOURCE_DIR}/frontend/onnx/disabled.c)
  target_sources(ndlc_frontend PRIVATE ${onnx_srcs} ${gen}/onnx.pb-c.c)
  set_source_files_properties(${gen}/onnx.pb-c.c PROPERTIES COMPILE_OPTIONS "-w")
  target_include_directories(ndlc_frontend PRIVATE ${gen} ${NDLC_PROTOBUF_C_INCLUDE})
  target_link_libraries(ndlc_frontend PUBLIC ${NDLC_PROTOBUF_C_LIBRARY})
endif()
