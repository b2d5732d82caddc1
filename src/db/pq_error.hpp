#pragma once
// Private to the db module: conversion of libpqxx exceptions (the only place it happens).

#include <string>

namespace baims::db::detail {

// The server's/libpq's message reduced to one readable line: no "ERROR:"/"FATAL:" prefix, no
// "connection to server at ... failed:" preamble, no LINE/query echo, first letter lower case.
std::string clean_message(const std::string& message);

// The server's HINT line of a libpq error message (without "HINT:" and the final period), or "".
std::string server_hint_of(const std::string& message);

// Converts the exception in flight (call inside catch). where: "host:port/db"; context is put in
// front of the message when not empty; connection_open false turns a generic libpqxx failure into
// "lost the connection".
[[noreturn]] void rethrow_current(const std::string& where, const std::string& context,
                                  bool connection_open);

} // namespace baims::db::detail
